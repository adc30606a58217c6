"""`todo-mcp` on stdio facing a misbehaving client: a real process, lines written by hand. Each
line the SDK would have dropped in silence gets a JSON-RPC error (or, for a malformed response,
one log line), and the server keeps serving."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
from anyio.abc import Process
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.support.environment import clean_environment
from tests.support.processes import STARTUP_S, TODO_MCP

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": "init",
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "stdio-test", "version": "0"},
    },
}
# Each bad line, and the error it must get (code, id), or None: logged only.
BAD_LINES: list[tuple[bytes, tuple[int, Any] | None]] = [
    (b"not json at all", (-32700, None)),
    (b'{"jsonrpc": "2.0", "id": 5, "method": "tools/li', (-32700, None)),
    (b"\xff\xfe garbage", (-32700, None)),
    (b"[" * 10_000 + b"]" * 10_000, (-32700, None)),
    (json.dumps([{"jsonrpc": "2.0", "id": 6, "method": "ping"}]).encode(), (-32600, None)),
    (json.dumps({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}).encode(), (-32600, None)),
    (json.dumps({"jsonrpc": "2.0", "id": None, "method": "ping"}).encode(), (-32600, None)),
    (json.dumps({"jsonrpc": "2.0", "id": 7, "method": 7}).encode(), (-32600, 7)),
    (json.dumps({"id": 8, "method": "ping"}).encode(), (-32600, 8)),
    (b'"ping"', (-32600, None)),
    (json.dumps({"jsonrpc": "2.0", "id": 9, "result": "not an object"}).encode(), None),
]


async def _message(stdout: BufferedByteReceiveStream) -> dict[str, Any]:
    line = await stdout.receive_until(b"\n", 1 << 20)
    message: dict[str, Any] = json.loads(line)
    return message


async def _request(
    process: Process, stdout: BufferedByteReceiveStream, request: dict[str, Any]
) -> dict[str, Any]:
    assert process.stdin is not None
    await process.stdin.send(json.dumps(request).encode() + b"\n")
    return await _message(stdout)


async def test_every_bad_line_is_answered_or_logged_and_the_server_keeps_serving(
    tmp_path: Path, database_url: str
) -> None:
    stderr_path = tmp_path / "stderr.log"
    with anyio.fail_after(STARTUP_S), stderr_path.open("wb") as stderr:
        async with await anyio.open_process(
            [str(TODO_MCP), "--user", "alice"],
            env=clean_environment(tmp_path / "data", DATABASE_URL=database_url),
            cwd=tmp_path,
            stderr=stderr,
        ) as process:
            assert process.stdin is not None
            assert process.stdout is not None
            stdout = BufferedByteReceiveStream(process.stdout)
            # Refused before any session exists, the server still starts one after it.
            await process.stdin.send(b"{oops\n")
            before_initialize = await _message(stdout)
            initialized = await _request(process, stdout, INITIALIZE)
            assert initialized["result"]["serverInfo"]["name"] == "todo-mcp"
            await process.stdin.send(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')

            answers: list[dict[str, Any] | None] = []
            for line, expected in BAD_LINES:
                await process.stdin.send(line + b"\n")
                # A ping after each line: its answer comes after the bad line's, if any.
                ping = {"jsonrpc": "2.0", "id": f"ping-{len(answers)}", "method": "ping"}
                await process.stdin.send(json.dumps(ping).encode() + b"\n")
                first = await _message(stdout)
                if expected is None:
                    assert first == {"jsonrpc": "2.0", "id": ping["id"], "result": {}}
                    answers.append(None)
                    continue
                answers.append(first)
                assert await _message(stdout) == {"jsonrpc": "2.0", "id": ping["id"], "result": {}}

            added = await _request(
                process,
                stdout,
                {
                    "jsonrpc": "2.0",
                    "id": "add",
                    "method": "tools/call",
                    "params": {"name": "add_task", "arguments": {"title": "still here"}},
                },
            )
            await process.stdin.aclose()
            assert await process.wait() == 0

    assert (before_initialize["error"]["code"], before_initialize["id"]) == (-32700, None)
    for (_, expected), answer in zip(BAD_LINES, answers, strict=True):
        if expected is None:
            continue
        assert answer is not None
        assert answer["jsonrpc"] == "2.0"
        assert (answer["error"]["code"], answer["id"]) == expected, answer
        assert answer["error"]["message"]
    assert added["result"]["structuredContent"]["title"] == "still here"
    log = stderr_path.read_text().splitlines()
    refused = [line for line in log if "refused a message" in line]
    assert len(refused) == len(BAD_LINES) + 1, log
    assert not [line for line in log if "Traceback" in line]
    # The log names the reason, never the text of the line.
    assert not [line for line in log if "not json at all" in line or "garbage" in line]
