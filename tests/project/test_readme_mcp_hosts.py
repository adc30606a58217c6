"""The README's MCP host configurations, each command line spawned as the host would (a real
process on stdio, with this repository as the clone) and driven to a tool call by the official
MCP client; the MCP Inspector line run by the Inspector's own CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.project.node_tools import node_tool
from tests.project.readme import CLONE_PLACEHOLDER, ROOT, code_blocks, section
from tests.support.deadlines import deadline

# A first `uv run` may install into the clone's venv; a hang still fails instead of blocking.
STARTUP_S = deadline(120)
INSPECTOR = "npx @modelcontextprotocol/inspector"
_NETWORK = re.compile(r"CERT|CA_BUNDLE|PROXY", re.IGNORECASE)
UV_BOOTSTRAP = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "todo-mcp/uv/bin"


def _command_lines() -> dict[str, list[str]]:
    """Every server command line of the section, keyed by where it appears."""
    text = section("Use it from Claude")
    lines: dict[str, list[str]] = {}
    for number, block in enumerate(code_blocks(text, "json")):
        server = json.loads(block)["mcpServers"]["todo"]
        lines[f"claude-desktop-{number}"] = [server["command"], *server["args"]]
    shell = [line for block in code_blocks(text, "sh") for line in block.splitlines()]
    for number, line in enumerate(shell):
        if line.startswith("claude mcp add todo -- "):
            lines[f"claude-code-{number}"] = shlex.split(line.split(" -- ", 1)[1])
    return lines


def _inspector_cli_line() -> list[str]:
    text = section("Use it from Claude")
    shell = [line for block in code_blocks(text, "sh") for line in block.splitlines()]
    found = [line for line in shell if line.startswith(f"{INSPECTOR} --cli ")]
    assert len(found) == 1, shell
    return shlex.split(found[0].removeprefix(INSPECTOR))


def _host_environment(tmp_path: Path) -> dict[str, str]:
    """What a desktop host gives its servers: a plain PATH (uv's directory on it) and HOME, plus
    a data directory of the test's own so that no real tasks are touched."""
    uv = shutil.which("uv") or shutil.which("uv", path=str(UV_BOOTSTRAP))
    if uv is None:
        message = "uv is not installed (scripts/_venv.sh installs it when it is missing)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    env = {
        "PATH": os.pathsep.join([str(Path(uv).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ["HOME"],
        "TODO_DATA_DIR": str(tmp_path / "data"),
    }
    # And the login session's network settings (certificates, proxies), which hosts inherit.
    for name, value in os.environ.items():
        if name in {"UV_CACHE_DIR", "XDG_CACHE_HOME"} or _NETWORK.search(name):
            env[name] = value
    return env


def _in_clone(argv: list[str]) -> list[str]:
    return [word.replace(CLONE_PLACEHOLDER, str(ROOT)) for word in argv]


def test_readme_gives_the_uv_and_the_venv_forms_for_both_hosts() -> None:
    lines = _command_lines()

    desktop = [argv for name, argv in lines.items() if name.startswith("claude-desktop")]
    code = [argv for name, argv in lines.items() if name.startswith("claude-code")]
    assert sorted(desktop) == sorted(code)
    assert {argv[0] for argv in desktop} == {"uv", f"{CLONE_PLACEHOLDER}/.venv/bin/todo-mcp"}


# Desktop and Code give the same command lines: each distinct one is spawned once.
@pytest.mark.parametrize(
    "argv",
    sorted({tuple(argv) for argv in _command_lines().values()}),
    ids=lambda argv: "uv-run" if argv[0] == "uv" else "venv-path",
)
async def test_readme_host_command_serves_mcp_on_stdio(tmp_path: Path, argv: tuple[str]) -> None:
    command, *args = _in_clone(list(argv))
    params = StdioServerParameters(
        command=command, args=args, env=_host_environment(tmp_path), cwd=tmp_path
    )
    with (tmp_path / "stderr.log").open("w") as errlog:
        async with (
            stdio_client(params, errlog=errlog) as (read, write),
            ClientSession(read, write) as session,
        ):
            with anyio.fail_after(STARTUP_S):
                await session.initialize()
                added = await session.call_tool("add_task", {"title": "Call the plumber"})
                listed = await session.call_tool("list_tasks", {})

    assert not added.is_error, added
    assert listed.structured_content is not None
    tasks = listed.structured_content["tasks"]
    assert [(task["title"], task["user_id"]) for task in tasks] == [("Call the plumber", "alice")]


async def test_readme_inspector_line_lists_and_calls_the_tools(tmp_path: Path) -> None:
    inspector = node_tool("mcp-inspector")
    argv = _in_clone(_inspector_cli_line())
    env = _host_environment(tmp_path)
    env["PATH"] = os.pathsep.join([env["PATH"], os.path.dirname(shutil.which("node") or "")])
    # The Inspector hands its server only a few variables of its own environment (PATH, HOME):
    # the test's data directory has to be given with -e, or the real one would be used.
    data = f"TODO_DATA_DIR={env['TODO_DATA_DIR']}"
    argv = [argv[0], "-e", data, *argv[1:]]
    call = [
        *argv[: argv.index("--method")],
        *("--method", "tools/call", "--tool-name", "add_task", "--tool-arg", "title=Ring Bob"),
    ]

    with anyio.fail_after(2 * STARTUP_S):
        listed = await anyio.run_process([inspector, *argv], env=env, cwd=tmp_path)
        called = await anyio.run_process([inspector, *call], env=env, cwd=tmp_path)

    tools = {tool["name"] for tool in json.loads(listed.stdout)["tools"]}
    assert {"add_task", "list_tasks", "get_task", "update_task", "complete_task"} <= tools
    assert json.loads(called.stdout)["structuredContent"]["title"] == "Ring Bob"
    assert await anyio.Path(tmp_path / "data" / "todo.db").exists()
