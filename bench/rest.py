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
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent)]

from bench.databases import database_url, recreate_databases  # noqa: E402
from bench.pyspy import profile  # noqa: E402
from bench.servers import (  # noqa: E402
    SEED_TASKS,
    BenchError,
    Server,
    check_parity,
    free_port,
    loaded_stack,
    memory_mb,
    seed,
    start_floor,
    start_product,
    stop,
    wait_healthy,
)
from bench.wrk import run_wrk  # noqa: E402

SCENARIOS = ("list", "get", "patch", "create")
PROFILED = "get,list"  # the scenarios --profile samples by default
TARGET_RATIO = 0.5
RSS_LIMIT_MB = 180.0
# Per run, so that two runs on one PostgreSQL server never drop each other's databases.
PRODUCT_DB = f"todo_product_bench_{os.getpid()}"
FLOOR_DB = f"todo_floor_bench_{os.getpid()}"


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
