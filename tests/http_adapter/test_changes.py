"""Delta sync (`GET /api/{user_id}/changes`) and the events stream of the in-process app, on
SQLite and PostgreSQL: every kind of write, from REST and from MCP tools, reaches both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from storage.database import Database
from tests.support.api import Api, ApiFactory, make_settings, mcp_client
from tests.support.sse import asgi_get

ALICE = "alice"
BOB = "bob"


async def sync(api: Api, since: int, user: str = ALICE, **query: Any) -> dict[str, Any]:
    response = await api.client.get(
        f"/api/{user}/changes", params={"since": since, **query}, headers=api.auth(user)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def head(api: Api) -> int:
    response = await api.client.get(f"/api/{ALICE}/tasks", headers=api.auth(ALICE))
    assert response.status_code == 200, response.text
    return int(response.headers["X-Changes-Next"])


async def test_every_rest_write_reaches_delta_sync(api: Api) -> None:
    auth = api.auth(ALICE)
    since = await head(api)
    created = await api.client.post(f"/api/{ALICE}/tasks", json={"title": "a"}, headers=auth)
    task = created.json()
    url = f"/api/{ALICE}/tasks/{task['id']}"
    patched = (await api.client.patch(url, json={"completed": True}, headers=auth)).json()
    same = await api.client.patch(url, json={"completed": True}, headers=auth)  # a no-op
    assert same.status_code == 200
    put = (await api.client.put(url, json={"title": "b"}, headers=auth)).json()
    assert (await api.client.delete(url, headers=auth)).status_code == 204

    page = await sync(api, since)
    assert [(c["op"], c["task_id"], c["version"]) for c in page["changes"]] == [
        ("created", task["id"], 1),
        ("updated", task["id"], 2),
        ("updated", task["id"], 3),
        ("deleted", task["id"], 3),
    ]
    assert page["changes"][0]["task"] == task  # as REST served it
    assert page["changes"][1]["task"] == patched
    assert page["changes"][2]["task"] == put
    assert page["changes"][3]["task"] is None
    assert page["next"] == page["changes"][-1]["seq"]
    assert page["more"] is False
    assert (await sync(api, page["next"]))["changes"] == []


async def test_every_mcp_tool_write_reaches_delta_sync(api: Api) -> None:
    since = await head(api)
    async with mcp_client(api, api.auth(ALICE)) as client:
        one = (await client.call_tool("add_task", {"title": "one"})).structured_content
        assert one is not None
        await client.call_tool("update_task", {"task_id": one["id"], "title": "uno"})
        await client.call_tool("complete_task", {"task_id": one["id"]})
        added = await client.call_tool("add_tasks", {"tasks": [{"title": "x"}, {"title": "y"}]})
        assert added.structured_content is not None
        ids = [r["task"]["id"] for r in added.structured_content["results"]]
        await client.call_tool("complete_tasks", {"task_ids": ids})
        await client.call_tool("delete_task", {"task_id": one["id"]})
    page = await sync(api, since)
    assert [(c["op"], c["task_id"]) for c in page["changes"]] == [
        ("created", one["id"]),
        ("updated", one["id"]),
        ("updated", one["id"]),
        ("created", ids[0]),
        ("created", ids[1]),
        ("updated", ids[0]),
        ("updated", ids[1]),
        ("deleted", one["id"]),
    ]
    assert page["changes"][2]["task"]["completed"] is True


async def test_pages_follow_next_and_other_users_changes_stay_theirs(api: Api) -> None:
    since = await head(api)
    for n in range(3):
        body = {"title": f"a{n}"}
        await api.client.post(f"/api/{ALICE}/tasks", json=body, headers=api.auth(ALICE))
    await api.client.post(f"/api/{BOB}/tasks", json={"title": "bob's"}, headers=api.auth(BOB))
    first = await sync(api, since, limit=2)
    assert len(first["changes"]) == 2
    assert first["more"] is True
    second = await sync(api, first["next"], limit=2)
    assert len(second["changes"]) == 1
    assert second["more"] is False
    assert [c["task"]["title"] for c in first["changes"] + second["changes"]] == ["a0", "a1", "a2"]
    assert (await sync(api, since, user=BOB))["changes"][0]["task"]["title"] == "bob's"
    other = await api.client.get(f"/api/{BOB}/changes?since=0", headers=api.auth(ALICE))
    assert other.status_code == 403


async def test_a_since_past_the_head_is_422_and_a_pruned_one_is_410(api: Api) -> None:
    auth = api.auth(ALICE)
    for n in range(2):
        await api.client.post(f"/api/{ALICE}/tasks", json={"title": f"t{n}"}, headers=auth)
    now = await head(api)
    beyond = await api.client.get(f"/api/{ALICE}/changes?since={now + 1}", headers=auth)
    assert beyond.status_code == 422
    assert beyond.headers["content-type"] == "application/problem+json"
    for bad in ("-1", "x", "1.5", "9" * 40):
        response = await api.client.get(f"/api/{ALICE}/changes?since={bad}", headers=auth)
        assert response.status_code == 422, bad
    assert (await api.client.get(f"/api/{ALICE}/changes", headers=auth)).status_code == 422
    limit = await api.client.get(f"/api/{ALICE}/changes?since=0&limit=0", headers=auth)
    assert limit.status_code == 422
    # The oldest change pruned (as the retention does): a cursor before it is gone.
    db = api.app.state.ctx.db
    async with db.writing() as conn:
        await conn.execute(sa.text("DELETE FROM change WHERE seq = (SELECT min(seq) FROM change)"))
    gone = await api.client.get(f"/api/{ALICE}/changes?since=0", headers=auth)
    assert gone.status_code == 410
    assert gone.headers["content-type"] == "application/problem+json"
    assert "list" in gone.json()["detail"]


async def test_cors_lets_a_browser_read_the_head_and_send_its_last_event_id(api: Api) -> None:
    preflight = await api.client.options(
        f"/api/{ALICE}/events",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization, last-event-id",
        },
    )
    assert preflight.status_code == 200
    assert "last-event-id" in preflight.headers["access-control-allow-headers"].lower()
    listed = await api.client.get(
        f"/api/{ALICE}/tasks", headers={**api.auth(ALICE), "Origin": "http://localhost:3000"}
    )
    assert "x-changes-next" in listed.headers["access-control-expose-headers"].lower()


# --- the events stream --------------------------------------------------------------------------


async def test_a_stream_replays_what_was_missed_then_goes_live(api: Api) -> None:
    auth = api.auth(ALICE)
    since = await head(api)
    await api.client.post(f"/api/{ALICE}/tasks", json={"title": "missed"}, headers=auth)
    headers = {**auth, "Last-Event-ID": str(since)}
    async with asgi_get(api.app, f"/api/{ALICE}/events", headers) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = response.events()
        [missed] = await events.changes(1)
        assert missed["task"]["title"] == "missed"
        await api.client.post(f"/api/{BOB}/tasks", json={"title": "bob's"}, headers=api.auth(BOB))
        await api.client.post(f"/api/{ALICE}/tasks", json={"title": "live"}, headers=auth)
        [live] = await events.changes(1)
        assert live["task"]["title"] == "live"
        assert live["seq"] > missed["seq"]


@pytest.mark.postgres_only
async def test_a_write_left_open_holds_a_stream_back_then_arrives_soon_after_its_commit(
    api: Api, database_url: str
) -> None:
    """A later write commits while an earlier one is open: the stream sends neither until
    the earlier one commits, then both in order within a second, though the connection that
    committed it sends no NOTIFY (the stream looks again by itself)."""
    auth = api.auth(ALICE)
    first = (await api.client.post(f"/api/{ALICE}/tasks", json={"title": "a"}, headers=auth)).json()
    other = Database(database_url)
    try:
        async with asgi_get(api.app, f"/api/{ALICE}/events", auth) as response:
            events = response.events()
            async with other.writing() as conn:
                await conn.execute(
                    sa.text(
                        "UPDATE task SET title = 'renamed', version = version + 1 WHERE id = :i"
                    ),
                    {"i": first["id"]},
                )
                await api.client.post(f"/api/{ALICE}/tasks", json={"title": "b"}, headers=auth)
                # Long enough for the stream's read to give up waiting for it (it must
                # still not send the later change, which would come first below).
                await anyio.sleep(1.0)
            renamed, later = await events.changes(2, within_s=1.0)
    finally:
        await other.dispose()
    assert (renamed["op"], renamed["task"]["title"]) == ("updated", "renamed")
    assert (later["op"], later["task"]["title"]) == ("created", "b")
    assert later["seq"] > renamed["seq"]


async def test_without_a_last_id_a_stream_starts_at_now(api: Api) -> None:
    auth = api.auth(ALICE)
    await api.client.post(f"/api/{ALICE}/tasks", json={"title": "before"}, headers=auth)
    async with asgi_get(api.app, f"/api/{ALICE}/events", auth) as response:
        events = response.events()
        await api.client.post(f"/api/{ALICE}/tasks", json={"title": "after"}, headers=auth)
        [change] = await events.changes(1)
        assert change["task"]["title"] == "after"


async def test_a_stream_from_a_pruned_or_future_id_is_refused(api: Api) -> None:
    auth = api.auth(ALICE)
    now = await head(api)
    path = f"/api/{ALICE}/events"
    async with asgi_get(api.app, path, {**auth, "Last-Event-ID": str(now + 5)}) as response:
        assert response.status == 422
    async with asgi_get(api.app, path, auth, query="since=abc") as response:
        assert response.status == 422


async def test_streams_are_limited_per_user(api_factory: ApiFactory) -> None:
    async with api_factory(EVENTS_MAX_STREAMS="2") as api:
        path = f"/api/{ALICE}/events"
        auth = api.auth(ALICE)
        async with asgi_get(api.app, path, auth) as one, asgi_get(api.app, path, auth) as two:
            assert (one.status, two.status) == (200, 200)
            async with asgi_get(api.app, path, auth) as three:
                assert three.status == 429
                assert int(three.headers["retry-after"]) > 0
            async with asgi_get(api.app, f"/api/{BOB}/events", api.auth(BOB)) as bobs:
                assert bobs.status == 200
        # Closed streams make room again.
        async with asgi_get(api.app, path, auth) as again:
            assert again.status == 200


async def test_a_quiet_stream_sends_keep_alive_comments(api_factory: ApiFactory) -> None:
    async with (
        api_factory(EVENTS_KEEPALIVE_S="0.05") as api,
        asgi_get(api.app, f"/api/{ALICE}/events", api.auth(ALICE)) as response,
    ):
        events = response.events()
        await events.next(include_comments=True)  # the stream's opening comment
        await events.next(include_comments=True)
        assert events.comments == 2


async def test_a_stream_ends_when_its_token_expires(api: Api) -> None:
    token = api.token(ALICE, ttl_s=1)
    auth = {"Authorization": f"Bearer {token}"}
    async with asgi_get(api.app, f"/api/{ALICE}/events", auth) as response:
        assert response.status == 200
        await response.events().end(within_s=10)


async def test_shutdown_ends_open_streams(api: Api) -> None:
    async with asgi_get(api.app, f"/api/{ALICE}/events", api.auth(ALICE)) as response:
        events = response.events()
        api.app.state.ctx.shutdown.begin(grace_s=60)
        await events.end()


@pytest.mark.parametrize("what", ["tasks", "changes"])
async def test_unauthenticated_sync_is_401(api: Api, what: str) -> None:
    path = f"/api/{ALICE}/{what}" + ("?since=0" if what == "changes" else "")
    assert (await api.client.get(path)).status_code == 401
    async with asgi_get(api.app, f"/api/{ALICE}/events", {}) as response:
        assert response.status == 401


def test_a_listen_url_must_be_postgresql(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="must be a postgresql:"):
        make_settings("sqlite+aiosqlite:///x.db", tmp_path, DATABASE_LISTEN_URL="mysql://db/x")
    settings = make_settings(
        "sqlite+aiosqlite:///x.db", tmp_path, DATABASE_LISTEN_URL="postgresql://db/x"
    )
    assert settings.database_listen_url == "postgresql://db/x"
