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
- the same table layout as todo-api's `task`, `task_count`, `change` and `change_head` tables
  (in a database of its own), and the same quota check on create (the user's count raised only
  while under the quota, in the insert's statement; a delete lowers it in its own);
- the same change log: todo-api's trigger on `task` (migration 0008) appends every write's
  change inside the write's statement. The floor sends no `NOTIFY` after its writes (todo-api
  does, batched), which leaves that cost on todo-api's side of the comparison.

Where plain SQL does it in fewer round trips it does: PATCH/PUT/DELETE are one statement (the
change is guarded by `IS DISTINCT FROM`, so an update to the same values changes nothing), and a
look-up only when none did; reads are one statement.

    python bench/floor.py --port 8001 \\
        --database-url postgresql://postgres@127.0.0.1:5432/todo_floor_bench --secret S
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from bench.floor_http import (  # noqa: E402
    Problem,
    etag_of,
    expected_version,
    json_body,
    none_match,
    parse_task_id,
    task_json,
    task_response,
    unauthorized,
    validated,
)
from bench.floor_shapes import ListParams, TaskBody, TaskPatch  # noqa: E402
from bench.floor_sql import (  # noqa: E402
    COLUMNS,
    DELETE,
    INSERT,
    ORDER_BY,
    SCHEMA,
    SELECT_ONE,
    column_values,
)

MAX_AUTHORIZATION_BYTES = 8 * 1024
DEFAULT_QUOTA = 10_000


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
            raise unauthorized("A bearer token is required.", invalid=False)
        if len(header) > MAX_AUTHORIZATION_BYTES:
            raise Problem(431, "The Authorization header is too large.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise unauthorized("The Authorization header must be 'Bearer <token>'.", invalid=False)
        try:
            claims = jwt.decode(
                token.strip(),
                secret,
                algorithms=["HS256"],
                options={"require": ["exp", "sub"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError:
            raise unauthorized("The token has expired.") from None
        except jwt.PyJWTError:
            raise unauthorized("The token is not valid.") from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise unauthorized("The token has no subject.")
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
        params = validated(ListParams, dict(request.query_params), "query")
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
        return JSONResponse([task_json(row) for row in rows], headers={"X-Total-Count": str(total)})

    async def create_task(request: Request) -> Response:
        user = authorize(request)
        body = validated(TaskBody, await json_body(request), "body")
        values = column_values(body.model_dump())
        async with db().acquire() as conn:
            row = await conn.fetchrow(
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
        return task_response(row, status=201, headers={"Location": location})

    async def get_task(request: Request) -> Response:
        user = authorize(request)
        task_id = parse_task_id(request)
        row = await db().fetchrow(SELECT_ONE, task_id, user)
        if row is None:
            raise Problem(404, f"Task {task_id} not found.")
        if none_match(request, etag_of(row)):
            return Response(status_code=304, headers={"ETag": etag_of(row)})
        return task_response(row)

    async def write(task_id: int, user: str, changes: dict[str, Any], expected: int | None) -> Any:
        """Apply `changes` in one statement; look the task up only if no row changed."""
        columns = column_values(changes)
        args: list[Any] = [task_id, user]
        sets: list[str] = []
        guards: list[str] = []
        for name, value in columns.items():
            args.append(value)
            sets.append(f"{name} = ${len(args)}")
            if not name.endswith("_key"):
                guards.append(f"{name} IS DISTINCT FROM ${len(args)}")
            if name == "completed":
                # Set when completed (kept if it already was), cleared when reopened.
                sets.append(
                    f"completed_at = CASE WHEN ${len(args)} THEN coalesce(completed_at, now()) END"
                )
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
        task_id = parse_task_id(request)
        body = validated(TaskBody, await json_body(request), "body")
        row = await write(task_id, user, body.model_dump(), expected_version(request))
        return task_response(row)

    async def patch_task(request: Request) -> Response:
        user = authorize(request)
        task_id = parse_task_id(request)
        body = validated(TaskPatch, await json_body(request), "body")
        row = await write(task_id, user, body.changes(), expected_version(request))
        return task_response(row)

    async def delete_task(request: Request) -> Response:
        user = authorize(request)
        task_id = parse_task_id(request)
        expected = expected_version(request)
        statement = "DELETE FROM task WHERE id = $1 AND user_id = $2"
        args: list[Any] = [task_id, user]
        if expected is not None:
            statement += " AND version = $3"
            args.append(expected)
        async with db().acquire() as conn:
            deleted = await conn.fetchrow(DELETE.format(delete=statement), *args)
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
