"""Benchmark todo-mcp over stdio: cold start against a hello-world fastmcp server, and per-call
latency of `add_task` / `list_tasks` / `get_task` within one session, beside the hello server's
no-op `ping`, with the official MCP client and with a minimal line client.

Run with the project's virtualenv: `.venv/bin/python bench/stdio.py [--json]`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import anyio
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import LATEST_PROTOCOL_VERSION, CallToolResult, TextContent

BENCH_DIR = Path(__file__).resolve().parent
TODO_MCP = Path(sys.executable).parent / "todo-mcp"


class BenchError(RuntimeError):
    pass


def _check(name: str, result: CallToolResult) -> None:
    if result.is_error:
        text = " ".join(block.text for block in result.content if isinstance(block, TextContent))
        raise BenchError(f"{name} returned a tool error: {text}")


async def cold_start(
    params: StdioServerParameters, tool: str, args: dict[str, Any], errlog: TextIO
) -> float:
    """Seconds from spawning the server to holding the result of its first tool call."""
    started = time.perf_counter()
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        result = await session.call_tool(tool, args)
        elapsed = time.perf_counter() - started
        _check(tool, result)
    return elapsed


# The calls timed in one session, in this order: (label, tool, arguments of call n).
TODO_CALLS: list[tuple[str, str, Callable[[int], dict[str, Any]]]] = [
    ("add_task", "add_task", lambda n: {"title": f"bench task {n}"}),
    ("list_tasks", "list_tasks", lambda _n: {"limit": 20}),
    ("get_task", "get_task", lambda n: {"task_id": n + 1}),
]
HELLO_CALLS: list[tuple[str, str, Callable[[int], dict[str, Any]]]] = [
    ("hello_ping", "ping", lambda _n: {}),
]


async def call_latencies(
    params: StdioServerParameters,
    calls: int,
    errlog: TextIO,
    plan: list[tuple[str, str, Callable[[int], dict[str, Any]]]],
) -> dict[str, list[float]]:
    """Seconds per call, `calls` of each tool of `plan` in turn, in one official-client session."""
    timings: dict[str, list[float]] = {label: [] for label, _, _ in plan}
    async with (
        stdio_client(params, errlog=errlog) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        for label, tool, arguments in plan:
            for n in range(calls):
                started = time.perf_counter()
                result = await session.call_tool(tool, arguments(n))
                timings[label].append(time.perf_counter() - started)
                _check(tool, result)
    return timings


def line_client_latencies(
    params: StdioServerParameters,
    calls: int,
    errlog: TextIO,
    plan: list[tuple[str, str, Callable[[int], dict[str, Any]]]],
) -> dict[str, list[float]]:
    """As `call_latencies`, with the least client there is: one JSON-RPC line written, one
    read back. What it measures is the server's own time per call plus the pipe."""
    command = [params.command, *params.args]
    server = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=errlog,
        env=params.env,
        cwd=params.cwd,
    )
    assert server.stdin is not None
    assert server.stdout is not None
    stdin, stdout = server.stdin, server.stdout
    requests = itertools.count(1)

    def send(method: str, params: dict[str, Any] | None = None, *, reply: bool = True) -> Any:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        if reply:
            message["id"] = next(requests)
        stdin.write(json.dumps(message).encode() + b"\n")
        stdin.flush()
        while reply:
            answer = json.loads(stdout.readline() or b"null")
            if answer is None:
                raise BenchError(f"{command[0]} closed its stdout")
            if answer.get("id") == message["id"]:
                return answer
        return None

    timings: dict[str, list[float]] = {label: [] for label, _, _ in plan}
    try:
        send(
            "initialize",
            {
                "protocolVersion": LATEST_PROTOCOL_VERSION,
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "0"},
            },
        )
        send("notifications/initialized", reply=False)
        for label, tool, arguments in plan:
            for n in range(calls):
                started = time.perf_counter()
                answer = send("tools/call", {"name": tool, "arguments": arguments(n)})
                timings[label].append(time.perf_counter() - started)
                if "result" not in answer or answer["result"].get("isError"):
                    raise BenchError(f"{tool} failed: {answer}")
    finally:
        stdin.close()
        server.wait(timeout=30)
    return timings


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[math.ceil(0.95 * len(ordered)) - 1]


async def run(runs: int, calls: int, workdir: Path, errlog: TextIO) -> dict[str, Any]:
    env = {
        "TODO_USER_ID": "bench-user",
        "TODO_DATA_DIR": str(workdir),
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
    }
    # cwd is the scratch directory, so a developer's .env cannot redirect the benchmark.
    todo = StdioServerParameters(command=str(TODO_MCP), env=env, cwd=workdir)
    hello = StdioServerParameters(
        command=sys.executable, args=[str(BENCH_DIR / "hello_server.py")], env=env, cwd=workdir
    )
    servers = {
        "todo_mcp": (todo, "list_tasks"),
        "hello": (hello, "ping"),
    }
    # The warm-up spawn migrates the database, so the timed starts take the at-head path; it
    # also brings both servers' files into the page cache.
    for params, tool in servers.values():
        await cold_start(params, tool, {}, errlog)
    starts: dict[str, list[float]] = {name: [] for name in servers}
    # Interleaved, so that machine noise lands on both servers alike.
    for _ in range(runs):
        for name, (params, tool) in servers.items():
            starts[name].append(await cold_start(params, tool, {}, errlog))
    # todo-mcp's calls in a fresh database each, so list_tasks sees the same 500 tasks.
    official = await call_latencies(todo, calls, errlog, TODO_CALLS)
    official |= await call_latencies(hello, calls, errlog, HELLO_CALLS)
    (workdir / "bench.db").unlink()
    line = await anyio.to_thread.run_sync(line_client_latencies, todo, calls, errlog, TODO_CALLS)
    line |= await anyio.to_thread.run_sync(line_client_latencies, hello, calls, errlog, HELLO_CALLS)

    medians = {name: statistics.median(values) for name, values in starts.items()}
    return {
        "python": sys.version.split()[0],
        "cold_start_runs": runs,
        "cold_start_ms": {
            name: {
                "median": _ms(medians[name]),
                "min": _ms(min(values)),
                "max": _ms(max(values)),
                "runs": [_ms(v) for v in values],
            }
            for name, values in starts.items()
        },
        "cold_start_ratio": round(medians["todo_mcp"] / medians["hello"], 2),
        "calls_per_tool": calls,
        "call_latency_ms": {
            client: {
                label: {"median": _ms(statistics.median(values)), "p95": _ms(_p95(values))}
                for label, values in timings.items()
            }
            for client, timings in (("official_client", official), ("line_client", line))
        },
    }


def table(report: dict[str, Any]) -> str:
    cold = report["cold_start_ms"]
    lines = [
        f"cold start, spawn to first tool result ({report['cold_start_runs']} runs, interleaved)",
        f"  {'server':<28}{'median':>10}{'min':>10}{'max':>10}",
    ]
    for label, key in (("todo-mcp (list_tasks)", "todo_mcp"), ("hello fastmcp (ping)", "hello")):
        row = cold[key]
        lines.append(
            f"  {label:<28}{row['median']:>7.1f} ms{row['min']:>7.1f} ms{row['max']:>7.1f} ms"
        )
    lines += [
        f"  {'ratio todo-mcp / hello':<28}{report['cold_start_ratio']:>9.2f}x",
        "",
        f"per-call latency, one stdio session per server ({report['calls_per_tool']} calls each)",
        f"  {'':<28}{'official client':>20}{'line client':>20}",
        f"  {'tool':<28}{'median':>10}{'p95':>10}{'median':>10}{'p95':>10}",
    ]
    latency = report["call_latency_ms"]
    for label, key in (
        ("add_task", "add_task"),
        ("list_tasks (limit 20 of 500)", "list_tasks"),
        ("get_task", "get_task"),
        ("hello fastmcp ping", "hello_ping"),
    ):
        cells = "".join(
            f"{latency[client][key]['median']:>7.2f} ms{latency[client][key]['p95']:>7.2f} ms"
            for client in ("official_client", "line_client")
        )
        lines.append(f"  {label:<28}{cells}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--runs", type=int, default=9, help="cold starts per server (default 9)")
    parser.add_argument("--calls", type=int, default=500, help="calls per tool (default 500)")
    options = parser.parse_args()
    if not TODO_MCP.exists():
        print(f"{TODO_MCP} not found: install the project (scripts/test does)", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp:
        workdir = Path(tmp)
        # Servers' stderr goes to a file, shown only if something fails.
        log_path = workdir / "servers.log"
        with log_path.open("w") as errlog:
            try:
                report = anyio.run(run, options.runs, options.calls, workdir, errlog)
            except Exception:
                errlog.flush()
                print(log_path.read_text(), file=sys.stderr, end="")
                raise
    print(json.dumps(report, indent=2) if options.json else table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
