"""`todo-mcp` as an MCP host runs it: a real process on stdio, driven by the official MCP client.

Start-up is the product here (identity from `--user`/`TODO_USER_ID`, the database from the
environment, stdout kept for JSON-RPC), so these tests spawn the console script itself.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult, TextContent

from tests.support.deadlines import deadline
from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S, TODO_MCP, serving
from tests.support.tools import TOOL_NAMES

QUICK_EXIT_S = deadline(90)


@asynccontextmanager
async def connected(tmp_path: Path, *args: str, **settings: str) -> AsyncIterator[ClientSession]:
    """An initialized MCP session with a `todo-mcp` process of its own."""
    params = StdioServerParameters(
        command=str(TODO_MCP),
        args=list(args),
        env=clean_environment(tmp_path / "data", **settings),
        # Away from any .env file in the project directory.
        cwd=tmp_path,
    )
    with (tmp_path / "stderr.log").open("a") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write, read_timeout_seconds=STARTUP_S) as session,
        ):
            with anyio.fail_after(STARTUP_S):
                await session.initialize()
            yield session


async def run_to_exit(
    tmp_path: Path, *args: str, **settings: str
) -> subprocess.CompletedProcess[bytes]:
    """Run `todo-mcp` with an empty stdin and wait (bounded) for it to exit."""
    with anyio.fail_after(QUICK_EXIT_S):
        return await anyio.run_process(
            [str(TODO_MCP), *args],
            input=b"",
            check=False,
            env=clean_environment(tmp_path / "data", **settings),
            cwd=tmp_path,
        )


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def ok(session: ClientSession, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await session.call_tool(tool, arguments)
    assert not result.is_error, _text(result)
    assert isinstance(result.structured_content, dict)
    return result.structured_content


async def fails(session: ClientSession, tool: str, **arguments: Any) -> str:
    result = await session.call_tool(tool, arguments)
    assert result.is_error, result.structured_content
    text = _text(result)
    assert "Traceback" not in text
    return text


async def total(session: ClientSession) -> int:
    count = (await ok(session, "list_tasks"))["total"]
    assert isinstance(count, int)
    return count


# --- over the official client ---------------------------------------------------------------


async def test_initialize_names_the_server_and_gives_instructions(
    tmp_path: Path, database_url: str
) -> None:
    async with connected(tmp_path, DATABASE_URL=database_url, TODO_USER_ID="alice") as session:
        result = session.initialize_result
        assert result is not None
        assert result.server_info.name == "todo-mcp"
        assert result.server_info.title
        assert result.server_info.version == version("todo-mcp")
        assert result.instructions
        assert "list_tasks" in result.instructions
        capabilities = result.capabilities
        assert capabilities.tools is not None
        assert capabilities.resources is not None
        assert capabilities.prompts is not None
        assert capabilities.completions is not None
        # No log messages are ever sent, so none are offered.
        assert capabilities.logging is None


async def test_lists_the_task_tools_with_schemas(tmp_path: Path, database_url: str) -> None:
    async with connected(tmp_path, DATABASE_URL=database_url, TODO_USER_ID="alice") as session:
        tools = (await session.list_tools()).tools

    assert {tool.name for tool in tools} == TOOL_NAMES
    for tool in tools:
        assert tool.description
        assert tool.input_schema["additionalProperties"] is False
        assert "user_id" not in tool.input_schema.get("properties", {})
        assert tool.output_schema is not None


async def test_a_task_lives_and_dies_over_stdio(tmp_path: Path, database_url: str) -> None:
    async with connected(tmp_path, DATABASE_URL=database_url, TODO_USER_ID="alice") as session:
        task = await ok(session, "add_task", title="Buy milk", tags=["shop"], priority="high")
        assert task["user_id"] == "alice"
        assert task["created_at"].endswith("Z")

        page = await ok(session, "list_tasks", tag="shop")
        assert page == {"tasks": [task], "total": 1}
        assert await ok(session, "get_task", task_id=task["id"]) == task

        updated = await ok(session, "update_task", task_id=task["id"], description="2 litres")
        assert updated["description"] == "2 litres"
        assert updated["title"] == "Buy milk"

        done = await ok(session, "complete_task", task_id=task["id"])
        assert done["completed"] is True
        assert (await ok(session, "list_tasks", status="completed"))["total"] == 1

        deleted = await ok(session, "delete_task", task_id=task["id"])
        assert deleted == done
        message = await fails(session, "get_task", task_id=task["id"])
        assert message.startswith(f"Task {task['id']} not found.")
        assert await total(session) == 0


async def test_a_missing_task_is_answered_without_an_error_on_stderr(
    tmp_path: Path, database_url: str
) -> None:
    async with connected(tmp_path, DATABASE_URL=database_url, TODO_USER_ID="alice") as session:
        message = await fails(session, "get_task", task_id=4242)
        assert message.startswith("Task 4242 not found.")
        # A call after it has been answered: the server is past logging the first one.
        assert await total(session) == 0

    log = (tmp_path / "stderr.log").read_text()
    assert "Error calling tool" not in log
    assert "Traceback" not in log
    assert "4242" not in log


async def test_a_user_id_argument_is_rejected_over_stdio(tmp_path: Path, database_url: str) -> None:
    async with connected(tmp_path, DATABASE_URL=database_url, TODO_USER_ID="alice") as session:
        message = await fails(session, "add_task", title="sneaky", user_id="bob")
        assert "user_id" in message
        assert "user_id" in await fails(session, "list_tasks", user_id="bob")
        assert await total(session) == 0

    async with connected(tmp_path, DATABASE_URL=database_url, TODO_USER_ID="bob") as session:
        assert await total(session) == 0


async def test_the_user_flag_wins_over_the_environment(tmp_path: Path, database_url: str) -> None:
    async with connected(
        tmp_path, "--user", "alice", DATABASE_URL=database_url, TODO_USER_ID="bob"
    ) as session:
        task = await ok(session, "add_task", title="t")

    assert task["user_id"] == "alice"


async def test_a_dot_env_in_the_working_directory_configures_user_and_database(
    tmp_path: Path, database_url: str
) -> None:
    (tmp_path / ".env").write_text(f"TODO_USER_ID=alice\nDATABASE_URL={database_url}\n")

    async with connected(tmp_path) as session:
        task = await ok(session, "add_task", title="from .env")
    async with connected(tmp_path, "--user", "bob") as session:
        assert await total(session) == 0

    assert task["user_id"] == "alice"
    # The task went to the .env's database, not to a default file in the data dir.
    assert not (tmp_path / "data").exists()


async def test_two_users_on_one_database_see_only_their_own_tasks(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        connected(tmp_path, "--user", "alice", DATABASE_URL=database_url) as alice,
        connected(tmp_path, "--user", "bob", DATABASE_URL=database_url) as bob,
    ):
        hers = await ok(alice, "add_task", title="alice's secret")

        assert await ok(bob, "list_tasks") == {"tasks": [], "total": 0}
        assert await ok(bob, "list_tasks", query="secret") == {"tasks": [], "total": 0}
        for tool in ("get_task", "complete_task", "delete_task"):
            message = await fails(bob, tool, task_id=hers["id"])
            assert message.startswith(f"Task {hers['id']} not found.")

        his = await ok(bob, "add_task", title="bob's")
        assert his["user_id"] == "bob"

        assert await ok(alice, "list_tasks") == {"tasks": [hers], "total": 1}
        assert (await fails(alice, "get_task", task_id=his["id"])).startswith(
            f"Task {his['id']} not found."
        )
        assert await ok(alice, "get_task", task_id=hers["id"]) == hers
        assert await ok(bob, "list_tasks") == {"tasks": [his], "total": 1}


async def test_without_database_url_the_tasks_live_in_the_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "somewhere" / "todo"

    async with connected(tmp_path, TODO_USER_ID="alice", TODO_DATA_DIR=str(data_dir)) as session:
        await ok(session, "add_task", title="kept")

    assert (data_dir / "todo.db").is_file()
    async with connected(tmp_path, TODO_USER_ID="alice", TODO_DATA_DIR=str(data_dir)) as session:
        assert [t["title"] for t in (await ok(session, "list_tasks"))["tasks"]] == ["kept"]


# --- by hand: what is on the pipes ---------------------------------------------------------


async def test_stdout_carries_only_json_rpc(tmp_path: Path, database_url: str) -> None:
    requests: list[dict[str, Any]] = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "pipe-test", "version": "0"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        # Failing calls make the server log; those lines must not reach stdout.
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "get_task", "arguments": {"task_id": 7}},
        },
        {
            "jsonrpc": "2.0",
            "id": 4,
            "method": "tools/call",
            "params": {"name": "add_task", "arguments": {"title": "", "user_id": "bob"}},
        },
    ]
    lines: list[bytes] = []
    with anyio.fail_after(STARTUP_S):
        async with await anyio.open_process(
            [str(TODO_MCP), "--user", "alice"],
            env=clean_environment(tmp_path / "data", DATABASE_URL=database_url),
            cwd=tmp_path,
            stderr=subprocess.DEVNULL,
        ) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            stdout = BufferedByteReceiveStream(process.stdout)
            await process.stdin.send(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
            answered: set[object] = set()
            while answered != {1, 2, 3, 4}:
                line = await stdout.receive_until(b"\n", 1 << 20)
                lines.append(line)
                answered.add(json.loads(line).get("id"))
            await process.stdin.aclose()
            # After stdin closes the server exits; anything it still prints is checked too.
            rest = bytes(stdout.buffer)
            while True:
                try:
                    rest += await stdout.receive()
                except anyio.EndOfStream:
                    break
            lines.extend(line for line in rest.split(b"\n") if line.strip())
            assert await process.wait() == 0

    messages = [json.loads(line) for line in lines]
    for message in messages:
        assert message["jsonrpc"] == "2.0"
        assert ("id" in message and ("result" in message or "error" in message)) or (
            "method" in message
        ), message
    by_id = {m["id"]: m for m in messages if "id" in m}
    assert by_id[1]["result"]["serverInfo"]["name"] == "todo-mcp"
    assert {t["name"] for t in by_id[2]["result"]["tools"]} == TOOL_NAMES
    assert by_id[3]["result"]["isError"] is True
    assert by_id[4]["result"]["isError"] is True


async def test_without_a_user_it_exits_at_once_naming_both_ways_to_give_one(
    tmp_path: Path,
) -> None:
    result = await run_to_exit(tmp_path)

    assert result.returncode != 0
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert "--user" in stderr
    assert "TODO_USER_ID" in stderr
    # It gave up before opening (or creating) any database.
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("user", ["", "   "])
async def test_a_blank_user_counts_as_no_user(tmp_path: Path, user: str) -> None:
    result = await run_to_exit(tmp_path, TODO_USER_ID=user)

    assert result.returncode != 0
    assert result.stdout == b""
    assert "TODO_USER_ID" in result.stderr.decode()


@pytest.mark.parametrize("url", ["mysql://x", "not a url at all"])
async def test_an_unusable_database_url_exits_with_one_line(tmp_path: Path, url: str) -> None:
    result = await run_to_exit(tmp_path, "--user", "alice", DATABASE_URL=url)

    assert result.returncode != 0
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("todo-mcp: ")
    assert "DATABASE_URL" in stderr


async def test_an_unreachable_database_at_start_exits_without_a_traceback(
    tmp_path: Path,
) -> None:
    result = await run_to_exit(
        tmp_path,
        "--user",
        "alice",
        DATABASE_URL="postgresql://postgres:hunter2@127.0.0.1:1/x",
        DATABASE_WAIT_S="1",
    )

    assert result.returncode != 0
    assert result.stdout == b""
    stderr = result.stderr.decode()
    assert "Traceback" not in stderr
    # It waited, saying so once per retry, then gave up in one line.
    assert "database not reachable" in stderr
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("todo-mcp: ")
    assert "not reachable after waiting 1 s" in last
    assert "hunter2" not in stderr


async def test_http_transport_serves_mcp_behind_bearer_tokens(tmp_path: Path) -> None:
    import httpx
    import jwt
    from fastmcp import Client
    from fastmcp.client.transports import StreamableHttpTransport

    secret = "a-secret-for-the-http-transport-test-0123456789"
    env = clean_environment(
        tmp_path / "data",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}",
        BETTER_AUTH_SECRET=secret,
    )
    command = [str(TODO_MCP), "--transport", "http", "--port", "0"]
    async with serving(command, env=env, cwd=tmp_path) as server:
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.get("/health")).status_code == 200
            unauthenticated = await http.post("/mcp", json={})
            assert unauthenticated.status_code == 401
            assert "resource_metadata=" in unauthenticated.headers["www-authenticate"]

        now = int(time.time())
        token = jwt.encode({"sub": "alice", "iat": now, "exp": now + 600}, secret, "HS256")
        transport = StreamableHttpTransport(
            f"{server.url}/mcp", headers={"Authorization": f"Bearer {token}"}
        )
        async with Client(transport) as client:
            added = await client.call_tool("add_task", {"title": "over http"})
            assert added.structured_content is not None
            assert added.structured_content["user_id"] == "alice"
            listed = await client.call_tool("list_tasks", {})
            assert listed.structured_content is not None
            assert listed.structured_content["total"] == 1


async def test_host_chooses_the_address_the_http_transport_listens_on(tmp_path: Path) -> None:
    import httpx

    env = clean_environment(
        tmp_path / "data",
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'todo.db'}",
        BETTER_AUTH_SECRET="a-secret-for-the-http-transport-test-0123456789",
    )
    # 127.0.0.2 is loopback too, but not the default 127.0.0.1: only --host can bind it.
    command = [str(TODO_MCP), "--transport", "http", "--host", "127.0.0.2", "--port", "0"]
    async with serving(command, env=env, cwd=tmp_path) as server, httpx.AsyncClient() as client:
        assert httpx.URL(server.url).host == "127.0.0.2", server.url
        assert (await client.get(f"{server.url}/health")).status_code == 200
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{httpx.URL(server.url).port}/health")
