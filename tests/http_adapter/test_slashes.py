"""The trailing-slash redirect keeps every identifier as the client encoded it."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.support.api import BASE_URL, Api


@pytest.mark.parametrize("user", ["alice", "ユ", "😀", "a?b#c", "a b", "%2F", "a%3Fb"])
async def test_the_redirect_leads_to_the_same_users_tasks(api: Api, user: str) -> None:
    path = f"/api/{quote(user, safe='')}/tasks"
    created = await api.client.post(path, json={"title": "té"}, headers=api.auth(user))
    assert created.status_code == 201, created.text

    redirect = await api.client.get(path + "/?status=all&q=%C3%A9", headers=api.auth(user))

    assert redirect.status_code == 307
    location = redirect.headers["location"]
    assert location == f"{BASE_URL}{path}?status=all&q=%C3%A9"
    followed = await api.client.get(location, headers=api.auth(user))
    assert followed.status_code == 200, followed.text
    assert followed.json() == [created.json()]


async def test_the_redirect_works_the_other_way_too(api: Api) -> None:
    response = await api.client.get("/health/")

    assert response.status_code == 307
    assert response.headers["location"] == f"{BASE_URL}/health"


async def test_a_path_served_neither_way_is_a_404_problem(api: Api) -> None:
    response = await api.client.get("/api/alice/nothing/")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
