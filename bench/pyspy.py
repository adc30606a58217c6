"""py-spy samples of a server under wrk, aggregated: the hottest functions (self time, and
cumulative from the route handler down) and the share of each layer of the stack."""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.servers import BENCH_DIR, VENV_BIN, BenchError, Server, fresh_user
from bench.wrk import CREATE_USERS, lua_script, parse_wrk, wrk_command

# --- profiling -------------------------------------------------------------------------------

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")
_STDLIB = re.compile(r"/lib/python3\.\d+/(?!site-packages/)")
REPO_ROOT = str(BENCH_DIR.parent) + "/"
# What each origin's first path part is reported as.
REPO_LAYERS = {"http_adapter", "mcp_server", "storage", "agent", "bench"}
SITE_LAYERS = {"pydantic_core": "pydantic", "sqlmodel": "sqlalchemy"}
STDLIB_LAYERS = {"json": "stdlib json", "logging": "stdlib logging", "asyncio": "asyncio"}
# The REST route handlers (todo-api's and the floor's): cumulative time is counted from here
# down, so that the frames every request passes through (uvicorn, Starlette's middleware stack)
# do not fill the top of the list.
HANDLERS = {
    ("route.<locals>.endpoint", "http_adapter/endpoints.py"),
    ("build_app.<locals>.route.<locals>.endpoint", "bench/floor.py"),
}


def classify(file: str) -> tuple[str, str]:
    """(short file name, layer) of a full file name from py-spy --full-filenames."""
    if "/site-packages/" in file:
        short = file.split("/site-packages/", 1)[1]
        package = short.split("/", 1)[0].removesuffix(".py")
        return short, SITE_LAYERS.get(package, package)
    if file.startswith(REPO_ROOT):
        short = file[len(REPO_ROOT) :]
        package = short.split("/", 1)[0]
        return short, f"todo-api: {package}" if package in REPO_LAYERS else "todo-api: other"
    stdlib = _STDLIB.search(file)
    if stdlib is not None:
        short = file[stdlib.end() :]
        return short, STDLIB_LAYERS.get(short.split("/", 1)[0], "stdlib")
    return file, "other" if file else "(unknown)"


def parse_frame(frame: str) -> tuple[str, str, str]:
    """(function, short file, layer) of a py-spy frame `func (file:line)`; lines are dropped."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip(), "", "(unknown)"
    short, layer = classify(match.group("file"))
    return match.group("func"), short, layer


SPLIT_OUTSIDE = "outside the route handler (uvicorn, Starlette middleware, event loop, logging)"


def _split(frames: list[tuple[str, str, str]], handler_at: int | None) -> str:
    """Which part of a request a stack is in: for todo-api, the tool's own body, fastmcp's
    dispatch around it, or the REST adapter around the MCP call."""
    if handler_at is None:
        return SPLIT_OUTSIDE
    below = frames[handler_at:]
    if any(file == "mcp_server/tools.py" for _, file, _ in below):
        return "tool body (mcp_server/tools.py: storage, SQLAlchemy, asyncpg, models)"
    if any(func == "FastMCP.call_tool" for func, _, _ in below):
        return "fastmcp dispatch around the tool (FastMCP.call_tool outside the body)"
    return "route handler outside the MCP call (auth, parsing, response)"


def aggregate_profile(raw: str, top: int) -> dict[str, Any]:
    """Top self and cumulative functions, and the share of each layer, from py-spy's raw output
    (one collapsed stack and its sample count per line). Cumulative figures count the frames
    from the REST route handler down, in stacks that have it."""
    self_counts: Counter[str] = Counter()
    cumulative: Counter[str] = Counter()
    layer_self: Counter[str] = Counter()
    layer_cumulative: Counter[str] = Counter()
    split: Counter[str] = Counter()
    total = in_handler = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [parse_frame(frame) for frame in stack.split(";") if frame.strip()]
        if not frames:
            self_counts["(no Python frame)"] += count
            layer_self["(unknown)"] += count
            split[SPLIT_OUTSIDE] += count
            continue
        names = [f"{func} ({file})" for func, file, _ in frames]
        self_counts[names[-1]] += count
        layer_self[frames[-1][2]] += count
        handler_at = next(
            (i for i, (func, file, _) in enumerate(frames) if (func, file) in HANDLERS), None
        )
        split[_split(frames, handler_at)] += count
        if handler_at is None:
            continue
        in_handler += count
        for name in set(names[handler_at:]):
            cumulative[name] += count
        for name in {layer for _, _, layer in frames[handler_at:]}:
            layer_cumulative[name] += count

    def share(counter: Counter[str], limit: int | None) -> list[dict[str, Any]]:
        return [
            {"name": name, "samples": n, "percent": round(100 * n / max(total, 1), 1)}
            for name, n in counter.most_common(limit)
        ]

    return {
        "samples": total,
        "in_handler_percent": round(100 * in_handler / max(total, 1), 1),
        "split": share(split, None),
        "self": share(self_counts, top),
        "cumulative": share(cumulative, top),
        "layers_self": share(layer_self, None),
        "layers_cumulative": share(layer_cumulative, None),
    }


def profile(
    args: argparse.Namespace, server: Server, workdir: Path, out_dir: Path
) -> dict[str, Any]:
    """Sample `server` with py-spy while wrk drives each of --profile-scenarios at it."""
    py_spy = shutil.which("py-spy") or str(VENV_BIN / "py-spy")
    if not Path(py_spy).exists():
        raise BenchError("py-spy is not installed: `.venv/bin/pip install py-spy`")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    for scenario in args.profile_scenarios:
        users = [fresh_user("bench-create") for _ in range(CREATE_USERS)]
        script = workdir / f"profile-{server.name}-{scenario}.lua"
        script.write_text(lua_script(scenario, server, users))
        load = subprocess.Popen(
            wrk_command(args, script, server.base_url, args.profile_duration + 3),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(1)
        raw_path = out_dir / f"{server.name}-{scenario}.raw.txt"
        spy = subprocess.run(
            [
                py_spy,
                "record",
                "--pid",
                str(server.process.pid),
                "--duration",
                str(args.profile_duration),
                "--rate",
                str(args.profile_rate),
                *(["--nonblocking"] if args.profile_nonblocking else []),
                "--format",
                "raw",
                "--full-filenames",
                "--output",
                str(raw_path),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wrk_out, _ = load.communicate()
        if spy.returncode != 0:
            raise BenchError(f"py-spy failed: {spy.stderr.strip()}")
        summary = aggregate_profile(raw_path.read_text(), args.profile_top)
        summary["raw"] = str(raw_path)
        with contextlib.suppress(BenchError):
            summary["wrk"] = parse_wrk(wrk_out)
        results[scenario] = summary
    return results
