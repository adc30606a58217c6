"""User ids `.` and `..`: REST cannot name them in a URL a client would keep, so they are refused
before anything is written; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.problems import assert_problem


async def stored_titles(api: Api, user: str) -> list[str]:
    listed = await api.app.state.ctx.dispatcher.call(user, "list_tasks", {})
    return [task["title"] for task in listed["tasks"]]


@pytest.mark.parametrize("user", [".", ".."])
# Encoded: a client removes the plain `.` and `..` segments before sending.
@pytest.mark.parametrize("segment", ["%2e", "%2E"])
async def test_a_dot_user_id_is_refused_before_anything_is_written(
    api: Api, user: str, segment: str
) -> None:
    path = f"/api/{segment * len(user)}/tasks"
    headers = {**api.auth(user), "Idempotency-Key": "k"}

    created = await api.client.post(path, json={"title": "T"}, headers=headers)
    listed = await api.client.get(path, headers=api.auth(user))
    chat = await api.client.get(f"/api/{segment * len(user)}/conversations", headers=api.auth(user))

    for answer in (created, listed, chat):
        assert_problem(answer, 404)
        assert "location" not in answer.headers
    assert "'.' or '..'" in created.json()["detail"]
    assert await stored_titles(api, user) == []


async def test_a_user_id_with_dots_among_other_characters_is_served(api: Api) -> None:
    created = await api.client.post(
        "/api/a..b/tasks", json={"title": "T"}, headers=api.auth("a..b")
    )

    assert created.status_code == 201, created.text
    assert await stored_titles(api, "a..b") == ["T"]
