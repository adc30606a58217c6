"""Benchmark todo-api's REST task routes against the floor (`bench/floor.py`) with wrk.

Both servers run as separate processes on the same PostgreSQL, each on a fresh database of its
own (dropped at the end), one uvicorn worker each with uvloop and httptools. For each server a
fresh user gets 20 tasks (seeded through POST), and then for each scenario wrk runs with
16 connections and 2 threads:

- list:   GET /api/{user}/tasks (the 20 tasks, default order and limit)
- get:    GET /api/{user}/tasks/{id}, cycling over the 20 tasks
- patch:  PATCH /api/{user}/tasks/{id} {"title": <new every time>}, cycling over the 20 tasks,
          so every request really changes a task
- create: POST /api/{u}/tasks with a full body, spread over 32 fresh users per run (so the
          quota count stays per-user small, as for real users)

Scenarios interleave product and floor (alternating which goes first) for --rounds rounds after
a warm-up of each; the table gives the median over rounds of req/s and p99 latency, and the
product/floor ratio of req/s. Each wrk run counts non-2xx answers in its Lua script. After the
rounds todo-api's resident memory (VmRSS, and the peak VmHWM) is read from /proc.

With --profile DIR, todo-api (and with --profile-floor the floor too) is then sampled with py-spy
while wrk drives `get` and `list`; the raw stacks are kept in DIR, and the hottest functions (self
time, and cumulative time from the route handler down) and the share of each layer are printed.

Run with the project's virtualenv (wrk must be installed: `apt-get install -y wrk`):

    .venv/bin/python bench/rest.py [--duration 10] [--rounds 3] [--json] [--profile DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt

BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
SCENARIOS = ("list", "get", "patch", "create")
PROFILED = "get,list"  # the scenarios --profile samples by default
SEED_TASKS = 20
CREATE_USERS = 32
TARGET_RATIO = 0.5
RSS_LIMIT_MB = 180.0
# Per run, so that two runs on one PostgreSQL server never drop each other's databases.
PRODUCT_DB = f"todo_product_bench_{os.getpid()}"
FLOOR_DB = f"todo_floor_bench_{os.getpid()}"


class BenchError(RuntimeError):
    pass


@dataclass
class Server:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    user: str = ""
    token: str = ""
    task_ids: list[int] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# --- helpers ---------------------------------------------------------------------------------


def mint(user: str, ttl_s: int = 24 * 3600) -> str:
    now = int(time.time())
    return jwt.encode({"sub": user, "iat": now, "exp": now + ttl_s}, SECRET, algorithm="HS256")


def fresh_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def database_url(server_url: str, name: str) -> str:
    return f"{server_url.rstrip('/')}/{name}"


async def _recreate(server_url: str, names: list[str], *, drop_only: bool = False) -> str:
    conn = await asyncpg.connect(database_url(server_url, "postgres"))
    try:
        for name in names:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if not drop_only:
                await conn.execute(f'CREATE DATABASE "{name}"')
        version: str = await conn.fetchval("SHOW server_version")
        return version
    finally:
        await conn.close()


def recreate_databases(server_url: str, names: list[str], *, drop_only: bool = False) -> str:
    return asyncio.run(_recreate(server_url, names, drop_only=drop_only))


def start_product(port: int, db_url: str, data_dir: Path, log_path: Path) -> Server:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GEMINI_", "BETTER_AUTH_", "JWT_", "TODO_"))
    }
    env.update(
        DATABASE_URL=db_url,
        BETTER_AUTH_SECRET=SECRET,
        TODO_DATA_DIR=str(data_dir),
    )
    # The working directory is the scratch dir, so no stray .env is read.
    process = subprocess.Popen(
        [str(VENV_BIN / "todo-api"), "--port", str(port)],
        env=env,
        cwd=data_dir,
        stdin=subprocess.DEVNULL,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Server("product", process, port, log_path)


def start_floor(port: int, db_url: str, cwd: Path, log_path: Path) -> Server:
    process = subprocess.Popen(
        [
            sys.executable,
            str(BENCH_DIR / "floor.py"),
            "--port",
            str(port),
            "--database-url",
            db_url,
            "--secret",
            SECRET,
        ],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log_path.open("wb"),
        stderr=subprocess.STDOUT,
    )
    return Server("floor", process, port, log_path)


def wait_healthy(server: Server, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise BenchError(
                f"{server.name} exited with {server.process.returncode}; "
                f"log:\n{server.log_path.read_text(errors='replace')[-3000:]}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.base_url}/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise BenchError(f"{server.name} did not answer /health within {timeout_s:.0f} s")


def stop(server: Server) -> None:
    if server.process.poll() is not None:
        return
    server.process.send_signal(signal.SIGINT)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


def loaded_stack(pid: int) -> dict[str, bool]:
    """Whether uvloop's and httptools' extension modules are mapped into the process."""
    maps = Path(f"/proc/{pid}/maps").read_text()
    return {"uvloop": "/uvloop/loop." in maps, "httptools": "/httptools/parser/parser." in maps}


def memory_mb(pid: int) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = round(int(rest.split()[0]) / 1024, 1)
    return values


def task_body(n: int) -> dict[str, Any]:
    return {
        "title": f"Seeded task {n}",
        "description": f"Something to do, number {n}, with a few words of description.",
        "priority": ("low", "medium", "high")[n % 3],
        "due_date": f"2026-12-{n % 28 + 1:02d}" if n % 2 else None,
        "tags": ["bench", f"group-{n % 4}"],
        "completed": n % 5 == 0,
    }


def seed(server: Server) -> None:
    """A fresh user with SEED_TASKS tasks; also checks the answers look like the contract."""
    server.user = fresh_user("bench")
    server.token = mint(server.user)
    headers = {"Authorization": f"Bearer {server.token}"}
    with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
        for n in range(SEED_TASKS):
            response = client.post(f"/api/{server.user}/tasks", json=task_body(n))
            if response.status_code != 201 or "location" not in response.headers:
                raise BenchError(f"{server.name}: seeding answered {response.status_code}")
            server.task_ids.append(response.json()["id"])
        listed = client.get(f"/api/{server.user}/tasks")
        if listed.status_code != 200 or listed.headers.get("x-total-count") != str(SEED_TASKS):
            raise BenchError(f"{server.name}: the seeded list is not {SEED_TASKS} tasks")


def check_parity(product: Server, floor: Server) -> list[str]:
    """Differences between the two servers' answers to the benchmarked requests."""
    notes: list[str] = []
    shapes = []
    for server in (product, floor):
        headers = {"Authorization": f"Bearer {server.token}"}
        with httpx.Client(base_url=server.base_url, headers=headers, timeout=10) as client:
            one = client.get(f"/api/{server.user}/tasks/{server.task_ids[0]}")
            many = client.get(f"/api/{server.user}/tasks")
        shapes.append(
            (
                sorted(one.json()),
                "etag" in one.headers,
                len(many.json()),
                [task["title"] for task in many.json()],
                len(one.content),
            )
        )
    if shapes[0][:4] != shapes[1][:4]:
        notes.append(f"answers differ: product {shapes[0][:4]} vs floor {shapes[1][:4]}")
    return notes


# --- wrk -------------------------------------------------------------------------------------

LUA_COMMON = """
local threads = {}
function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end
function init(args)
  n = 0
  non2xx = 0
  codes = ""
  counts = {}
end
function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
    counts[status] = (counts[status] or 0) + 1
    local parts = {}
    for code, c in pairs(counts) do parts[#parts + 1] = code .. ":" .. c end
    codes = table.concat(parts, " ")
  end
end
function done(summary, latency, requests)
  local bad = 0
  local all = {}
  for _, t in ipairs(threads) do
    bad = bad + t:get("non2xx")
    local c = t:get("codes")
    if c ~= "" then all[#all + 1] = c end
  end
  io.write(string.format("BENCH non2xx=%d codes=%s\\n", bad, table.concat(all, " ")))
  io.write(string.format(
    "BENCH requests=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\\n",
    summary.requests, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
  local e = summary.errors
  io.write(string.format("BENCH errors connect=%d read=%d write=%d timeout=%d\\n",
    e.connect, e.read, e.write, e.timeout))
end
"""


def _lua(value: str) -> str:
    return json.dumps(value)  # ASCII only here, which is valid Lua string syntax too


def lua_script(scenario: str, server: Server, create_users: list[str]) -> str:
    base = f"/api/{server.user}/tasks"
    auth = _lua(f"Bearer {server.token}")
    ids = ", ".join(str(i) for i in server.task_ids)
    if scenario == "list":
        body = f"""
wrk.method = "GET"
wrk.path = {_lua(base)}
wrk.headers["Authorization"] = {auth}
"""
    elif scenario == "get":
        body = f"""
local ids = {{{ids}}}
local headers = {{["Authorization"] = {auth}}}
request = function()
  n = n + 1
  return wrk.format("GET", {_lua(base + "/")} .. ids[(n + tid * 7) % #ids + 1], headers)
end
"""
    elif scenario == "patch":
        body = f"""
local ids = {{{ids}}}
local headers = {{["Authorization"] = {auth}, ["Content-Type"] = "application/json"}}
request = function()
  n = n + 1
  local id = ids[(n + tid * 7) % #ids + 1]
  local payload = '{{"title":"Patched by thread ' .. tid .. ', request ' .. n .. '"}}'
  return wrk.format("PATCH", {_lua(base + "/")} .. id, headers, payload)
end
"""
    elif scenario == "create":
        users = ",\n  ".join(
            f"{{{_lua(f'/api/{user}/tasks')}, {_lua(f'Bearer {mint(user)}')}}}"
            for user in create_users
        )
        body = f"""
local users = {{
  {users}
}}
request = function()
  n = n + 1
  local user = users[(n + tid * 13) % #users + 1]
  local headers = {{["Authorization"] = user[2], ["Content-Type"] = "application/json"}}
  local payload = '{{"title":"Load task ' .. tid .. '-' .. n .. '",'
    .. '"description":"Created by wrk","priority":"high","due_date":"2026-12-24",'
    .. '"tags":["bench","load"]}}'
  return wrk.format("POST", user[1], headers, payload)
end
"""
    else:
        raise ValueError(scenario)
    return body + LUA_COMMON


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, Any]:
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
    bench = dict(re.findall(r"(\w+)=(\S*)", " ".join(re.findall(r"^BENCH (.*)$", output, re.M))))
    if rps is None or "p99_us" not in bench:
        raise BenchError(f"cannot read wrk's output:\n{output}")
    p99_ms = (
        float(p99.group(1)) * _UNITS_MS[p99.group(2)]
        if p99
        else int(bench["p99_us"]) / 1000  # wrk's own distribution, else the Lua percentile
    )
    errors = {k: int(bench[k]) for k in ("connect", "read", "write", "timeout")}
    return {
        "rps": float(rps.group(1)),
        "p50_ms": int(bench["p50_us"]) / 1000,
        "p90_ms": int(bench["p90_us"]) / 1000,
        "p99_ms": round(p99_ms, 3),
        "max_ms": int(bench["max_us"]) / 1000,
        "requests": int(bench["requests"]),
        "non2xx": int(bench["non2xx"]),
        "codes": bench.get("codes", ""),
        "socket_errors": errors,
    }


def wrk_command(args: argparse.Namespace, script: Path, url: str, duration_s: float) -> list[str]:
    return [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        url,
    ]


def run_wrk(
    args: argparse.Namespace,
    scenario: str,
    server: Server,
    workdir: Path,
    duration_s: float,
    label: str,
) -> dict[str, Any]:
    users = [fresh_user("bench-create") for _ in range(CREATE_USERS)]
    script = workdir / f"{server.name}-{scenario}-{label}.lua"
    script.write_text(lua_script(scenario, server, users))
    command = wrk_command(args, script, server.base_url, duration_s)
    cpu_before = cpu_seconds(server.process.pid)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = cpu_seconds(server.process.pid) - cpu_before
    (workdir / f"{server.name}-{scenario}-{label}.wrk.txt").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr or done.stdout}")
    result = parse_wrk(done.stdout)
    result["cpu_us_per_request"] = round(cpu * 1e6 / max(result["requests"], 1), 1)
    return result


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, all threads) the process has used so far. Per request, it
    says what a request costs the server even when other work on the machine takes turns on
    its cores, which moves requests per second a lot more."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # utime and stime: fields 14 and 15 of proc(5), counted from the state (field 3) here.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


# --- the run ---------------------------------------------------------------------------------


def _scenario_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in SCENARIOS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"scenarios are {', '.join(SCENARIOS)}")
    return names


def median(values: list[float]) -> float:
    return round(statistics.median(values), 2)


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.partition(":")[2].strip()
                break
    wrk_version = subprocess.run(
        ["wrk", "--version"], capture_output=True, text=True, check=False
    ).stdout.split(" [")[0]
    packages = ["uvicorn", "uvloop", "httptools", "starlette", "fastmcp", "mcp"]
    packages += ["sqlalchemy", "sqlmodel", "asyncpg", "pydantic", "pyjwt"]
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "wrk": wrk_version.strip(),
        "packages": {name: package_version(name) for name in packages},
    }


def error_lines(log_path: Path) -> list[str]:
    lines = log_path.read_text(errors="replace").splitlines()
    return [line for line in lines if line.startswith(("ERROR", "CRITICAL", "Traceback"))]


@contextlib.contextmanager
def servers(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[Server, Server]]:
    started: list[Server] = []
    try:
        data_dir = workdir / "data"
        data_dir.mkdir(exist_ok=True)
        product = start_product(
            free_port(),
            database_url(args.postgres, PRODUCT_DB),
            data_dir,
            workdir / "product.log",
        )
        started.append(product)
        floor = start_floor(
            free_port(), database_url(args.postgres, FLOOR_DB), workdir, workdir / "floor.log"
        )
        started.append(floor)
        for server in started:
            wait_healthy(server)
        yield product, floor
    finally:
        for server in started:
            stop(server)


def run(args: argparse.Namespace, workdir: Path, log: Any) -> dict[str, Any]:
    pg_version = recreate_databases(args.postgres, [PRODUCT_DB, FLOOR_DB])
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {**machine(), "postgresql": pg_version},
        "config": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "warmup_s": args.warmup,
            "connections": args.connections,
            "threads": args.threads,
            "seed_tasks": SEED_TASKS,
        },
    }
    try:
        with servers(args, workdir) as (product, floor):
            report["stack"] = {s.name: loaded_stack(s.process.pid) for s in (product, floor)}
            for server in (product, floor):
                seed(server)
            report["parity_notes"] = check_parity(product, floor)
            report["rss_start_mb"] = memory_mb(product.process.pid)
            if args.warmup > 0:
                for scenario in SCENARIOS:
                    for server in (product, floor):
                        log(f"warm-up {scenario} {server.name}")
                        run_wrk(args, scenario, server, workdir, args.warmup, "warmup")
            runs: dict[str, dict[str, list[dict[str, Any]]]] = {
                scenario: {"product": [], "floor": []} for scenario in SCENARIOS
            }
            for round_no in range(args.rounds):
                order = (product, floor) if round_no % 2 == 0 else (floor, product)
                for scenario in SCENARIOS:
                    for server in order:
                        result = run_wrk(
                            args, scenario, server, workdir, args.duration, f"r{round_no}"
                        )
                        runs[scenario][server.name].append(result)
                        log(
                            f"round {round_no + 1} {scenario:6} {server.name:7} "
                            f"{result['rps']:8.1f} req/s  p99 {result['p99_ms']:7.2f} ms  "
                            f"cpu {result['cpu_us_per_request']:7.1f} us/req  "
                            f"non-2xx {result['non2xx']}"
                        )
            report["rss_after_mb"] = memory_mb(product.process.pid)
            report["floor_rss_after_mb"] = memory_mb(floor.process.pid)
            report["results"] = summarize(runs)
            if args.profile is not None:
                profiled = (product, floor) if args.profile_floor else (product,)
                report["profile"] = {
                    server.name: profile(args, server, workdir, args.profile) for server in profiled
                }
                report["rss_after_profile_mb"] = memory_mb(product.process.pid)
        report["product_log_errors"] = error_lines(workdir / "product.log")[:20]
        report["floor_log_errors"] = error_lines(workdir / "floor.log")[:20]
    finally:
        if not args.keep_databases:
            recreate_databases(args.postgres, [PRODUCT_DB, FLOOR_DB], drop_only=True)
    return report


def summarize(runs: dict[str, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for scenario, by_server in runs.items():
        entry: dict[str, Any] = {}
        for name, rounds in by_server.items():
            entry[name] = {
                "rps": median([r["rps"] for r in rounds]),
                "p99_ms": median([r["p99_ms"] for r in rounds]),
                "p50_ms": median([r["p50_ms"] for r in rounds]),
                "cpu_us": median([r["cpu_us_per_request"] for r in rounds]),
                "non2xx": sum(r["non2xx"] for r in rounds),
                "socket_errors": sum(sum(r["socket_errors"].values()) for r in rounds),
                "rounds": rounds,
            }
        entry["ratio"] = round(entry["product"]["rps"] / entry["floor"]["rps"], 3)
        # The floor's CPU time per request over todo-api's: what the req/s ratio would be on
        # cores the two servers had to themselves.
        entry["cpu_ratio"] = round(entry["floor"]["cpu_us"] / entry["product"]["cpu_us"], 3)
        results[scenario] = entry
    return results


def print_report(report: dict[str, Any], out: Any) -> None:
    m = report["machine"]
    c = report["config"]
    print(
        f"{report['date']}  {m['cpus']} CPUs ({m['cpu_model']}), Python {m['python']}, "
        f"PostgreSQL {m['postgresql']}, {m['wrk']}",
        file=out,
    )
    print(
        f"wrk -t{c['threads']} -c{c['connections']}, {c['duration_s']} s x {c['rounds']} rounds "
        f"(median), {c['seed_tasks']} seeded tasks; stacks loaded: {report['stack']}",
        file=out,
    )
    header = (
        f"{'scenario':8} {'product req/s':>13} {'p99 ms':>8} {'floor req/s':>12} "
        f"{'p99 ms':>8} {'ratio':>6} {'cpu us/req p/f':>15} {'cpu ratio':>9}  "
        "non-2xx (product/floor)"
    )
    print(header, file=out)
    for scenario, entry in report["results"].items():
        p, f = entry["product"], entry["floor"]
        flag = "" if entry["ratio"] >= TARGET_RATIO else "  < target"
        print(
            f"{scenario:8} {p['rps']:13.1f} {p['p99_ms']:8.2f} {f['rps']:12.1f} "
            f"{f['p99_ms']:8.2f} {entry['ratio']:6.2f} "
            f"{p['cpu_us']:7.0f}/{f['cpu_us']:<7.0f} {entry['cpu_ratio']:9.2f}  "
            f"{p['non2xx']}/{f['non2xx']}{flag}",
            file=out,
        )
    rss = report["rss_after_mb"]
    verdict = "ok" if rss["VmRSS"] <= RSS_LIMIT_MB else f"over {RSS_LIMIT_MB:.0f} MB"
    print(
        f"todo-api memory after the run: VmRSS {rss['VmRSS']} MB ({verdict}), peak VmHWM "
        f"{rss['VmHWM']} MB; at start {report['rss_start_mb']['VmRSS']} MB; "
        f"floor {report['floor_rss_after_mb']['VmRSS']} MB",
        file=out,
    )
    for note in report["parity_notes"]:
        print(f"note: {note}", file=out)
    for name in ("product", "floor"):
        errors = report[f"{name}_log_errors"]
        if errors:
            print(f"{name} log errors ({len(errors)} shown):", file=out)
            for line in errors:
                print(f"  {line}", file=out)
    for name, scenario, summary in (
        (name, scenario, summary)
        for name, by_scenario in report.get("profile", {}).items()
        for scenario, summary in by_scenario.items()
    ):
        print(
            f"\nprofile of the {name} under `{scenario}`: {summary['samples']} samples, "
            f"{summary['in_handler_percent']}% inside the route handler; cumulative figures "
            "count from the handler down",
            file=out,
        )
        for kind in ("split", "layers_self", "layers_cumulative", "self", "cumulative"):
            print(f"  {kind}:", file=out)
            for row in summary[kind]:
                print(f"    {row['percent']:5.1f}%  {row['name']}", file=out)


def main() -> None:
    parser = argparse.ArgumentParser(description="todo-api REST vs the floor, with wrk.")
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=3, help="seconds; 0 for none")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        help="the PostgreSQL server (no database name); databases "
        f"{PRODUCT_DB} and {FLOOR_DB} are created there and dropped at the end",
    )
    parser.add_argument("--keep-databases", action="store_true")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--profile", type=Path, default=None, help="directory: also profile todo-api with py-spy"
    )
    parser.add_argument("--profile-floor", action="store_true", help="profile the floor too")
    parser.add_argument(
        "--profile-scenarios",
        type=_scenario_list,
        default=_scenario_list(PROFILED),
        help=f"comma-separated, of {', '.join(SCENARIOS)} (default {PROFILED})",
    )
    parser.add_argument("--profile-duration", type=int, default=10)
    parser.add_argument("--profile-top", type=int, default=15)
    parser.add_argument("--profile-rate", type=int, default=100, help="samples a second")
    parser.add_argument(
        "--profile-nonblocking",
        action="store_true",
        help="do not pause todo-api to sample (less overhead, but stacks come out torn)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs and scripts here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("bench/rest.py needs wrk: `apt-get install -y wrk` (Debian/Ubuntu)")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    with contextlib.ExitStack() as stack:
        if args.workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rest-bench-")))
        else:
            workdir = args.workdir
            workdir.mkdir(parents=True, exist_ok=True)
        try:
            report = run(args, workdir, log)
        except BenchError as exc:
            sys.exit(f"bench/rest.py: {exc}")
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print_report(report, sys.stdout)


if __name__ == "__main__":
    main()
