"""Live changes: what the change log costs writers, and how quickly and cheaply events reach
many open streams.

    .venv/bin/python bench/live.py writes [--duration 3] [--rounds 2] [--concurrency 1,8]
    .venv/bin/python bench/live.py streams [--streams 1000] [--writes 100]

`writes`: the task repository's write mix (create, update, delete, one after another per
worker) for `--duration` seconds on PostgreSQL (and SQLite at concurrency 1), with the change
log, and without it (the log's trigger disabled: the same write paths, appending nothing).
Alternated over `--rounds`; median writes/s.

`streams`: one `todo-api` process on PostgreSQL, `--streams` event streams open on it (five per
user, the default limit), raw HTTP/1.1 so the client costs little; then `--writes` task
creates, spread over the users, through REST at a steady pace. Commit-to-event delay per
event received: the time it arrived minus the change's `at` (taken inside the writing
transaction, so the delay includes the commit). p50/p99, and the server's RSS before the
streams opened and with all open: memory per open stream.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH_DIR.parent)]

import httpx  # noqa: E402

from bench import databases, servers  # noqa: E402  (server start, tokens, databases)
from storage.change_notify import notifier  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.migrate import migrate  # noqa: E402
from storage.models import TaskCreate, TaskUpdate  # noqa: E402
from storage.tasks import TaskRepository  # noqa: E402

PG = os.environ.get("TODO_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")
WRITES_DB = "todo_live_writes_bench"
STREAMS_DB = "todo_live_streams_bench"
STREAMS_PER_USER = 5


# --- writes ------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def _without_log(db: Database) -> AsyncIterator[None]:
    """The writes without the change log: its trigger off (PostgreSQL) or away (SQLite, which
    cannot disable one) and no NOTIFY sent after them, then all back. The write paths are the
    same either way."""
    async with db.autocommit() as conn:
        if db.is_sqlite:
            found = await conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'task'"
            )
            rows: Any = found.all()
            triggers = [(str(name), str(sql)) for name, sql in rows]
            for name, _sql in triggers:
                await conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            await conn.exec_driver_sql("ALTER TABLE task DISABLE TRIGGER task_change_log")
    sender = notifier(db)
    sends = sender.enabled
    sender.enabled = False
    try:
        yield
    finally:
        sender.enabled = sends
        async with db.autocommit() as conn:
            if db.is_sqlite:
                for _name, sql in triggers:
                    await conn.exec_driver_sql(sql)
            else:
                await conn.exec_driver_sql("ALTER TABLE task ENABLE TRIGGER task_change_log")


async def _write_mix(db: Database, workers: int, duration_s: float) -> float:
    repo = TaskRepository(db)
    done = 0
    deadline = time.monotonic() + duration_s

    async def worker(n: int) -> None:
        nonlocal done
        user = f"writer-{n}"
        while time.monotonic() < deadline:
            task = await repo.create(user, TaskCreate(title=f"bench {done}"))
            await repo.update(user, task.id, TaskUpdate(completed=True))
            await repo.delete(user, task.id)
            done += 3

    started = time.monotonic()
    await asyncio.gather(*(worker(n) for n in range(workers)))
    return done / (time.monotonic() - started)


async def bench_writes(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {}
    await databases._recreate(PG, [WRITES_DB])
    scratch = Path(tempfile.mkdtemp(prefix="todo-live-bench-"))
    backends = [("postgresql", databases.database_url(PG, WRITES_DB), args.concurrency)]
    backends.append(("sqlite", f"sqlite+aiosqlite:///{scratch / 'todo.db'}", [1]))
    try:
        for backend, url, concurrencies in backends:
            db = Database(url)
            await migrate(db)
            try:
                for workers in concurrencies:
                    with_log: list[float] = []
                    without: list[float] = []
                    for round_ in range(args.rounds):
                        order = [True, False] if round_ % 2 == 0 else [False, True]
                        for logged in order:
                            if logged:
                                with_log.append(await _write_mix(db, workers, args.duration))
                            else:
                                async with _without_log(db):
                                    without.append(await _write_mix(db, workers, args.duration))
                    a, b = statistics.median(with_log), statistics.median(without)
                    results[f"{backend} x{workers}"] = {
                        "with log (writes/s)": round(a),
                        "without (writes/s)": round(b),
                        "ratio": round(a / b, 3),
                    }
            finally:
                await db.dispose()
    finally:
        await databases._recreate(PG, [WRITES_DB], drop_only=True)
    return results


# --- streams -----------------------------------------------------------------------------------


async def _open_stream(
    port: int, user: str, token: str, on_change: Callable[[dict[str, Any], float], None]
) -> AsyncGenerator[None]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"GET /api/{user}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    writer.write(request.encode())
    await writer.drain()
    status = await reader.readline()
    if b" 200 " not in status:
        raise servers.BenchError(f"stream for {user}: {status!r}")
    while (await reader.readline()) not in (b"\r\n", b""):
        pass
    yield  # open
    try:
        while line := await reader.readline():
            if line.startswith(b"data: ") and b'"seq"' in line:
                on_change(json.loads(line[6:]), time.time())
    finally:
        writer.close()


async def bench_streams(args: argparse.Namespace) -> dict[str, Any]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * args.streams)), hard))
    await databases._recreate(PG, [STREAMS_DB])
    scratch = Path(tempfile.mkdtemp(prefix="todo-live-bench-"))
    port = servers.free_port()
    os.environ["HTTP_MAX_CONCURRENCY"] = str(args.streams * 2)
    server = servers.start_product(
        port, databases.database_url(PG, STREAMS_DB), scratch, scratch / "server.log"
    )
    delays: list[float] = []
    users = [f"live-{n}" for n in range(args.streams // STREAMS_PER_USER)]
    tokens = {user: servers.mint(user) for user in users}

    all_arrived = asyncio.Event()

    def on_change(change: dict[str, Any], arrived: float) -> None:
        delays.append(arrived - datetime.fromisoformat(change["at"]).timestamp())
        if len(delays) >= args.writes * STREAMS_PER_USER:
            all_arrived.set()

    try:
        servers.wait_healthy(server)
        before = servers.memory_mb(server.process.pid)["VmRSS"]
        streams = [
            _open_stream(port, user, tokens[user], on_change)
            for user in users
            for _ in range(STREAMS_PER_USER)
        ]
        for chunk in range(0, len(streams), 100):
            await asyncio.gather(*(anext(s) for s in streams[chunk : chunk + 100]))
        readers = [asyncio.create_task(anext(s, None)) for s in streams]
        await asyncio.sleep(1)
        opened = servers.memory_mb(server.process.pid)["VmRSS"]
        async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
            for n in range(args.writes):
                user = users[n % len(users)]
                response = await client.post(
                    f"/api/{user}/tasks",
                    json={"title": f"live {n}"},
                    headers={"Authorization": f"Bearer {tokens[user]}"},
                )
                response.raise_for_status()
                await asyncio.sleep(args.pace)
        expected = args.writes * STREAMS_PER_USER
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_arrived.wait(), 10)
        for task in readers:
            task.cancel()
        for stream in streams:
            with contextlib.suppress(Exception):
                await stream.aclose()
        ordered = sorted(delays)
        return {
            "streams": len(streams),
            "events": f"{len(delays)} of {expected}",
            "delay p50 (ms)": round(1000 * ordered[len(ordered) // 2], 1),
            "delay p99 (ms)": round(1000 * ordered[int(len(ordered) * 0.99)], 1),
            "RSS before / with streams (MB)": f"{before} / {opened}",
            "per stream (KiB)": round((opened - before) * 1024 / len(streams), 1),
        }
    finally:
        servers.stop(server)
        await databases._recreate(PG, [STREAMS_DB], drop_only=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    writes = commands.add_parser("writes")
    writes.add_argument("--duration", type=float, default=3.0)
    writes.add_argument("--rounds", type=int, default=2)
    writes.add_argument(
        "--concurrency", type=lambda text: [int(n) for n in text.split(",")], default=[1, 8]
    )
    streams = commands.add_parser("streams")
    streams.add_argument("--streams", type=int, default=1000)
    streams.add_argument("--writes", type=int, default=100)
    streams.add_argument("--pace", type=float, default=0.05, help="seconds between writes")
    args = parser.parse_args()
    run = bench_writes if args.command == "writes" else bench_streams
    print(json.dumps(asyncio.run(run(args)), indent=2))


if __name__ == "__main__":
    main()
