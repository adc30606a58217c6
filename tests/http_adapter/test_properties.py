"""Property-based: whatever a signed-in client sends to the task routes (bodies, query strings,
ids, headers), the answer is a 2xx or a 4xx problem, never a 5xx; and the user's tasks, read
back through the API and straight from storage, are exactly what the answers said they are.

On SQLite and PostgreSQL, on the budget of `tests.support.hostile` (a fresh user per example).
"""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import event, given
from hypothesis import strategies as st

from storage.models import TaskQuery
from storage.tasks import TaskRepository
from tests.support.api import Api
from tests.support.hostile import (
    PROPERTY_SETTINGS,
    integers,
    json_values,
    task_fields,
    texts,
    valid_task_fields,
)

QUERY_NAMES = ["status", "q", "priority", "tag", "due_before", "due_after", "sort", "limit"]
QUERY_NAMES += ["offset", "other"]
_users = itertools.count()

bodies = st.one_of(
    task_fields().map(lambda fields: json.dumps(fields).encode()),
    task_fields().map(lambda fields: json.dumps(fields).encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=40),
    st.sampled_from([b"[" * 5000 + b"]" * 5000, b'{"title": "a", "title": "b"}', b"{"]),
)
queries = st.dictionaries(
    st.sampled_from(QUERY_NAMES),
    st.one_of(texts, integers.map(str), st.sampled_from(["-title", "pending", "1_0", " 5"])),
    max_size=4,
)
task_refs = st.one_of(
    st.integers(min_value=0, max_value=3),  # an index into the tasks made so far
    st.sampled_from(["0", "-1", "x", "9" * 5000, "2147483648", "%00"]),
)
if_matches = st.one_of(st.none(), st.sampled_from(['"1"', "*", '"2"', 'W/"1"', '"9999999999999"']))
good_create = st.tuples(
    st.just("POST"), st.none(), valid_task_fields.map(lambda f: json.dumps(f).encode()), st.none()
)
hostile = st.lists(
    st.one_of(
        st.tuples(st.just("POST"), st.none(), bodies, st.one_of(st.none(), texts)),
        st.tuples(st.sampled_from(["PUT", "PATCH"]), task_refs, bodies, if_matches),
        st.tuples(st.sampled_from(["GET", "DELETE"]), task_refs, st.none(), if_matches),
        st.tuples(st.just("LIST"), st.none(), queries, st.none()),
    ),
    min_size=1,
    max_size=6,
)
# A task or two first, so that the hostile requests have tasks to meet.
requests = st.tuples(st.lists(good_create, min_size=1, max_size=2), hostile).map(
    lambda parts: parts[0] + parts[1]
)


def _query_string(query: dict[str, str]) -> str:
    # Encoded by hand: a value may hold an unpaired surrogate, which httpx refuses to send.
    return "&".join(
        f"{quote(name)}={quote(value.encode('utf-8', 'surrogatepass'), safe='')}"
        for name, value in query.items()
    )


def _check_answer(response: httpx.Response) -> None:
    event(
        f"{response.request.method} {response.status_code}"
    )  # seen with --hypothesis-show-statistics
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", response.text
        problem = response.json()
        assert problem["status"] == response.status_code
        assert problem["detail"]
        if response.status_code == 422:
            assert problem["errors"], problem


@given(user_name=texts, steps=requests)
@PROPERTY_SETTINGS
async def test_any_request_gets_a_2xx_or_a_4xx_and_storage_holds_what_the_answers_said(
    api: Api, user_name: str, steps: list[tuple[str, Any, Any, Any]]
) -> None:
    # A user of this example only: the token's `sub` is any text the token accepts, escaped in
    # the URL. Not a `/`: routes match the decoded path, where it splits the segment.
    name = user_name.encode("utf-8", "replace").decode().replace("\x00", "").replace("/", "")
    user = f"{name}~{next(_users)}"
    base = f"/api/{quote(user, safe='')}/tasks"
    # Headers as bytes: some values drawn are not ASCII, which httpx sends only as bytes.
    auth = {name.encode(): value.encode() for name, value in api.auth(user).items()}
    said: dict[int, dict[str, Any]] = {}  # what the answers say the user's tasks are
    made: list[int] = []

    for method, ref, payload, extra in steps:
        headers = dict(auth)
        if method == "LIST":
            response = await api.client.get(f"{base}?{_query_string(payload)}", headers=headers)
            _check_answer(response)
            if response.status_code == 200:
                assert all(task["id"] in said for task in response.json())
            continue
        if method == "POST":
            headers[b"Content-Type"] = b"application/json"
            if extra is not None:
                headers[b"Idempotency-Key"] = extra.encode("utf-8", "surrogatepass")
            response = await api.client.post(base, content=payload, headers=headers)
            _check_answer(response)
            if response.status_code == 201:
                task = response.json()
                assert response.headers["location"].isascii()
                assert response.headers["location"].endswith(f"{base}/{task['id']}")
                said[task["id"]] = task
                made.append(task["id"])
            continue
        task_id = str(made[ref % len(made)] if made and isinstance(ref, int) else ref)
        if extra is not None:
            headers[b"If-Match"] = extra.encode()
        if payload is not None:
            headers[b"Content-Type"] = b"application/json"
        response = await api.client.request(
            method, f"{base}/{quote(task_id, safe='%')}", content=payload, headers=headers
        )
        _check_answer(response)
        if response.status_code == 200 and method != "GET":
            said[response.json()["id"]] = response.json()
        elif response.status_code == 204:
            del said[int(task_id)]
        elif response.status_code == 200:
            assert response.json() == said[response.json()["id"]]

    through_api = await api.client.get(f"{base}?limit=500", headers=auth)
    assert through_api.status_code == 200
    assert {task["id"]: task for task in through_api.json()} == said
    stored = await TaskRepository(api.app.state.ctx.db).list(user, TaskQuery(limit=500))
    assert {
        task.id: task.model_dump(mode="json", exclude={"version"}) for task in stored.tasks
    } == {
        task_id: {**task, "created_at": task["created_at"], "updated_at": task["updated_at"]}
        for task_id, task in said.items()
    }
