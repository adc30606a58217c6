"""The floor of the REST benchmark: the task routes of SPEC's REST section served by the least
code that keeps their contract, so that `bench/rest.py` can show what todo-api's own layers
(SQLModel/SQLAlchemy, the in-process MCP call, fastmcp's validation) cost on top of it.

It is Starlette on uvicorn (uvloop, httptools, one worker) with an asyncpg pool and raw SQL: no
ORM, no MCP. It keeps what a client sees and what the database does per request:

- the same token check: `Authorization: Bearer <JWT>`, HS256 verified with PyJWT (`exp` and `sub`
  required), 401 with `WWW-Authenticate: Bearer`, 431 over 8 KiB, and 403 unless `sub` is the
  `{user_id}` of the path. Every request is verified (todo-api caches verified tokens);
- the same validation, with pydantic models of the same limits (title 1-200 trimmed, description
  <= 1000, priority low/medium/high, due_date YYYY-MM-DD, at most 10 tags of 1-32 characters,
  duplicates dropped, unknown fields 422, `null` only for description/due_date in PATCH), 415 for
  a body that is not JSON, 413 over 64 KiB, 400 for malformed JSON; errors are
  `application/problem+json`;
- the same answers: the task JSON fields, `ETag` (the task's version), `Location` on create,
  `X-Total-Count` on lists (`status`, `q`, `priority`, `tag`, `due_before`, `due_after`, `sort`,
  `limit`, `offset`; default order created_at, then id), 304 on a matching `If-None-Match`,
  412 on a stale `If-Match`;
- the same table layout as todo-api's `task` and `task_count` tables (in a database of its own),
  and the same quota check on create (the user's count raised only while under the quota, in
  the insert's statement; a delete lowers it in its own).

Where plain SQL does it in fewer round trips it does: PATCH/PUT/DELETE are one statement (the
change is guarded by `IS DISTINCT FROM`, so an update to the same values changes nothing) plus
a look-up only when no row was changed; reads are one statement.

    python bench/floor.py --port 8001 \\
        --database-url postgresql://postgres@127.0.0.1:5432/todo_floor_bench --secret S
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Annotated, Any, Literal, TypeVar

import asyncpg
import jwt
import uvicorn
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    model_validator,
)
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

MAX_BODY_BYTES = 64 * 1024
MAX_AUTHORIZATION_BYTES = 8 * 1024
MAX_TASK_ID = 2**31 - 1
DEFAULT_QUOTA = 10_000
PROBLEM_JSON = "application/problem+json"
CHALLENGE = 'Bearer realm="todo-mcp"'

# --- validation: the same limits as todo-api's models ------------------------------------------

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date(value: Any) -> Any:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a real calendar date") from None
    raise ValueError("must be a date written as YYYY-MM-DD")


def _no_nul(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain the NUL character (U+0000)")
    return text


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


Title = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_no_nul),
]
Description = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_no_nul)]
Tag = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=32),
    AfterValidator(_no_nul),
]
Tags = Annotated[list[Tag], Field(max_length=10), AfterValidator(_unique)]
DueDate = Annotated[date, BeforeValidator(_iso_date)]
Priority = Literal["low", "medium", "high"]
SortKey = Literal[
    "created_at",
    "-created_at",
    "due_date",
    "-due_date",
    "priority",
    "-priority",
    "title",
    "-title",
]
SearchText = Annotated[
    Annotated[
        str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_no_nul)
    ]
    | None,
    BeforeValidator(_blank_to_none),
]


class TaskBody(BaseModel):
    """POST and PUT bodies."""

    model_config = ConfigDict(extra="forbid")

    title: Title
    description: Description | None = None
    priority: Priority = "medium"
    due_date: DueDate | None = None
    tags: Tags = Field(default_factory=list)
    completed: StrictBool = False


_NOT_NULLABLE = ("title", "priority", "tags", "completed")


class TaskPatch(BaseModel):
    """PATCH bodies: the fields given are the change; `null` clears description/due_date."""

    model_config = ConfigDict(extra="forbid")

    title: Title | None = None
    description: Description | None = None
    priority: Priority | None = None
    due_date: DueDate | None = None
    tags: Tags | None = None
    completed: StrictBool | None = None

    @model_validator(mode="after")
    def _null_only_where_allowed(self) -> TaskPatch:
        for name in _NOT_NULLABLE:
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} cannot be null")
        return self

    def changes(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.model_fields_set}


class ListParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["all", "pending", "completed"] = "all"
    q: SearchText = None
    priority: Priority | None = None
    tag: Tag | None = None
    due_before: DueDate | None = None
    due_after: DueDate | None = None
    sort: SortKey = "created_at"
    limit: int = Field(default=100, ge=1, le=500)
    offset: int = Field(default=0, ge=0, le=MAX_TASK_ID)


# --- SQL ---------------------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS task (
    id serial PRIMARY KEY,
    user_id varchar(255) NOT NULL,
    title varchar(200) NOT NULL,
    title_key text COLLATE "C" NOT NULL,
    description text,
    description_key text COLLATE "C",
    completed boolean NOT NULL,
    priority varchar(6) NOT NULL CONSTRAINT ck_task_priority
        CHECK (priority IN ('low', 'medium', 'high')),
    due_date date,
    tags jsonb NOT NULL,
    version integer NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_task_user_created ON task (user_id, created_at, id);
CREATE INDEX IF NOT EXISTS ix_task_user_due ON task (user_id, due_date);
CREATE TABLE IF NOT EXISTS task_count (
    user_id varchar(255) PRIMARY KEY,
    tasks integer NOT NULL
);
"""
COLUMNS = (
    "id, user_id, title, description, completed, priority, due_date, tags, version, "
    "created_at, updated_at"
)
_RANK = "(CASE priority WHEN 'low' THEN 0 WHEN 'medium' THEN 1 WHEN 'high' THEN 2 END)"
ORDER_BY: dict[str, str] = {
    "created_at": "created_at ASC",
    "-created_at": "created_at DESC",
    "due_date": "due_date IS NULL, due_date ASC",
    "-due_date": "due_date IS NULL, due_date DESC",
    "priority": f"{_RANK} ASC",
    "-priority": f"{_RANK} DESC",
    "title": "title_key ASC",
    "-title": "title_key DESC",
}
SELECT_ONE = f"SELECT {COLUMNS} FROM task WHERE id = $1 AND user_id = $2"
# The quota check and the insert in one statement: the user's count goes up only while it is
# under the quota ($10), and the task is written only if it did.
INSERT = f"""
WITH counted AS (
    INSERT INTO task_count (user_id, tasks) VALUES ($1, 1)
    ON CONFLICT (user_id) DO UPDATE SET tasks = task_count.tasks + 1
    WHERE task_count.tasks < $10
    RETURNING 1
)
INSERT INTO task (user_id, title, title_key, description, description_key, completed, priority,
                  due_date, tags, version, created_at, updated_at)
SELECT $1, $2, $3, $4, $5, $6::boolean, $7, $8::date, $9::jsonb, 1, now(), now() FROM counted
RETURNING {COLUMNS}
"""
DELETE = """
WITH gone AS ({delete} RETURNING id),
uncounted AS (
    UPDATE task_count SET tasks = tasks - (SELECT count(*) FROM gone) WHERE user_id = $2
)
SELECT id FROM gone
"""


def _column_values(fields: dict[str, Any]) -> dict[str, Any]:
    values = dict(fields)
    if "title" in values:
        values["title_key"] = values["title"].casefold()
    if "description" in values:
        described = values["description"]
        values["description_key"] = None if described is None else described.casefold()
    return values


# --- HTTP --------------------------------------------------------------------------------------


class Problem(Exception):
    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}

    def response(self) -> Response:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors is not None:
            body["errors"] = self.errors
        return Response(
            json.dumps(body), self.status, headers=self.headers, media_type=PROBLEM_JSON
        )


def _unauthorized(detail: str, *, invalid: bool = True) -> Problem:
    challenge = f'{CHALLENGE}, error="invalid_token"' if invalid else CHALLENGE
    return Problem(401, detail, headers={"WWW-Authenticate": challenge})


def _error_list(exc: ValidationError, prefix: str) -> list[dict[str, Any]]:
    return [
        {"loc": [prefix, *e["loc"]], "msg": e["msg"].removeprefix("Value error, ")}
        for e in exc.errors(include_url=False)
    ]


def _rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _task(row: Any) -> dict[str, Any]:
    due = row["due_date"]
    return {
        "id": row["id"],
        "user_id": row["user_id"],
        "title": row["title"],
        "description": row["description"],
        "completed": row["completed"],
        "priority": row["priority"],
        "due_date": None if due is None else due.isoformat(),
        "tags": row["tags"],
        "created_at": _rfc3339(row["created_at"]),
        "updated_at": _rfc3339(row["updated_at"]),
    }


def _etag(row: Any) -> str:
    return f'"{row["version"]}"'


def _task_response(
    row: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return JSONResponse(_task(row), status, headers={"ETag": _etag(row), **(headers or {})})


def _expected_version(request: Request) -> int | None:
    """The version a strong ETag in If-Match names; 0 (matches nothing) for any other tag."""
    if_match = request.headers.get("if-match")
    if if_match is None or if_match.strip() == "*":
        return None
    match = re.fullmatch(r'"(\d+)"', if_match.strip())
    return int(match.group(1)) if match else 0


def _none_match(request: Request, etag: str) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is None:
        return False
    candidates = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in candidates or etag in candidates


async def _json_body(request: Request) -> Any:
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise Problem(415, "The request body must be JSON (Content-Type: application/json).")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise Problem(413, "The request body is larger than 64 KiB.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise Problem(413, "The request body is larger than 64 KiB.")
    try:
        return json.loads(body)
    except ValueError:
        raise Problem(400, "The request body is not valid JSON.") from None


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], data: Any, where: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        title = (
            "Invalid query parameters." if where == "query" else "The request body is not valid."
        )
        raise Problem(422, title, errors=_error_list(exc, where)) from None


def _task_id(request: Request) -> int:
    task_id: int = request.path_params["task_id"]
    if not 1 <= task_id <= MAX_TASK_ID:
        raise Problem(404, f"Task {task_id} not found.")
    return task_id


def build_app(database_url: str, secret: str, *, quota: int = DEFAULT_QUOTA) -> Starlette:
    pools: dict[str, Any] = {}

    async def init_connection(conn: Any) -> None:
        await conn.set_type_codec(
            "jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # The same pool size as todo-api's engine: 10, overflowing to 20.
        pool = await asyncpg.create_pool(
            database_url, min_size=10, max_size=20, init=init_connection
        )
        try:
            async with pool.acquire() as conn:
                await conn.execute(SCHEMA)
            pools["db"] = pool
            yield
        finally:
            await pool.close()

    def db() -> Any:
        return pools["db"]

    def authorize(request: Request) -> str:
        header = request.headers.get("authorization")
        if header is None:
            raise _unauthorized("A bearer token is required.", invalid=False)
        if len(header) > MAX_AUTHORIZATION_BYTES:
            raise Problem(431, "The Authorization header is too large.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("The Authorization header must be 'Bearer <token>'.", invalid=False)
        try:
            claims = jwt.decode(
                token.strip(),
                secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise _unauthorized("The token has expired.") from None
        except jwt.PyJWTError:
            raise _unauthorized("The token is not valid.") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _unauthorized("The token has no subject.")
        if request.path_params.get("user_id") != subject:
            raise Problem(403, "The token does not belong to this user.")
        return subject

    async def health(_request: Request) -> Response:
        try:
            await db().fetchval("SELECT 1")
        except (OSError, asyncpg.PostgresError):
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
        return JSONResponse({"status": "ok", "database": "ok"})

    async def list_tasks(request: Request) -> Response:
        user = authorize(request)
        params = _validated(ListParams, dict(request.query_params), "query")
        args: list[Any] = [user]
        where = ["user_id = $1"]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if params.status != "all":
            where.append(f"completed = {arg(params.status == 'completed')}")
        if params.q is not None:
            needle = arg(params.q.casefold())
            where.append(
                f"(strpos(title_key, {needle}) > 0 OR strpos(description_key, {needle}) > 0)"
            )
        if params.priority is not None:
            where.append(f"priority = {arg(params.priority)}")
        if params.tag is not None:
            where.append(f"tags @> {arg([params.tag])}::jsonb")
        if params.due_before is not None:
            where.append(f"due_date <= {arg(params.due_before)}")
        if params.due_after is not None:
            where.append(f"due_date >= {arg(params.due_after)}")
        conditions = " AND ".join(where)
        page = (
            f"SELECT {COLUMNS}, count(*) OVER () AS total FROM task WHERE {conditions} "
            f"ORDER BY {ORDER_BY[params.sort]}, id ASC "
            f"LIMIT {arg(params.limit)} OFFSET {arg(params.offset)}"
        )
        async with db().acquire() as conn:
            rows = await conn.fetch(page, *args)
            if rows:
                total = rows[0]["total"]
            else:
                counted = f"SELECT count(*) FROM task WHERE {conditions}"
                total = await conn.fetchval(counted, *args[:-2])
        return JSONResponse([_task(row) for row in rows], headers={"X-Total-Count": str(total)})

    async def create_task(request: Request) -> Response:
        user = authorize(request)
        body = _validated(TaskBody, await _json_body(request), "body")
        values = _column_values(body.model_dump())
        row = await db().fetchrow(
            INSERT,
            user,
            values["title"],
            values["title_key"],
            values["description"],
            values["description_key"],
            values["completed"],
            values["priority"],
            values["due_date"],
            values["tags"],
            quota,
        )
        if row is None:
            raise Problem(409, f"The task limit of {quota} tasks has been reached.")
        location = f"{str(request.base_url).rstrip('/')}/api/{user}/tasks/{row['id']}"
        return _task_response(row, status=201, headers={"Location": location})

    async def get_task(request: Request) -> Response:
        user = authorize(request)
        task_id = _task_id(request)
        row = await db().fetchrow(SELECT_ONE, task_id, user)
        if row is None:
            raise Problem(404, f"Task {task_id} not found.")
        if _none_match(request, _etag(row)):
            return Response(status_code=304, headers={"ETag": _etag(row)})
        return _task_response(row)

    async def write(task_id: int, user: str, changes: dict[str, Any], expected: int | None) -> Any:
        """Apply `changes` in one statement; look the task up only if no row changed."""
        columns = _column_values(changes)
        args: list[Any] = [task_id, user]
        sets: list[str] = []
        guards: list[str] = []
        for name, value in columns.items():
            args.append(value)
            sets.append(f"{name} = ${len(args)}")
            if not name.endswith("_key"):
                guards.append(f"{name} IS DISTINCT FROM ${len(args)}")
        async with db().acquire() as conn:
            if sets:
                where = "id = $1 AND user_id = $2"
                if expected is not None:
                    args.append(expected)
                    where += f" AND version = ${len(args)}"
                statement = (
                    f"UPDATE task SET {', '.join(sets)}, version = version + 1, "
                    f"updated_at = greatest(now(), updated_at) "
                    f"WHERE {where} AND ({' OR '.join(guards)}) RETURNING {COLUMNS}"
                )
                row = await conn.fetchrow(statement, *args)
                if row is not None:
                    return row
            row = await conn.fetchrow(SELECT_ONE, task_id, user)
        if row is None:
            raise Problem(404, f"Task {task_id} not found.")
        if expected is not None and row["version"] != expected:
            raise Problem(412, "The If-Match header does not match the task.")
        return row

    async def replace_task(request: Request) -> Response:
        user = authorize(request)
        task_id = _task_id(request)
        body = _validated(TaskBody, await _json_body(request), "body")
        row = await write(task_id, user, body.model_dump(), _expected_version(request))
        return _task_response(row)

    async def patch_task(request: Request) -> Response:
        user = authorize(request)
        task_id = _task_id(request)
        body = _validated(TaskPatch, await _json_body(request), "body")
        row = await write(task_id, user, body.changes(), _expected_version(request))
        return _task_response(row)

    async def delete_task(request: Request) -> Response:
        user = authorize(request)
        task_id = _task_id(request)
        expected = _expected_version(request)
        statement = "DELETE FROM task WHERE id = $1 AND user_id = $2"
        args: list[Any] = [task_id, user]
        if expected is not None:
            statement += " AND version = $3"
            args.append(expected)
        async with db().acquire() as conn:
            deleted = await conn.fetchval(DELETE.format(delete=statement), *args)
            if deleted is None:
                version = await conn.fetchval(
                    "SELECT version FROM task WHERE id = $1 AND user_id = $2", task_id, user
                )
                if version is None:
                    raise Problem(404, f"Task {task_id} not found.")
                raise Problem(412, "The If-Match header does not match the task.")
        return Response(status_code=204)

    Handler = Callable[[Request], Awaitable[Response]]

    def route(path: str, handlers: dict[str, Handler]) -> Route:
        async def endpoint(request: Request) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            try:
                return await handlers[method](request)
            except Problem as problem:
                return problem.response()

        return Route(path, endpoint, methods=list(handlers))

    base = "/api/{user_id}/tasks"
    routes = [
        Route("/health", health, methods=["GET"]),
        route(base, {"GET": list_tasks, "POST": create_task}),
        route(
            base + "/{task_id:int}",
            {"GET": get_task, "PUT": replace_task, "PATCH": patch_task, "DELETE": delete_task},
        ),
    ]
    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=["http://localhost:3000"],
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "If-Match", "If-None-Match"],
            expose_headers=["Location", "ETag", "X-Total-Count"],
            max_age=600,
        )
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument(
        "--database-url", required=True, help="postgresql://user@host:port/database"
    )
    parser.add_argument("--secret", required=True, help="the HS256 secret tokens are signed with")
    parser.add_argument("--quota", type=int, default=DEFAULT_QUOTA, help="tasks per user")
    parser.add_argument(
        "--no-access-log",
        action="store_true",
        help="turn uvicorn's access log off (todo-api keeps it on, as uvicorn does by default)",
    )
    args = parser.parse_args(argv)
    app = build_app(args.database_url, args.secret, quota=args.quota)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        workers=1,
        proxy_headers=True,
        server_header=False,
        access_log=not args.no_access_log,
    )


if __name__ == "__main__":
    main()
