"""The list routes, and lists, recurrence and completion time through the task routes (on
SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.problems import assert_problem

USER = "alice"


async def make_list(api: Api, name: str, user: str = USER) -> dict[str, Any]:
    response = await api.client.post(
        f"/api/{user}/lists", json={"name": name}, headers=api.auth(user)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_task(api: Api, **fields: Any) -> dict[str, Any]:
    response = await api.client.post(f"/api/{USER}/tasks", json=fields, headers=api.auth(USER))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_list_is_created_read_renamed_and_deleted(api: Api) -> None:
    auth = api.auth(USER)
    response = await api.client.post(
        f"/api/{USER}/lists", json={"name": "  Groceries "}, headers=auth
    )
    made = response.json()
    url = f"/api/{USER}/lists/{made['id']}"
    await make_task(api, title="milk", list_id=made["id"])
    await make_task(api, title="eggs", list_id=made["id"], completed=True)

    got = await api.client.get(url, headers=auth)
    cached = await api.client.get(url, headers={**auth, "If-None-Match": got.headers["etag"]})
    stale = await api.client.patch(url, json={"name": "Food"}, headers={**auth, "If-Match": '"7"'})
    renamed = await api.client.patch(
        url, json={"name": "Food"}, headers={**auth, "If-Match": got.headers["etag"]}
    )
    listed = await api.client.get(f"/api/{USER}/lists", headers=auth)
    deleted = await api.client.delete(url, headers={**auth, "If-Match": renamed.headers["etag"]})
    again = await api.client.delete(url, headers=auth)

    assert response.status_code == 201
    assert response.headers["location"].endswith(url)
    assert set(made) == {"id", "name", "created_at", "updated_at", "open_count"}
    assert (made["name"], made["open_count"]) == ("Groceries", 0)
    assert got.status_code == 200
    assert got.json()["open_count"] == 1
    assert got.headers["etag"] == '"1"'
    assert cached.status_code == 304
    assert_problem(stale, 412)
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Food"
    assert renamed.headers["etag"] == '"2"'
    assert [item["name"] for item in listed.json()] == ["Food"]
    assert deleted.status_code == 204
    assert_problem(again, 404)


async def test_deleting_a_list_moves_its_tasks_to_the_inbox(api: Api) -> None:
    auth = api.auth(USER)
    work = await make_list(api, "Work")
    task = await make_task(api, title="report", list_id=work["id"])

    await api.client.delete(f"/api/{USER}/lists/{work['id']}", headers=auth)
    inbox = await api.client.get(f"/api/{USER}/tasks?list_id=none", headers=auth)

    assert [t["id"] for t in inbox.json()] == [task["id"]]
    assert inbox.json()[0]["list_id"] is None


async def test_list_names_are_unique_ignoring_case(api: Api) -> None:
    await make_list(api, "Work")
    home = await make_list(api, "Home")

    duplicate = await api.client.post(
        f"/api/{USER}/lists", json={"name": "WORK"}, headers=api.auth(USER)
    )
    renamed = await api.client.patch(
        f"/api/{USER}/lists/{home['id']}", json={"name": "work"}, headers=api.auth(USER)
    )

    assert_problem(duplicate, 409)
    assert_problem(renamed, 409)


@pytest.mark.parametrize("name", ["", "   ", "x" * 101, None, 5])
async def test_a_bad_list_name_is_refused(api: Api, name: object) -> None:
    response = await api.client.post(
        f"/api/{USER}/lists", json={"name": name}, headers=api.auth(USER)
    )
    assert_problem(response, 422)


async def test_another_users_list_is_not_found_and_cannot_hold_a_task(api: Api) -> None:
    bobs = await make_list(api, "Bob's", user="bob")
    auth = api.auth(USER)

    read = await api.client.get(f"/api/{USER}/lists/{bobs['id']}", headers=auth)
    created = await api.client.post(
        f"/api/{USER}/tasks", json={"title": "t", "list_id": bobs["id"]}, headers=auth
    )
    task = await make_task(api, title="mine")
    moved = await api.client.patch(
        f"/api/{USER}/tasks/{task['id']}", json={"list_id": bobs["id"]}, headers=auth
    )

    assert_problem(read, 404)
    body = assert_problem(created, 422)
    assert body["errors"][0]["loc"] == ["list_id"]
    assert_problem(moved, 422)


@pytest.mark.parametrize("list_id", ["x", "-1", "1.5", "0"])
async def test_a_bad_list_filter_is_refused(api: Api, list_id: str) -> None:
    response = await api.client.get(
        f"/api/{USER}/tasks", params={"list_id": list_id}, headers=api.auth(USER)
    )
    assert_problem(response, 422)


async def test_completing_a_recurring_task_links_to_its_next_occurrence(api: Api) -> None:
    auth = api.auth(USER)
    task = await make_task(
        api, title="Team meeting", due_date="2026-12-07", recurrence="FREQ=WEEKLY;BYDAY=MO"
    )
    url = f"/api/{USER}/tasks/{task['id']}"

    done = await api.client.patch(
        url, json={"completed": True}, headers={**auth, "If-Match": '"1"'}
    )
    link = done.headers["link"]
    next_url = link[link.index("<") + 1 : link.index(">")]
    following = await api.client.get(next_url, headers=auth)
    reopened = await api.client.patch(url, json={"completed": False}, headers=auth)
    redone = await api.client.patch(url, json={"completed": True}, headers=auth)
    everything = await api.client.get(f"/api/{USER}/tasks", headers=auth)

    assert done.status_code == 200
    assert link.endswith('; rel="next"')
    assert "next_task_id" not in done.json()
    assert done.json()["completed_at"] is not None
    assert following.json()["due_date"] == "2026-12-14"
    assert following.json()["recurrence"] == "FREQ=WEEKLY;BYDAY=MO"
    assert reopened.json()["completed_at"] is None
    assert "link" not in redone.headers
    assert everything.headers["x-total-count"] == "2"


async def test_recurrence_outside_the_subset_or_without_a_due_date_is_422(api: Api) -> None:
    auth = api.auth(USER)
    hourly = await api.client.post(
        f"/api/{USER}/tasks",
        json={"title": "t", "due_date": "2026-01-01", "recurrence": "FREQ=HOURLY"},
        headers=auth,
    )
    undated = await api.client.post(
        f"/api/{USER}/tasks", json={"title": "t", "recurrence": "FREQ=DAILY"}, headers=auth
    )
    task = await make_task(api, title="t", due_date="2026-01-01", recurrence="FREQ=DAILY")
    cleared = await api.client.patch(
        f"/api/{USER}/tasks/{task['id']}", json={"due_date": None}, headers=auth
    )

    assert "FREQ=HOURLY" in assert_problem(hourly, 422)["errors"][0]["msg"]
    assert_problem(undated, 422)
    assert assert_problem(cleared, 422)["errors"][0]["loc"] == ["due_date"]


async def test_tasks_sort_by_completion_time(api: Api) -> None:
    auth = api.auth(USER)
    ids = [(await make_task(api, title=f"t{n}"))["id"] for n in range(3)]
    for task_id in (ids[1], ids[0]):
        await api.client.patch(
            f"/api/{USER}/tasks/{task_id}", json={"completed": True}, headers=auth
        )

    page = await api.client.get(f"/api/{USER}/tasks?sort=completed_at", headers=auth)

    assert [t["id"] for t in page.json()] == [ids[1], ids[0], ids[2]]


async def test_a_new_task_shows_the_new_fields(api: Api) -> None:
    task = await make_task(api, title="t")

    assert task["list_id"] is None
    assert task["recurrence"] is None
    assert task["completed_at"] is None
