"""The servers a benchmark runs: todo-api and the floor as processes on a port of their own,
waited for until healthy, seeded with a user's tasks, compared for parity and stopped; their
memory and loaded extensions read from /proc."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt

BENCH_DIR = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
SECRET = "bench-secret-that-is-long-enough-for-hs256-0123456789"
SEED_TASKS = 20


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
