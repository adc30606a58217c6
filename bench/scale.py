"""Scale figures of todo-api: REST throughput with `--workers 2` against 1, and how list,
search and get latencies grow with a user's task count in a big table.

    .venv/bin/python bench/scale.py workers [--duration 5] [--rounds 2]
    .venv/bin/python bench/scale.py growth [--total 1000000] [--users 10000] [--sqlite-total 100000]

`workers`: the same PostgreSQL database, a server with 1 worker and then one with 2 (each started
fresh, alternating which runs first each round); wrk drives `get`, `list`, `patch` and `create` as
bench/rest.py does (its scenarios and Lua scripts are reused), median req/s and p99 over rounds.

`growth`: a database bulk-loaded in SQL (generate_series on PostgreSQL, a recursive CTE on
SQLite, never through the API) with `--total` tasks of `--users` users, of whom three have 100,
1,000 and 10,000 tasks. For each of the three, the task repository's list (the first page of
100), search (`q`, a word every 10th task has) and get (random ids of theirs) run `--samples`
times each; p50 and p99 in ms. The EXPLAIN (ANALYZE) of the list and search statements (the page
and the count) of the 10,000-task user is printed for the README.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent)]

from bench import databases, servers, wrk  # noqa: E402  (as bench/rest.py runs them)
from storage.database import Database  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.models import TaskQuery  # noqa: E402
from storage.task_queries import ListShape, list_statements  # noqa: E402
from storage.tasks import TaskRepository  # noqa: E402

WORKERS_DB = "todo_scale_workers_bench"
GROWTH_DB = "todo_scale_growth_bench"
SIZES = (100, 1_000, 10_000)
WORKER_SCENARIOS = ("get", "list", "patch", "create")


# --- workers ---------------------------------------------------------------------------------


def start(workers: int, db_url: str, workdir: Path) -> servers.Server:
    data_dir = workdir / f"data-{workers}"
    data_dir.mkdir(exist_ok=True)
    log_path = workdir / f"workers-{workers}.log"
    server = servers.start_product(servers.free_port(), db_url, data_dir, log_path)
    if workers > 1:  # start_product runs one worker: start again with --workers
        servers.stop(server)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TODO_")}
        env.update(
            DATABASE_URL=db_url, BETTER_AUTH_SECRET=servers.SECRET, TODO_DATA_DIR=str(data_dir)
        )
        process = subprocess.Popen(
            [
                str(servers.VENV_BIN / "todo-api"),
                "--port",
                str(server.port),
                "--workers",
                str(workers),
            ],
            env=env,
            cwd=data_dir,
            stdin=subprocess.DEVNULL,
            stdout=log_path.open("wb"),
            stderr=subprocess.STDOUT,
        )
        server = servers.Server(f"workers-{workers}", process, server.port, log_path)
    else:
        server.name = "workers-1"
    servers.wait_healthy(server)
    servers.seed(server)
    return server


def workers(args: argparse.Namespace) -> None:
    pg_version = databases.recreate_databases(args.postgres, [WORKERS_DB])
    db_url = databases.database_url(args.postgres, WORKERS_DB)
    results: dict[str, dict[int, list[dict[str, Any]]]] = {
        s: {1: [], 2: []} for s in WORKER_SCENARIOS
    }
    with tempfile.TemporaryDirectory(prefix="todo-scale-") as tmp:
        workdir = Path(tmp)
        try:
            for round_no in range(args.rounds):
                for count in (1, 2) if round_no % 2 == 0 else (2, 1):
                    server = start(count, db_url, workdir)
                    try:
                        wrk.run_wrk(args, "get", server, workdir, 2, f"warm{round_no}")
                        for scenario in WORKER_SCENARIOS:
                            result = wrk.run_wrk(
                                args, scenario, server, workdir, args.duration, f"r{round_no}"
                            )
                            results[scenario][count].append(result)
                            print(
                                f"round {round_no + 1} {scenario:6} workers={count} "
                                f"{result['rps']:8.1f} req/s p99 {result['p99_ms']:7.2f} ms "
                                f"non-2xx {result['non2xx']}",
                                file=sys.stderr,
                            )
                    finally:
                        servers.stop(server)
        finally:
            databases.recreate_databases(args.postgres, [WORKERS_DB], drop_only=True)
    print(
        f"PostgreSQL {pg_version}, wrk -t{args.threads} -c{args.connections}, "
        f"{args.duration:g} s x {args.rounds} rounds, median\n"
    )
    print("| scenario | 1 worker req/s | 2 workers req/s | ratio | p99 1 / 2 (ms) | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for scenario, by_count in results.items():
        one = statistics.median(r["rps"] for r in by_count[1])
        two = statistics.median(r["rps"] for r in by_count[2])
        p99 = [statistics.median(r["p99_ms"] for r in by_count[c]) for c in (1, 2)]
        bad = sum(r["non2xx"] for c in (1, 2) for r in by_count[c])
        print(
            f"| {scenario} | {one:.0f} | {two:.0f} | {two / one:.2f} | "
            f"{p99[0]:.1f} / {p99[1]:.1f} | {bad} |"
        )


# --- growth ----------------------------------------------------------------------------------


# The three measured users first (ids 1..11,100), then everyone else round-robin. Every 10th
# task's title carries the searched word.
def _owner(position: str, users: int) -> str:
    return (
        f"CASE WHEN {position} <= 100 THEN 'grow-100' "
        f"WHEN {position} <= 1100 THEN 'grow-1000' "
        f"WHEN {position} <= 11100 THEN 'grow-10000' "
        f"ELSE 'user-' || ({position} % {users - 3}) END"
    )


def _load_sql(sqlite: bool, total: int, users: int) -> list[str]:
    columns = (
        "user_id, title, title_key, description, description_key, completed, priority, "
        "due_date, tags, version, created_at, updated_at, list_id"
    )
    # Half of every user's tasks are in a list (list 1: reads do not check who owns it).
    in_list = "CASE WHEN n % 2 = 0 THEN 1 END"
    if sqlite:
        series = (
            f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {total})"
        )
        title = "CASE WHEN n % 10 = 0 THEN 'Call the plumber ' ELSE 'Task ' END || n"
        created = "datetime('2026-01-01', '+' || n || ' seconds')"
        due = "CASE WHEN n % 3 = 0 THEN date('2026-01-01', '+' || (n % 365) || ' days') END"
        select = (
            f"SELECT {_owner('n', users)}, {title}, lower({title}), NULL, NULL, n % 2 = 0, "
            "CASE n % 3 WHEN 0 THEN 'low' WHEN 1 THEN 'medium' ELSE 'high' END, "
            f"{due}, '[]', 1, {created}, {created}, {in_list} FROM g"
        )
        return [f"{series} INSERT INTO task ({columns}) {select}"]
    title = "CASE WHEN n % 10 = 0 THEN 'Call the plumber ' ELSE 'Task ' END || n"
    created = "timestamptz '2026-01-01 00:00:00+00' + n * interval '1 second'"
    due = "CASE WHEN n % 3 = 0 THEN date '2026-01-01' + (n % 365) END"
    select = (
        f"SELECT {_owner('n', users)}, {title}, lower({title}), NULL, NULL, n % 2 = 0, "
        "(ARRAY['low', 'medium', 'high'])[n % 3 + 1], "
        f"{due}, '[]'::jsonb, 1, {created}, {created}, {in_list} "
        f"FROM generate_series(1, {total}) AS n"
    )
    return [f"INSERT INTO task ({columns}) {select}"]


async def _load(db: Database, total: int, users: int) -> float:
    started = time.perf_counter()
    async with db.writing() as conn:
        for statement in _load_sql(db.is_sqlite, total, users):
            await conn.execute(sa.text(statement))
        await conn.execute(
            sa.text(
                "INSERT INTO task_count (user_id, tasks) "
                "SELECT user_id, count(*) FROM task GROUP BY user_id"
            )
        )
    async with db.autocommit() as conn:
        await conn.execute(sa.text("ANALYZE"))
    return time.perf_counter() - started


async def _get_any(repo: TaskRepository, user: str, ids: list[int]) -> Any:
    return await repo.get(user, random.choice(ids))


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return (
        statistics.median(ordered) * 1000,
        ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000,
    )


async def _measure(db: Database, samples: int) -> dict[int, dict[str, tuple[float, float]]]:
    repo = TaskRepository(db)
    figures: dict[int, dict[str, tuple[float, float]]] = {}
    for size in SIZES:
        user = f"grow-{size}"
        async with db.autocommit() as conn:
            ids = [
                row[0]
                for row in await conn.execute(
                    sa.text("SELECT id FROM task WHERE user_id = :u"), {"u": user}
                )
            ]
        assert len(ids) == size, (user, len(ids))
        calls: dict[str, Callable[[], Awaitable[Any]]] = {
            "list": functools.partial(repo.list, user, TaskQuery()),
            "search": functools.partial(repo.list, user, TaskQuery(query="PLUMBER")),
            "in list": functools.partial(repo.list, user, TaskQuery(list_id=1)),
            "get": functools.partial(_get_any, repo, user, ids),
        }
        figures[size] = {}
        for name, make in calls.items():
            for _ in range(5):  # warm the statement caches and the buffer cache
                await make()
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                await make()
                times.append(time.perf_counter() - started)
            figures[size][name] = _percentiles(times)
    return figures


async def _explain(db: Database) -> dict[str, str]:
    dialect = db.engine.dialect
    plans = {}
    for name, has_query, in_list in (
        ("list", False, None),
        ("search", True, None),
        ("list_id", False, "one"),
    ):
        shape = ListShape(
            db.is_sqlite, "all", "created_at", has_query, False, False, False, False, in_list
        )
        values = {
            "key_user": "grow-10000",
            "needle": "plumber",
            "list_id": 1,
            "page_limit": 101,
            "page_offset": 0,
        }
        # The page, then (a longer list than one page) the count of all that match.
        for part, statement in zip(("page", "count"), list_statements(shape), strict=True):
            bound = statement.params(values)
            sql = str(bound.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
            explain = (
                "EXPLAIN QUERY PLAN " if db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) "
            )
            async with db.autocommit() as conn:
                rows = (await conn.execute(sa.text(explain + sql))).all()
            plan = "\n".join(str(row[-1]) for row in rows)
            plans[f"{name} ({part})"] = f"{sql}\n\n{plan}"
    return plans


async def _growth_on(url: str, total: int, users: int, samples: int, label: str) -> None:
    db = Database(url)
    try:
        await migrate(db)
        seconds = await _load(db, total, users)
        print(f"\n### {label}: {total:,} tasks of {users:,} users (loaded in {seconds:.0f} s)\n")
        figures = await _measure(db, samples)
        print(
            "| user's tasks | list p50 / p99 (ms) | search p50 / p99 (ms) "
            "| list_id (half) p50 / p99 (ms) | get p50 / p99 (ms) |"
        )
        print("|---:|---:|---:|---:|---:|")
        for size, by_call in figures.items():
            cells = " | ".join(
                f"{by_call[c][0]:.2f} / {by_call[c][1]:.2f}"
                for c in ("list", "search", "in list", "get")
            )
            print(f"| {size:,} | {cells} |")
        for name, plan in (await _explain(db)).items():
            print(f"\n{label} {name}, user with 10,000 tasks:\n\n```\n{plan}\n```")
    finally:
        await db.dispose()


def growth(args: argparse.Namespace) -> None:
    if not args.skip_postgres:
        databases.recreate_databases(args.postgres, [GROWTH_DB])
        try:
            asyncio.run(
                _growth_on(
                    databases.database_url(args.postgres, GROWTH_DB),
                    args.total,
                    args.users,
                    args.samples,
                    "PostgreSQL",
                )
            )
        finally:
            if not args.keep_databases:
                databases.recreate_databases(args.postgres, [GROWTH_DB], drop_only=True)
    with tempfile.TemporaryDirectory(prefix="todo-scale-") as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'growth.db'}"
        asyncio.run(_growth_on(url, args.sqlite_total, args.sqlite_users, args.samples, "SQLite"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432")
    commands = parser.add_subparsers(required=True)
    w = commands.add_parser("workers")
    w.add_argument("--duration", type=float, default=5)
    w.add_argument("--rounds", type=int, default=2)
    w.add_argument("--connections", type=int, default=16)
    w.add_argument("--threads", type=int, default=2)
    w.set_defaults(run=workers)
    g = commands.add_parser("growth")
    g.add_argument("--total", type=int, default=1_000_000)
    g.add_argument("--users", type=int, default=10_000)
    g.add_argument("--sqlite-total", type=int, default=100_000)
    g.add_argument("--sqlite-users", type=int, default=1_000)
    g.add_argument("--samples", type=int, default=200)
    g.add_argument("--skip-postgres", action="store_true")
    g.add_argument("--keep-databases", action="store_true")
    g.set_defaults(run=growth)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
