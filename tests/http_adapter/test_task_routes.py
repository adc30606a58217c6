"""The task routes as a web frontend uses them: every route, status code and header of the REST
contract, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import anyio
import httpx
import pytest

from tests.http_adapter.row_lock import task_count_locked, wait_for_lock_waiters
from tests.support.api import BASE_URL, Api, ApiFactory
from tests.support.problems import assert_problem
from tests.support.times import instant

ALICE = "alice"
BOB = "bob"
TASK_KEYS = {
    "id",
    "user_id",
    "title",
    "description",
    "completed",
    "priority",
    "due_date",
    "tags",
    "list_id",
    "recurrence",
    "completed_at",
    "created_at",
    "updated_at",
}
RFC3339_UTC = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z")
STRONG_ETAG = re.compile(r'"[^"]*"')
KIB = 1024


# --- helpers ------------------------------------------------------------------------------------


def tasks_url(user: str = ALICE) -> str:
    return f"/api/{user}/tasks"


def task_url(task_id: int | str, user: str = ALICE) -> str:
    return f"/api/{user}/tasks/{task_id}"


def assert_validation_error(response: httpx.Response, loc: list[str | int]) -> None:
    body = assert_problem(response, 422)
    errors = body["errors"]
    assert errors
    for error in errors:
        assert set(error) == {"loc", "msg"}
        assert isinstance(error["loc"], list)
        assert isinstance(error["msg"], str)
        assert error["msg"]
    assert loc in [error["loc"] for error in errors], errors


async def create(api: Api, user: str = ALICE, **fields: Any) -> dict[str, Any]:
    fields.setdefault("title", "Buy milk")
    response = await api.client.post(tasks_url(user), json=fields, headers=api.auth(user))
    assert response.status_code == 201, response.text
    task: dict[str, Any] = response.json()
    return task


async def fetch(api: Api, task_id: int, user: str = ALICE) -> httpx.Response:
    response = await api.client.get(task_url(task_id, user), headers=api.auth(user))
    assert response.status_code == 200, response.text
    return response


async def listed(api: Api, user: str = ALICE, **params: Any) -> list[dict[str, Any]]:
    response = await api.client.get(tasks_url(user), params=params, headers=api.auth(user))
    assert response.status_code == 200, response.text
    tasks: list[dict[str, Any]] = response.json()
    return tasks


async def titles(api: Api, **params: Any) -> list[str]:
    return [task["title"] for task in await listed(api, **params)]


async def total(api: Api, user: str = ALICE, **params: Any) -> int:
    response = await api.client.get(tasks_url(user), params=params, headers=api.auth(user))
    assert response.status_code == 200, response.text
    return int(response.headers["x-total-count"])


def json_headers(api: Api, user: str = ALICE, **extra: str) -> dict[str, str]:
    return {**api.auth(user), "Content-Type": "application/json", **extra}


# --- create -------------------------------------------------------------------------------------


async def test_create_answers_201_with_the_task_its_location_and_etag(api: Api) -> None:
    response = await api.client.post(
        tasks_url(),
        json={
            "title": "Write report",
            "description": "Quarterly numbers",
            "priority": "high",
            "due_date": "2030-05-17",
            "tags": ["work", "urgent"],
            "completed": True,
        },
        headers=api.auth(ALICE),
    )

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    task = response.json()
    assert set(task) == TASK_KEYS
    assert isinstance(task["id"], int)
    assert task["user_id"] == ALICE
    assert task["title"] == "Write report"
    assert task["description"] == "Quarterly numbers"
    assert task["priority"] == "high"
    assert task["due_date"] == "2030-05-17"
    assert task["tags"] == ["work", "urgent"]
    assert task["completed"] is True
    assert RFC3339_UTC.fullmatch(task["created_at"]), task["created_at"]
    assert RFC3339_UTC.fullmatch(task["updated_at"]), task["updated_at"]
    assert task["created_at"] == task["updated_at"]
    assert response.headers["location"] == f"{BASE_URL}/api/{ALICE}/tasks/{task['id']}"
    etag = response.headers["etag"]
    assert STRONG_ETAG.fullmatch(etag), etag

    again = await api.client.get(response.headers["location"], headers=api.auth(ALICE))
    assert again.status_code == 200
    assert again.json() == task
    assert again.headers["etag"] == etag


async def test_create_fills_in_the_defaults(api: Api) -> None:
    task = await create(api, title="Just a title")

    assert task["description"] is None
    assert task["completed"] is False
    assert task["priority"] == "medium"
    assert task["due_date"] is None
    assert task["tags"] == []


async def test_create_trims_title_and_tags_and_drops_duplicate_tags(api: Api) -> None:
    task = await create(api, title="  Padded  ", tags=[" b ", "a", "b", "a "])

    assert task["title"] == "Padded"
    assert task["tags"] == ["b", "a"]


async def test_create_accepts_values_at_the_limits(api: Api) -> None:
    task = await create(
        api,
        title="t" * 200,
        description="d" * 1000,
        tags=[f"{i}".rjust(32, "x") for i in range(10)],
    )

    assert len(task["title"]) == 200
    assert len(task["description"]) == 1000
    assert len(task["tags"]) == 10


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({}, ["body", "title"], id="missing-title"),
        pytest.param({"title": ""}, ["body", "title"], id="empty-title"),
        pytest.param({"title": "t" * 201}, ["body", "title"], id="title-201"),
        pytest.param({"title": " \t\n "}, ["body", "title"], id="whitespace-title"),
        pytest.param({"title": None}, ["body", "title"], id="null-title"),
        pytest.param({"title": 5}, ["body", "title"], id="number-title"),
        pytest.param({"title": "x", "description": "d" * 1001}, ["body", "description"]),
        pytest.param({"title": "x", "tags": [f"t{i}" for i in range(11)]}, ["body", "tags"]),
        pytest.param({"title": "x", "tags": ["t" * 33]}, ["body", "tags", 0], id="tag-33"),
        pytest.param({"title": "x", "tags": ["ok", "  "]}, ["body", "tags", 1], id="blank-tag"),
        pytest.param({"title": "x", "tags": "work"}, ["body", "tags"], id="tags-not-list"),
        pytest.param({"title": "x", "priority": "urgent"}, ["body", "priority"]),
        pytest.param({"title": "x", "completed": "yes"}, ["body", "completed"]),
        pytest.param({"title": "x", "due_date": "2030-02-30"}, ["body", "due_date"]),
        pytest.param({"title": "x", "due_date": "tomorrow"}, ["body", "due_date"]),
        pytest.param({"title": "x", "due_date": "2030-01-01T00:00:00Z"}, ["body", "due_date"]),
        pytest.param({"title": "x", "due_date": 20300101}, ["body", "due_date"]),
        pytest.param({"title": "x", "colour": "red"}, ["body", "colour"], id="unknown-field"),
        pytest.param({"title": "x", "id": 7}, ["body", "id"], id="id"),
        pytest.param({"title": "x", "user_id": BOB}, ["body", "user_id"], id="user_id"),
        pytest.param({"title": "x", "created_at": "2030-01-01T00:00:00Z"}, ["body", "created_at"]),
        pytest.param({"title": "x", "updated_at": "2030-01-01T00:00:00Z"}, ["body", "updated_at"]),
        pytest.param(["x"], ["body"], id="array-body"),
        pytest.param("x", ["body"], id="string-body"),
    ],
)
async def test_create_rejects_an_invalid_body(api: Api, body: Any, loc: list[str | int]) -> None:
    response = await api.client.post(tasks_url(), json=body, headers=api.auth(ALICE))

    assert_validation_error(response, loc)
    assert await total(api) == 0


# --- read ---------------------------------------------------------------------------------------


async def test_get_task_returns_it_with_its_etag(api: Api) -> None:
    task = await create(api)

    response = await fetch(api, task["id"])

    assert response.json() == task
    assert STRONG_ETAG.fullmatch(response.headers["etag"])


async def test_get_missing_task_is_not_found(api: Api) -> None:
    response = await api.client.get(task_url(12345), headers=api.auth(ALICE))

    body = assert_problem(response, 404)
    assert "12345" in body["detail"]


async def test_task_id_out_of_range_is_not_found(api: Api) -> None:
    await create(api)

    for task_id in (0, 2**31, 99999999999, "1" * 40, "abc", "-1", "1.5"):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            response = await api.client.request(
                method, task_url(task_id), json={"title": "x"}, headers=api.auth(ALICE)
            )
            assert_problem(response, 404)
    assert await titles(api) == ["Buy milk"]


async def test_task_path_that_is_not_an_id_is_not_found(api: Api) -> None:
    for path in ("/api/alice/tasks/1/x", "/api/alice/task", "/api/alice/tasks/1/2"):
        assert_problem(await api.client.get(path, headers=api.auth(ALICE)), 404)


# --- update -------------------------------------------------------------------------------------


async def test_patch_changes_only_the_given_fields(api: Api) -> None:
    task = await create(api, description="notes", priority="low", tags=["a"])

    response = await api.client.patch(
        task_url(task["id"]), json={"title": "Renamed", "completed": True}, headers=api.auth(ALICE)
    )

    assert response.status_code == 200, response.text
    patched = response.json()
    assert set(patched) == TASK_KEYS
    assert patched == {
        **task,
        "title": "Renamed",
        "completed": True,
        "updated_at": patched["updated_at"],
        "completed_at": patched["completed_at"],
    }
    assert RFC3339_UTC.fullmatch(patched["updated_at"])
    assert patched["completed_at"] == patched["updated_at"]
    assert instant(patched["updated_at"]) > instant(task["updated_at"])
    assert (await fetch(api, task["id"])).json() == patched


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_patch_and_put_set_every_writable_field(api: Api, method: str) -> None:
    task = await create(api)
    changes = {
        "title": "New",
        "description": "desc",
        "priority": "high",
        "due_date": "2031-12-31",
        "tags": ["x", "y"],
        "completed": True,
    }

    response = await api.client.request(
        method, task_url(task["id"]), json=changes, headers=api.auth(ALICE)
    )

    assert response.status_code == 200, response.text
    assert {key: response.json()[key] for key in changes} == changes
    assert (await fetch(api, task["id"])).json() == response.json()


async def test_patch_null_clears_description_and_due_date(api: Api) -> None:
    task = await create(api, description="notes", due_date="2030-01-01")

    response = await api.client.patch(
        task_url(task["id"]),
        json={"description": None, "due_date": None},
        headers=api.auth(ALICE),
    )

    assert response.status_code == 200, response.text
    assert response.json()["description"] is None
    assert response.json()["due_date"] is None
    assert (await fetch(api, task["id"])).json()["description"] is None


@pytest.mark.parametrize("field", ["title", "priority", "tags", "completed"])
async def test_patch_null_for_a_field_that_cannot_be_empty_is_rejected(
    api: Api, field: str
) -> None:
    task = await create(api, tags=["keep"])
    before = await fetch(api, task["id"])

    response = await api.client.patch(
        task_url(task["id"]), json={field: None}, headers=api.auth(ALICE)
    )

    assert_validation_error(response, ["body", field])
    after = await fetch(api, task["id"])
    assert after.json() == before.json()
    assert after.headers["etag"] == before.headers["etag"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        pytest.param({"title": ""}, ["body", "title"], id="empty-title"),
        pytest.param({"title": "   "}, ["body", "title"], id="whitespace-title"),
        pytest.param({"title": "t" * 201}, ["body", "title"], id="title-201"),
        pytest.param({"description": "d" * 1001}, ["body", "description"]),
        pytest.param({"tags": [str(i) for i in range(11)]}, ["body", "tags"]),
        pytest.param({"due_date": "31/12/2030"}, ["body", "due_date"]),
        pytest.param({"priority": "HIGH"}, ["body", "priority"]),
        pytest.param({"colour": "red"}, ["body", "colour"], id="unknown-field"),
        pytest.param({"id": 99}, ["body", "id"], id="id"),
        pytest.param({"user_id": BOB}, ["body", "user_id"], id="user_id"),
        pytest.param({"created_at": "2030-01-01T00:00:00Z"}, ["body", "created_at"]),
        pytest.param({"updated_at": "2030-01-01T00:00:00Z"}, ["body", "updated_at"]),
        pytest.param([], ["body"], id="array-body"),
    ],
)
@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_update_rejects_an_invalid_body_and_changes_nothing(
    api: Api, method: str, body: Any, loc: list[str | int]
) -> None:
    task = await create(api)
    if method == "PUT" and isinstance(body, dict):
        body = {"title": "Replaced", **body}

    response = await api.client.request(
        method, task_url(task["id"]), json=body, headers=api.auth(ALICE)
    )

    assert_validation_error(response, loc)
    assert (await fetch(api, task["id"])).json() == task


async def test_patch_with_nothing_new_keeps_updated_at_and_etag(api: Api) -> None:
    task = await create(api, description="notes", priority="high", tags=["a", "b"])
    etag = (await fetch(api, task["id"])).headers["etag"]

    for body in (
        {},
        {"title": task["title"]},
        {"title": f"  {task['title']} ", "tags": ["a", "b", "a"], "priority": "high"},
        {
            "description": "notes",
            "due_date": None,
            "completed": False,
        },
    ):
        response = await api.client.patch(task_url(task["id"]), json=body, headers=api.auth(ALICE))
        assert response.status_code == 200, response.text
        assert response.json() == task
        assert response.headers["etag"] == etag

    changed = await api.client.patch(
        task_url(task["id"]), json={"priority": "low"}, headers=api.auth(ALICE)
    )
    assert changed.headers["etag"] != etag
    assert instant(changed.json()["updated_at"]) > instant(task["updated_at"])


async def test_put_replaces_the_whole_task(api: Api) -> None:
    task = await create(
        api,
        title="Old",
        description="notes",
        priority="high",
        due_date="2030-01-01",
        tags=["a"],
        completed=True,
    )

    response = await api.client.put(
        task_url(task["id"]), json={"title": "New"}, headers=api.auth(ALICE)
    )

    assert response.status_code == 200, response.text
    replaced = response.json()
    assert set(replaced) == TASK_KEYS
    assert replaced == {
        "id": task["id"],
        "user_id": ALICE,
        "title": "New",
        "description": None,
        "completed": False,
        "priority": "medium",
        "due_date": None,
        "tags": [],
        "created_at": task["created_at"],
        "updated_at": replaced["updated_at"],
        "list_id": None,
        "recurrence": None,
        "completed_at": None,
    }
    assert instant(replaced["updated_at"]) > instant(task["updated_at"])
    assert STRONG_ETAG.fullmatch(response.headers["etag"])
    assert (await fetch(api, task["id"])).json() == replaced


async def test_put_without_title_is_rejected(api: Api) -> None:
    task = await create(api)

    response = await api.client.put(
        task_url(task["id"]), json={"description": "no title"}, headers=api.auth(ALICE)
    )

    assert_validation_error(response, ["body", "title"])
    assert (await fetch(api, task["id"])).json() == task


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
async def test_update_of_a_missing_task_is_not_found(api: Api, method: str) -> None:
    response = await api.client.request(
        method, task_url(424242), json={"title": "x"}, headers=api.auth(ALICE)
    )

    assert_problem(response, 404)
    assert await total(api) == 0


# --- delete -------------------------------------------------------------------------------------


async def test_delete_answers_204_and_then_404(api: Api) -> None:
    task = await create(api)
    other = await create(api, title="Stays")

    response = await api.client.delete(task_url(task["id"]), headers=api.auth(ALICE))

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await api.client.get(task_url(task["id"]), headers=api.auth(ALICE)), 404)
    assert_problem(await api.client.delete(task_url(task["id"]), headers=api.auth(ALICE)), 404)
    assert [t["id"] for t in await listed(api)] == [other["id"]]


# --- list ---------------------------------------------------------------------------------------


async def test_list_of_a_new_user_is_empty(api: Api) -> None:
    response = await api.client.get(tasks_url(), headers=api.auth(ALICE))

    assert response.status_code == 200
    assert response.json() == []
    assert response.headers["x-total-count"] == "0"


async def test_list_returns_tasks_in_the_spec_shape_oldest_first(api: Api) -> None:
    first = await create(api, title="first")
    second = await create(api, title="second")

    response = await api.client.get(tasks_url(), headers=api.auth(ALICE))

    assert response.json() == [first, second]
    assert response.headers["x-total-count"] == "2"


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (None, ["open", "done"]),
        ("all", ["open", "done"]),
        ("pending", ["open"]),
        ("completed", ["done"]),
    ],
)
async def test_list_filters_by_status(api: Api, status: str | None, expected: list[str]) -> None:
    await create(api, title="open")
    await create(api, title="done", completed=True)
    params = {} if status is None else {"status": status}

    assert await titles(api, **params) == expected
    assert await total(api, **params) == len(expected)


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        pytest.param("milk", ["Buy MILK", "groceries"], id="title-and-description"),
        pytest.param("MiLk", ["Buy MILK", "groceries"], id="case"),
        pytest.param("ÉTÉ", ["Vacances d'été"], id="accented"),
        pytest.param("STRASSE", ["Hauptstraße 5"], id="sharp-s"),
        pytest.param("ΣΊΣΥΦΟΣ", ["Σίσυφος"], id="final-sigma"),
        pytest.param("%", ["100% sure"], id="percent"),
        pytest.param("0%", ["100% sure"], id="percent-suffix"),
        pytest.param("_", ["snake_case"], id="underscore"),
        pytest.param("e_c", ["snake_case"], id="underscore-infix"),
        pytest.param("nothing like it", [], id="no-match"),
        pytest.param("  ", None, id="blank-is-no-search"),
    ],
)
async def test_list_searches_title_and_description(
    api: Api, q: str, expected: list[str] | None
) -> None:
    every = [
        "Buy MILK",
        "Vacances d'été",
        "Hauptstraße 5",
        "Σίσυφος",
        "100% sure",
        "1000 sure",
        "snake_case",
        "snakeXcase",
    ]
    for title in every:
        await create(api, title=title)
    await create(api, title="groceries", description="eggs, milk and bread")
    every.append("groceries")

    assert await titles(api, q=q) == (every if expected is None else expected)
    assert await total(api, q=q) == len(every if expected is None else expected)


async def test_list_filters_by_priority_and_tag(api: Api) -> None:
    await create(api, title="low work", priority="low", tags=["work"])
    await create(api, title="high work", priority="high", tags=["home", "work"])
    await create(api, title="high homework", priority="high", tags=["homework"])

    assert await titles(api, priority="high") == ["high work", "high homework"]
    assert await titles(api, priority="low") == ["low work"]
    assert await titles(api, priority="medium") == []
    assert await titles(api, tag="work") == ["low work", "high work"]
    assert await titles(api, tag="home") == ["high work"]
    assert await titles(api, tag="wor") == []
    assert await titles(api, tag="work", priority="high") == ["high work"]
    assert await total(api, tag="work") == 2


async def test_list_filters_by_due_date_inclusively_and_drops_undated_tasks(api: Api) -> None:
    await create(api, title="jan", due_date="2030-01-31")
    await create(api, title="feb", due_date="2030-02-15")
    await create(api, title="mar", due_date="2030-03-01")
    await create(api, title="undated")

    assert await titles(api, due_before="2030-02-15") == ["jan", "feb"]
    assert await titles(api, due_after="2030-02-15") == ["feb", "mar"]
    assert await titles(api, due_after="2030-02-01", due_before="2030-02-28") == ["feb"]
    assert await titles(api, due_after="2030-03-02") == []
    assert await total(api, due_before="2031-01-01") == 3


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("due_date", ["cherry", "apple", "banana", "Apple"]),
        ("-due_date", ["banana", "cherry", "apple", "Apple"]),
        ("priority", ["Apple", "apple", "cherry", "banana"]),
        ("-priority", ["banana", "cherry", "Apple", "apple"]),
        ("title", ["Apple", "apple", "banana", "cherry"]),
        ("-title", ["cherry", "banana", "Apple", "apple"]),
    ],
)
async def test_list_sorts_and_breaks_ties_by_id(api: Api, sort: str, expected: list[str]) -> None:
    await create(api, title="banana", priority="high", due_date="2030-03-01")
    await create(api, title="Apple", priority="low")
    await create(api, title="cherry", priority="medium", due_date="2030-01-15")
    await create(api, title="apple", priority="low", due_date="2030-01-15")

    assert await titles(api, sort=sort) == expected


@pytest.mark.parametrize("sort", [None, "created_at", "-created_at"])
async def test_list_sorts_by_creation(api: Api, sort: str | None) -> None:
    for title in ("one", "two", "three"):
        await create(api, title=title)
    params = {} if sort is None else {"sort": sort}

    tasks = await listed(api, **params)

    descending = sort == "-created_at"
    expected = sorted(
        tasks,
        key=lambda t: (instant(t["created_at"]), -t["id"] if descending else t["id"]),
        reverse=descending,
    )
    assert tasks == expected
    assert [t["title"] for t in tasks] == (
        ["three", "two", "one"] if descending else ["one", "two", "three"]
    )


async def test_list_pages_with_limit_and_offset(api: Api) -> None:
    for i in range(5):
        await create(api, title=f"task {i}")

    assert await titles(api, limit=2) == ["task 0", "task 1"]
    assert await titles(api, limit=2, offset=2) == ["task 2", "task 3"]
    assert await titles(api, limit=2, offset=4) == ["task 4"]
    assert await titles(api, offset=5) == []
    assert await titles(api, limit=1) == ["task 0"]
    assert len(await listed(api, limit=500)) == 5
    for params in ({"limit": 2}, {"offset": 4}, {"offset": 10}, {"limit": 1, "status": "all"}):
        assert await total(api, **params) == 5
    assert await total(api, limit=1, q="task 3") == 1


async def test_list_rejects_bad_query_values(api: Api) -> None:
    for name, value in [
        ("limit", "0"),
        ("limit", "501"),
        ("limit", "-1"),
        ("limit", "ten"),
        ("limit", "1.5"),
        ("offset", "-1"),
        ("offset", "x"),
        ("status", "done"),
        ("status", ""),
        ("sort", "id"),
        ("sort", "--title"),
        ("sort", "Title"),
        ("priority", "urgent"),
        ("priority", ""),
        ("due_before", "2030-02-30"),
        ("due_before", "tomorrow"),
        ("due_after", "2030-1-1"),
        ("q", "q" * 201),
        ("tag", "t" * 33),
        ("tag", " "),
    ]:
        response = await api.client.get(tasks_url(), params={name: value}, headers=api.auth(ALICE))
        assert_validation_error(response, ["query", name])


async def test_list_rejects_due_after_later_than_due_before(api: Api) -> None:
    params = {"due_after": "2030-03-02", "due_before": "2030-03-01"}

    response = await api.client.get(tasks_url(), params=params, headers=api.auth(ALICE))

    assert_validation_error(response, ["query", "due_after"])
    assert "due_before" in response.json()["errors"][0]["msg"]


# --- users --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/alice/tasks", None),
        ("POST", "/api/alice/tasks", {"title": "sneaky"}),
        ("GET", "/api/alice/tasks/{id}", None),
        ("PUT", "/api/alice/tasks/{id}", {"title": "sneaky"}),
        ("PATCH", "/api/alice/tasks/{id}", {"title": "sneaky"}),
        ("DELETE", "/api/alice/tasks/{id}", None),
    ],
)
async def test_another_users_token_is_forbidden(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    task = await create(api, ALICE, title="Alice's")
    etag = (await fetch(api, task["id"])).headers["etag"]

    response = await api.client.request(
        method, path.format(id=task["id"]), json=body, headers=api.auth(BOB)
    )

    assert_problem(response, 403)
    after = await fetch(api, task["id"])
    assert after.json() == task
    assert after.headers["etag"] == etag
    assert await total(api, ALICE) == 1
    assert await total(api, BOB) == 0


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("GET", None),
        ("PUT", {"title": "hijacked"}),
        ("PATCH", {"title": "hijacked"}),
        ("PATCH", {}),
        ("DELETE", None),
    ],
)
async def test_a_user_cannot_reach_another_users_task_through_their_own_path(
    api: Api, method: str, body: dict[str, Any] | None
) -> None:
    bobs = await create(api, BOB, title="Bob's")
    bobs_etag = (await fetch(api, bobs["id"], BOB)).headers["etag"]

    for if_match in (None, "*", bobs_etag, "W/x"):
        headers = api.auth(ALICE)
        if if_match is not None:
            headers["If-Match"] = if_match
        response = await api.client.request(
            method, task_url(bobs["id"], ALICE), json=body, headers=headers
        )
        problem = assert_problem(response, 404)
        assert "Bob" not in problem["detail"]

    after = await fetch(api, bobs["id"], BOB)
    assert after.json() == bobs
    assert after.headers["etag"] == bobs_etag
    assert await listed(api, ALICE) == []


async def test_lists_are_per_user(api: Api) -> None:
    await create(api, ALICE, title="Alice's")
    await create(api, BOB, title="Bob's")

    assert [t["title"] for t in await listed(api, ALICE)] == ["Alice's"]
    assert [t["title"] for t in await listed(api, BOB)] == ["Bob's"]
    assert await total(api, BOB, q="alice") == 0


# --- request bodies -----------------------------------------------------------------------------


@pytest.mark.sqlite_only
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_malformed_json_is_a_bad_request(api: Api, method: str) -> None:
    task = await create(api)
    url = tasks_url() if method == "POST" else task_url(task["id"])

    for content in (b'{"title": ', b"not json", b"", b"{'title': 'x'}", b"\xff", b"[1,]"):
        response = await api.client.request(method, url, content=content, headers=json_headers(api))
        assert_problem(response, 400)
    assert await listed(api) == [task]


@pytest.mark.sqlite_only
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_body_over_64_kib_is_too_large(api: Api, method: str) -> None:
    task = await create(api)
    url = tasks_url() if method == "POST" else task_url(task["id"])
    content = b'{"title": "big", "description": "' + b"x" * (64 * KIB) + b'"}'

    response = await api.client.request(method, url, content=content, headers=json_headers(api))

    assert_problem(response, 413)
    assert await listed(api) == [task]


@pytest.mark.sqlite_only
async def test_streamed_body_over_64_kib_is_too_large(api: Api) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"title": "big", "description": "'
        for _ in range(65):
            yield b"x" * KIB
        yield b'"}'

    response = await api.client.post(tasks_url(), content=chunks(), headers=json_headers(api))

    assert_problem(response, 413)
    assert await total(api) == 0


@pytest.mark.sqlite_only
async def test_body_of_exactly_64_kib_is_read(api: Api) -> None:
    start = b'{"title": "padded"}'
    content = start + b" " * (64 * KIB - len(start))
    assert len(content) == 64 * KIB

    response = await api.client.post(tasks_url(), content=content, headers=json_headers(api))

    assert response.status_code == 201, response.text
    assert response.json()["title"] == "padded"


@pytest.mark.sqlite_only
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
async def test_body_that_is_not_declared_json_is_unsupported(api: Api, method: str) -> None:
    task = await create(api)
    url = tasks_url() if method == "POST" else task_url(task["id"])

    for content_type in (
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data",
        "json",
    ):
        headers = api.auth(ALICE)
        if content_type is not None:
            headers["Content-Type"] = content_type
        response = await api.client.request(
            method, url, content=b'{"title": "Changed"}', headers=headers
        )
        assert_problem(response, 415)
    assert await listed(api) == [task]


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "APPLICATION/JSON", "application/merge-patch+json"],
)
async def test_json_content_types_are_accepted(api: Api, content_type: str) -> None:
    headers = {**api.auth(ALICE), "Content-Type": content_type}

    response = await api.client.post(tasks_url(), content=b'{"title": "ok"}', headers=headers)

    assert response.status_code == 201, response.text


# --- conditional requests -----------------------------------------------------------------------


async def test_etag_changes_whenever_the_task_does(api: Api) -> None:
    task = await create(api)
    seen = {(await fetch(api, task["id"])).headers["etag"]}

    for change in ({"title": "Two"}, {"completed": True}, {"tags": ["x"]}, {"description": None}):
        response = await api.client.patch(
            task_url(task["id"]), json=change, headers=api.auth(ALICE)
        )
        etag = response.headers["etag"]
        if change == {"description": None}:  # already null: nothing changed
            assert etag in seen
        else:
            assert etag not in seen
            seen.add(etag)
        assert (await fetch(api, task["id"])).headers["etag"] == etag


async def test_get_with_a_matching_if_none_match_is_not_modified(api: Api) -> None:
    task = await create(api)
    etag = (await fetch(api, task["id"])).headers["etag"]

    for if_none_match in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        response = await api.client.get(
            task_url(task["id"]), headers={**api.auth(ALICE), "If-None-Match": if_none_match}
        )
        assert response.status_code == 304, if_none_match
        assert response.content == b""
        assert response.headers["etag"] == etag


async def test_get_with_a_stale_if_none_match_returns_the_task(api: Api) -> None:
    task = await create(api)
    stale = (await fetch(api, task["id"])).headers["etag"]
    await api.client.patch(task_url(task["id"]), json={"title": "New"}, headers=api.auth(ALICE))

    response = await api.client.get(
        task_url(task["id"]), headers={**api.auth(ALICE), "If-None-Match": stale}
    )

    assert response.status_code == 200
    assert response.json()["title"] == "New"
    assert response.headers["etag"] != stale


async def test_if_none_match_on_a_missing_task_is_not_found(api: Api) -> None:
    response = await api.client.get(
        task_url(999), headers={**api.auth(ALICE), "If-None-Match": "*"}
    )

    assert_problem(response, 404)


UPDATES = [("PUT", {"title": "Mine"}), ("PATCH", {"title": "Mine"}), ("DELETE", None)]


async def _changed_task(api: Api) -> tuple[dict[str, Any], str, str]:
    """A task that has been changed once: it, its first ETag and its current one."""
    task = await create(api)
    stale = (await fetch(api, task["id"])).headers["etag"]
    response = await api.client.patch(
        task_url(task["id"]), json={"title": "Theirs"}, headers=api.auth(ALICE)
    )
    assert response.status_code == 200
    return response.json(), stale, response.headers["etag"]


@pytest.mark.parametrize(("method", "body"), UPDATES)
async def test_stale_if_match_is_a_failed_precondition_and_changes_nothing(
    api: Api, method: str, body: dict[str, Any] | None
) -> None:
    task, stale, current = await _changed_task(api)

    response = await api.client.request(
        method, task_url(task["id"]), json=body, headers={**api.auth(ALICE), "If-Match": stale}
    )

    assert_problem(response, 412)
    after = await fetch(api, task["id"])
    assert after.json() == task
    assert after.headers["etag"] == current


@pytest.mark.parametrize(("method", "body"), UPDATES)
@pytest.mark.parametrize("if_match", ["current", "*", " * "])
async def test_matching_if_match_lets_the_change_through(
    api: Api, method: str, body: dict[str, Any] | None, if_match: str
) -> None:
    task, _, current = await _changed_task(api)
    header = current if if_match == "current" else if_match

    response = await api.client.request(
        method, task_url(task["id"]), json=body, headers={**api.auth(ALICE), "If-Match": header}
    )

    if method == "DELETE":
        assert response.status_code == 204, response.text
        assert_problem(await api.client.get(task_url(task["id"]), headers=api.auth(ALICE)), 404)
    else:
        assert response.status_code == 200, response.text
        assert response.json()["title"] == "Mine"
        assert response.headers["etag"] != current


@pytest.mark.parametrize(("method", "body"), UPDATES)
async def test_an_if_match_list_matches_when_the_current_etag_is_among_its_tags(
    api: Api, method: str, body: dict[str, Any] | None
) -> None:
    task, stale, current = await _changed_task(api)
    headers = {**api.auth(ALICE), "If-Match": f'"999", {stale}'}

    refused = await api.client.request(method, task_url(task["id"]), json=body, headers=headers)
    assert_problem(refused, 412)
    assert (await fetch(api, task["id"])).headers["etag"] == current

    headers["If-Match"] = f'{stale},{current} , W/"999"'
    response = await api.client.request(method, task_url(task["id"]), json=body, headers=headers)
    assert response.status_code == (204 if method == "DELETE" else 200), response.text
    if method != "DELETE":
        assert response.json()["title"] == "Mine"


@pytest.mark.parametrize(("method", "body"), UPDATES)
async def test_if_match_that_names_no_strong_etag_fails_on_an_existing_task(
    api: Api, method: str, body: dict[str, Any] | None
) -> None:
    task, _, current = await _changed_task(api)

    for header in (
        f"W/{current}",  # If-Match uses strong comparison: a weak tag never matches
        current.strip('"'),
        "not-an-etag",
        f'"0", W/{current}',
        '""',
        '"0"',  # no task is ever at version 0, nor past the 32-bit column
        '"2147483648"',
        '"99999999999999999999999"',
    ):
        response = await api.client.request(
            method,
            task_url(task["id"]),
            json=body,
            headers={**api.auth(ALICE), "If-Match": header},
        )
        assert_problem(response, 412)

    after = await fetch(api, task["id"])
    assert after.json() == task
    assert after.headers["etag"] == current


async def test_if_match_on_a_missing_task_is_not_found(api: Api) -> None:
    for method, body in UPDATES:
        for if_match in ('"1"', "*", 'W/"1"', "garbage"):
            response = await api.client.request(
                method,
                task_url(777),
                json=body,
                headers={**api.auth(ALICE), "If-Match": if_match},
            )
            assert_problem(response, 404)
    assert await total(api) == 0


# --- idempotency --------------------------------------------------------------------------------


def keyed(api: Api, key: str, user: str = ALICE) -> dict[str, str]:
    return {**api.auth(user), "Idempotency-Key": key}


async def test_repeated_create_with_the_same_key_answers_the_first_task(api: Api) -> None:
    body = {"title": "Once", "tags": ["a"]}
    first = await api.client.post(tasks_url(), json=body, headers=keyed(api, "key-1"))
    assert first.status_code == 201, first.text

    second = await api.client.post(tasks_url(), json=body, headers=keyed(api, "key-1"))

    assert second.status_code == 201, second.text
    assert second.json() == first.json()
    assert second.headers["location"] == first.headers["location"]
    assert second.headers["etag"] == first.headers["etag"]
    assert await total(api) == 1


async def test_same_key_with_a_different_body_is_rejected(api: Api) -> None:
    first = await api.client.post(tasks_url(), json={"title": "A"}, headers=keyed(api, "k"))
    assert first.status_code == 201

    response = await api.client.post(tasks_url(), json={"title": "B"}, headers=keyed(api, "k"))

    assert_problem(response, 422)
    assert await titles(api) == ["A"]


async def test_different_keys_create_different_tasks(api: Api) -> None:
    for key in ("k1", "k2"):
        response = await api.client.post(tasks_url(), json={"title": "A"}, headers=keyed(api, key))
        assert response.status_code == 201
    plain = await api.client.post(tasks_url(), json={"title": "A"}, headers=api.auth(ALICE))
    assert plain.status_code == 201

    assert await total(api) == 3


async def test_idempotency_keys_are_per_user(api: Api) -> None:
    alices = await api.client.post(tasks_url(ALICE), json={"title": "A"}, headers=keyed(api, "k"))
    bobs = await api.client.post(tasks_url(BOB), json={"title": "B"}, headers=keyed(api, "k", BOB))

    assert alices.status_code == 201
    assert bobs.status_code == 201, bobs.text
    assert bobs.json()["user_id"] == BOB
    assert bobs.json()["id"] != alices.json()["id"]
    assert await titles(api) == ["A"]
    assert [t["title"] for t in await listed(api, BOB)] == ["B"]


@pytest.mark.parametrize("key", ["", "k" * 256])
async def test_idempotency_key_of_bad_length_is_rejected(api: Api, key: str) -> None:
    response = await api.client.post(tasks_url(), json={"title": "A"}, headers=keyed(api, key))

    assert_problem(response, 422)
    assert await total(api) == 0


async def test_concurrent_creates_with_one_key_make_one_task(api: Api) -> None:
    body = {"title": "Only once"}
    responses: list[httpx.Response] = []

    async def post() -> None:
        responses.append(await api.client.post(tasks_url(), json=body, headers=keyed(api, "race")))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(post)

    created = [r for r in responses if r.status_code == 201]
    assert created
    assert {r.json()["id"] for r in created} == {created[0].json()["id"]}
    for response in responses:
        if response.status_code != 201:
            assert_problem(response, 409)
    assert await total(api) == 1


@pytest.mark.postgres_only
async def test_a_repeat_while_the_first_create_runs_is_409_then_the_first_completes(
    api: Api, database_url: str
) -> None:
    existing = await api.client.post(
        tasks_url(), json={"title": "Existing"}, headers=api.auth(ALICE)
    )
    assert existing.status_code == 201, existing.text
    body = {"title": "Only once"}
    first: list[httpx.Response] = []

    async def post_first() -> None:
        first.append(await api.client.post(tasks_url(), json=body, headers=keyed(api, "held")))

    with anyio.fail_after(30):
        # Left in reverse order: the lock goes first, then the group waits for the first create.
        async with (
            anyio.create_task_group() as group,
            task_count_locked(database_url, ALICE) as lock,
        ):
            group.start_soon(post_first)
            await wait_for_lock_waiters(lock)  # the first create waits in the database
            second = await api.client.post(tasks_url(), json=body, headers=keyed(api, "held"))
            assert_problem(second, 409)
            assert not first
    assert first[0].status_code == 201, first[0].text
    replay = await api.client.post(tasks_url(), json=body, headers=keyed(api, "held"))
    assert replay.status_code == 201, replay.text
    assert replay.json() == first[0].json()
    assert await titles(api) == ["Existing", "Only once"]


# --- browsers -----------------------------------------------------------------------------------

FRONTEND = "http://localhost:3000"


@pytest.mark.sqlite_only
async def test_cors_preflight_needs_no_token_and_allows_the_api_headers(api: Api) -> None:
    wanted = ["Authorization", "Content-Type", "If-Match", "If-None-Match", "Idempotency-Key"]

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        response = await api.client.options(
            task_url(1),
            headers={
                "Origin": FRONTEND,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": ", ".join(wanted),
            },
        )
        assert response.status_code == 200, response.text
        assert response.headers["access-control-allow-origin"] == FRONTEND
        assert method in response.headers["access-control-allow-methods"]
        allowed = {
            h.strip().lower() for h in response.headers["access-control-allow-headers"].split(",")
        }
        assert {h.lower() for h in wanted} <= allowed


@pytest.mark.sqlite_only
async def test_cors_preflight_from_another_origin_is_not_allowed(api: Api) -> None:
    response = await api.client.options(
        tasks_url(),
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert "access-control-allow-origin" not in response.headers


@pytest.mark.sqlite_only
async def test_cors_responses_expose_the_api_headers(api: Api) -> None:
    headers = {**api.auth(ALICE), "Origin": FRONTEND}

    created = await api.client.post(tasks_url(), json={"title": "x"}, headers=headers)
    listing = await api.client.get(tasks_url(), headers=headers)

    for response in (created, listing):
        assert response.headers["access-control-allow-origin"] == FRONTEND
        exposed = {
            h.strip().lower() for h in response.headers["access-control-expose-headers"].split(",")
        }
        assert {"location", "etag", "x-total-count"} <= exposed
    assert "location" in created.headers
    assert "x-total-count" in listing.headers


@pytest.mark.sqlite_only
async def test_cors_responses_to_another_origin_carry_no_allow_origin(api: Api) -> None:
    response = await api.client.get(
        tasks_url(), headers={**api.auth(ALICE), "Origin": "https://evil.example"}
    )

    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


# --- settings -----------------------------------------------------------------------------------


async def test_create_over_the_task_quota_is_a_conflict(api_factory: ApiFactory) -> None:
    async with api_factory(TODO_TASK_QUOTA="2") as api:
        first = await create(api, title="one")
        await create(api, title="two")

        for headers in (api.auth(ALICE), keyed(api, "fresh-key")):
            response = await api.client.post(tasks_url(), json={"title": "3"}, headers=headers)
            assert_problem(response, 409)
        assert await titles(api) == ["one", "two"]

        await create(api, BOB, title="the quota is per user")
        await api.client.delete(task_url(first["id"]), headers=api.auth(ALICE))
        await create(api, title="three")
        assert await titles(api) == ["two", "three"]


async def test_location_uses_the_public_url(api_factory: ApiFactory) -> None:
    async with api_factory(PUBLIC_URL="https://todo.example.com/base/") as api:
        response = await api.client.post(tasks_url(), json={"title": "x"}, headers=api.auth(ALICE))

    assert response.status_code == 201
    task_id = response.json()["id"]
    assert (
        response.headers["location"] == f"https://todo.example.com/base/api/alice/tasks/{task_id}"
    )


@pytest.mark.sqlite_only
async def test_cors_allows_the_configured_origins(api_factory: ApiFactory) -> None:
    origins = "https://app.example.com, https://staging.example.com"
    async with api_factory(CORS_ORIGINS=origins) as api:
        for origin, allowed in [
            ("https://app.example.com", True),
            ("https://staging.example.com", True),
            (FRONTEND, False),
        ]:
            response = await api.client.options(
                tasks_url(),
                headers={"Origin": origin, "Access-Control-Request-Method": "POST"},
            )
            assert ("access-control-allow-origin" in response.headers) is allowed, origin


# --- hostile input ------------------------------------------------------------------------------

# User ids (a token's `sub` is any text) that a URL or a header cannot carry as they are.
AWKWARD_USERS = ["ユ", "😀", "a?b#c", "a b", "%2F", "a%20b", "x;y=z", "é\u0301", "\\"]


def user_url(user: str) -> str:
    return f"/api/{quote(user, safe='')}/tasks"


@pytest.mark.parametrize("user", AWKWARD_USERS)
async def test_create_for_a_user_id_that_needs_escaping_answers_a_location_that_leads_to_the_task(
    api: Api, user: str
) -> None:
    headers = {**api.auth(user), "Idempotency-Key": "once"}
    first = await api.client.post(user_url(user), json={"title": "T"}, headers=headers)
    retry = await api.client.post(user_url(user), json={"title": "T"}, headers=headers)

    assert first.status_code == 201, first.text
    assert first.json()["user_id"] == user
    location = first.headers["location"]
    assert location.isascii()
    assert location == f"{BASE_URL}{user_url(user)}/{first.json()['id']}"
    followed = await api.client.get(location, headers=api.auth(user))
    assert followed.status_code == 200, followed.text
    assert followed.json() == first.json()
    # The retry replays the first answer, Location and all, and adds nothing.
    assert retry.status_code == 201, retry.text
    assert retry.json() == first.json()
    assert retry.headers["location"] == location
    listed_now = await api.client.get(user_url(user), headers=api.auth(user))
    assert [task["id"] for task in listed_now.json()] == [first.json()["id"]]


@pytest.mark.parametrize(
    "path",
    ["9" * 5000, "0" * 4990 + "1", "2147483648", "99999999999999999999", "\u0663", "\uff11", "abc"],
)
async def test_a_task_id_of_any_length_or_script_is_not_found_before_and_after_authentication(
    api: Api, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        anonymous = await api.client.request(method, task_url(path), json={"title": "x"})
        signed = await api.client.request(
            method, task_url(path), json={"title": "x"}, headers=api.auth(ALICE)
        )
        assert_problem(anonymous, 401)
        assert_problem(signed, 404)
        assert len(signed.text) < 1000

    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]


async def test_a_task_id_with_leading_zeros_names_the_task(api: Api) -> None:
    task = await create(api)

    response = await api.client.get(task_url(f"000{task['id']}"), headers=api.auth(ALICE))

    assert response.status_code == 200
    assert response.json() == task


@pytest.mark.parametrize(
    "if_match", ['"' + "9" * 5000 + '"', '"2147483648"', '"\u0661"', '"1", "' + "7" * 4400 + '"']
)
async def test_an_if_match_naming_no_possible_version_fails_the_precondition(
    api: Api, if_match: str
) -> None:
    task = await create(api)
    # As bytes: some of the values are not ASCII, which httpx sends only as bytes.
    headers = {name.encode(): value.encode() for name, value in api.auth(ALICE).items()}
    headers[b"If-Match"] = if_match.encode()

    replaced = await api.client.put(task_url(task["id"]), json={"title": "new"}, headers=headers)
    deleted = await api.client.delete(task_url(task["id"]), headers=headers)

    if if_match.startswith('"1"'):  # one of the tags is the task's own
        assert replaced.status_code == 200, replaced.text
        assert_problem(deleted, 412)
    else:
        assert_problem(replaced, 412)
        assert_problem(deleted, 412)
        assert (await fetch(api, task["id"])).json() == task


@pytest.mark.parametrize(
    "query",
    ["1_0", "1.0", "+5", " 5", "5 ", "-0", "\uff11\uff10", "\u0663", "0x10", "1e1", "9" * 5000, ""],
)
@pytest.mark.parametrize("name", ["limit", "offset"])
async def test_an_integer_query_parameter_takes_ascii_digits_only(
    api: Api, name: str, query: str
) -> None:
    response = await api.client.get(tasks_url(), params={name: query}, headers=api.auth(ALICE))

    assert_validation_error(response, ["query", name])


async def test_integer_query_parameters_in_plain_digits_are_taken(api: Api) -> None:
    await create(api, title="A")
    await create(api, title="B")

    assert await titles(api, limit="01") == ["A"]
    assert await titles(api, offset="1", limit="500") == ["B"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"title": "a\x00b"}, ["body", "title"]),
        ({"title": "t", "description": "\x00"}, ["body", "description"]),
        ({"title": "t", "tags": ["ok", "b\x00d"]}, ["body", "tags", 1]),
    ],
)
async def test_nul_in_a_body_is_refused_with_the_field_named(
    api: Api, body: dict[str, Any], loc: list[str | int]
) -> None:
    task = await create(api)

    created = await api.client.post(tasks_url(), json=body, headers=api.auth(ALICE))
    patched = await api.client.patch(task_url(task["id"]), json=body, headers=api.auth(ALICE))

    assert_validation_error(created, loc)
    assert_validation_error(patched, loc)
    assert await listed(api) == [task]


@pytest.mark.parametrize("name", ["q", "tag"])
async def test_nul_in_a_query_parameter_is_refused(api: Api, name: str) -> None:
    response = await api.client.get(tasks_url(), params={name: "a\x00"}, headers=api.auth(ALICE))

    assert_validation_error(response, ["query", name])


async def test_nul_in_an_idempotency_key_is_refused_with_the_header_named(api: Api) -> None:
    # No HTTP/1.1 server lets a NUL through in a header; an ASGI client can send one.
    response = await api.client.post(
        tasks_url(), json={"title": "t"}, headers={**api.auth(ALICE), "Idempotency-Key": "k\x00"}
    )

    assert_validation_error(response, ["header", "Idempotency-Key"])
    assert await total(api) == 0


async def test_an_idempotency_key_reused_with_another_body_is_a_422_naming_the_header(
    api: Api,
) -> None:
    await api.client.post(tasks_url(), json={"title": "A"}, headers=keyed(api, "k"))

    response = await api.client.post(tasks_url(), json={"title": "B"}, headers=keyed(api, "k"))

    assert_validation_error(response, ["header", "Idempotency-Key"])
    assert await titles(api) == ["A"]
