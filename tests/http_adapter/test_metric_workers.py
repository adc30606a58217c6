"""`todo-api --workers N` with metrics on, as a real process: the counts of an earlier run are
not this run's, and a worker that dies stops counting in the live gauges."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.support.environment import clean_environment
from tests.support.processes import serving

TODO_API = Path(sys.executable).parent / "todo-api"
SECRET = "a-secret-for-the-worker-tests-0123456789abcdef"
# Bounded: the supervisor looks at its workers every half second, but waits up to its health
# check (30 s) on each worker that does not answer at once.
REPLACED_S = 90
STARTUP_S = 60

# What an earlier run left behind: one /health request and 7 connections in use, by a process
# that has since exited.
_EARLIER_RUN = """
from http_adapter.metrics import Metrics
Metrics(lambda: 7).observe_request("GET", "/health", 200, 0.01)
"""


async def first_answer(client: httpx.AsyncClient) -> None:
    """With workers the port listens only once a worker has started (after the parent has
    reported the address): wait, bounded, until one answers."""
    with anyio.fail_after(STARTUP_S):
        while True:
            try:
                await client.get("/livez")
                return
            except httpx.ConnectError:
                await anyio.sleep(0.1)


def value(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return sample.value
    return 0.0


def live_gauge_pids(directory: Path) -> set[int]:
    return {int(path.stem.rsplit("_", 1)[1]) for path in directory.glob("gauge_livesum_*.db")}


async def test_workers_start_from_zero_and_forget_a_dead_worker(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    settings = {"METRICS_ENABLED": "1", "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    env = clean_environment(tmp_path / "data", BETTER_AUTH_SECRET=SECRET, **settings)
    with anyio.fail_after(STARTUP_S):
        await anyio.run_process([sys.executable, "-c", _EARLIER_RUN], env=env)
    [earlier] = live_gauge_pids(directory)

    command = [str(TODO_API), "--port", "0", "--workers", "2"]
    async with (
        serving(command, env=env, cwd=tmp_path) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as client,
    ):
        await first_answer(client)
        assert (await client.get("/health")).status_code == 200
        text = (await client.get("/metrics")).text
        assert (
            value(text, "todo_http_requests_total", method="GET", route="/health", status="200")
            == 1
        )
        assert value(text, "todo_db_pool_connections_in_use") == 0
        assert earlier not in live_gauge_pids(directory)
        # The second worker may still be starting: wait, bounded, until both have their files.
        with anyio.fail_after(STARTUP_S):
            while len(workers := live_gauge_pids(directory)) < 2:  # noqa: ASYNC110 (files)
                await anyio.sleep(0.1)
        assert earlier not in workers

        dead = min(workers)
        os.kill(dead, signal.SIGKILL)
        with anyio.fail_after(REPLACED_S):
            while dead in live_gauge_pids(directory):  # noqa: ASYNC110 (files: nothing to await)
                await anyio.sleep(0.1)  # polls the directory; the deadline above bounds it
