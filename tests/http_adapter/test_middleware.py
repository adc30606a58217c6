"""Request ids and the access log: every answer carries `X-Request-ID`, every request is logged
once by its route template, and log records made while serving it carry its id."""

from __future__ import annotations

import logging
import re

import pytest

from http_adapter.log_config import RequestIdFilter
from http_adapter.middleware import user_hash
from tests.support.api import Api, mcp_session

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def access(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO)
    caplog.handler.addFilter(RequestIdFilter())
    return caplog


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "http_adapter.access"]


@pytest.mark.parametrize(
    "given", ["abc-123", "0f8e2b1c-6c5e-4f3e-9d1c-2b7a1f0e9d3a", "lb.1:2/3+4=5@x_y"]
)
async def test_a_sane_request_id_is_returned_as_given(api: Api, given: str) -> None:
    response = await api.client.get("/livez", headers={"X-Request-ID": given})

    assert response.headers["x-request-id"] == given


@pytest.mark.parametrize(
    "given",
    ["", "a" * 129, "two words", 'quote"d', "semi;colon", "line\tbreak", "ünïcode"],
)
async def test_an_unsafe_request_id_is_replaced_by_a_generated_one(api: Api, given: str) -> None:
    response = await api.client.get("/livez", headers={b"X-Request-ID": given.encode()})

    assert GENERATED.fullmatch(response.headers["x-request-id"])


async def test_every_kind_of_answer_carries_a_request_id(api: Api) -> None:
    answers = {
        "ok": await api.client.get("/health"),
        "401": await api.client.get("/api/alice/tasks"),
        "403": await api.client.get("/api/bob/tasks", headers=api.auth("alice")),
        "404": await api.client.get("/no/such/route"),
        "422": await api.client.get("/api/alice/tasks?limit=0", headers=api.auth("alice")),
        "mcp 401": await api.client.post("/mcp", json={}),
        "preflight": await api.client.options(
            "/api/alice/tasks",
            headers={
                "Origin": "http://localhost:3000",
                "Access-Control-Request-Method": "POST",
            },
        ),
        "bad host": await api.client.get("/health", headers={"Host": "localhost:evil.example"}),
    }

    ids = {name: answer.headers.get("x-request-id") for name, answer in answers.items()}
    assert all(ids.values()), ids
    assert len(set(ids.values())) == len(ids)  # one each, none reused


async def test_each_request_is_logged_once_by_route_template(
    api: Api, access: pytest.LogCaptureFixture
) -> None:
    created = await api.client.post(
        "/api/alice/tasks", json={"title": "Private errand"}, headers=api.auth("alice")
    )
    task_id = created.json()["id"]
    access.clear()

    fetched = await api.client.get(
        f"/api/alice/tasks/{task_id}", headers={**api.auth("alice"), "X-Request-ID": "req-1"}
    )

    [line] = _access_lines(access)
    assert fetched.status_code == 200
    assert line.route == "/api/{user_id}/tasks/{task_id}"  # type: ignore[attr-defined]
    assert line.method == "GET"  # type: ignore[attr-defined]
    assert line.status == 200  # type: ignore[attr-defined]
    assert line.duration_ms >= 0  # type: ignore[attr-defined]
    assert line.request_id == "req-1"  # type: ignore[attr-defined]
    assert line.user == user_hash("alice")  # type: ignore[attr-defined]
    text = line.getMessage()
    assert "alice" not in text
    assert str(task_id) not in text.split()  # the template, not the raw path


async def test_access_log_holds_no_token_and_no_task_text(
    api: Api, access: pytest.LogCaptureFixture
) -> None:
    headers = api.auth("alice")
    token = headers["Authorization"].removeprefix("Bearer ")

    await api.client.post("/api/alice/tasks", json={"title": "Pick up the parcel"}, headers=headers)
    await api.client.get("/api/alice/tasks?q=parcel", headers=headers)
    await api.client.get("/api/alice/tasks", headers={"Authorization": "Bearer not-a-token"})

    # The test client logs its own requests (httpx); the rest is what the server logged.
    logged = "\n".join(r.getMessage() for r in access.records if r.name != "httpx")
    assert len(_access_lines(access)) == 3
    assert token not in logged
    assert "not-a-token" not in logged
    assert "parcel" not in logged.lower()


async def test_log_records_made_while_serving_carry_the_request_id(
    api: Api, access: pytest.LogCaptureFixture
) -> None:
    response = await api.client.get(
        "/api/alice/tasks/999999", headers={**api.auth("alice"), "X-Request-ID": "trace-42"}
    )

    assert response.status_code == 404
    [tool_line] = [r for r in access.records if r.name == "mcp_server.dispatch"]
    assert "get_task" in tool_line.getMessage()
    assert tool_line.request_id == "trace-42"  # type: ignore[attr-defined]


async def test_tool_errors_over_mcp_are_logged_with_the_requests_id(
    api: Api, access: pytest.LogCaptureFixture
) -> None:
    # Arguments the tool refuses are logged (an ordinary "not found" is not worth a line).
    async with mcp_session(api, "alice") as client:
        result = await client.call_tool("get_task", {"task_id": "seven"}, raise_on_error=False)

    assert result.is_error
    [call] = [r for r in _access_lines(access) if r.getMessage().startswith("POST /mcp 200")][-1:]
    # The server's lines about the call (the client's own are left out).
    errors = [
        r
        for r in access.records
        if r.name.startswith(("fastmcp.server", "mcp_server")) and "get_task" in r.getMessage()
    ]
    assert errors, access.text
    assert {r.request_id for r in errors} == {call.request_id}  # type: ignore[attr-defined]
