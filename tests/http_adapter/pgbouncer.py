"""A real PgBouncer in transaction mode in front of the test PostgreSQL, for the tests.

Debian's `pgbouncer` (1.18: no prepared statements in transaction mode). It refuses to run as
root, so as root it runs as `postgres`, with its files in a directory that user owns.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.support.deadlines import deadline

START_S = deadline(30)
# Few server connections for many clients: transactions of different clients share them.
SERVER_CONNECTIONS = 4


def pgbouncer_path() -> str | None:
    return shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.access(p, os.X_OK)), None
    )


@contextmanager
def pgbouncer(postgres_url: str) -> Iterator[int]:
    """Run PgBouncer for every database of `postgres_url`'s server; yields its port."""
    executable = pgbouncer_path()
    assert executable is not None, "pgbouncer is not installed"
    target = make_url(postgres_url)
    port = _free_port()
    # Its own directory right under the temporary directory: the user it runs as must reach it
    # (pytest's directories are private to the user running the tests).
    workdir = Path(tempfile.mkdtemp(prefix="todo-pgbouncer-"))
    user = target.username or "postgres"
    config = workdir / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={target.host or '127.0.0.1'} port={target.port or 5432} user={user}"
        + (f" password={target.password}" if target.password else "")
        + "\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\n"
        f"unix_socket_dir =\nauth_type = trust\nauth_file = {workdir / 'users.txt'}\n"
        f"pool_mode = transaction\ndefault_pool_size = {SERVER_CONNECTIONS}\n"
        "max_client_conn = 1000\nmax_db_connections = 20\n"
        f"logfile = {workdir / 'pgbouncer.log'}\npidfile = {workdir / 'pgbouncer.pid'}\n"
        "ignore_startup_parameters = extra_float_digits,options\n"
    )
    (workdir / "users.txt").write_text(f'"{user}" ""\n')
    command = [executable, str(config)]
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres")
        for path in workdir.iterdir():
            shutil.chown(path, "postgres")
        command[1:1] = ["-u", "postgres"]
    with (workdir / "stderr.txt").open("wb") as stderr:
        process = subprocess.Popen(command, stdout=stderr, stderr=subprocess.STDOUT)
    try:
        _wait_for_port(process, port, workdir)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=START_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_for_port(process: subprocess.Popen[bytes], port: int, workdir: Path) -> None:
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"pgbouncer exited: {_output(workdir)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"pgbouncer did not listen on {port}: {_output(workdir)}")


def _output(workdir: Path) -> str:
    texts = [
        p.read_text(errors="replace")
        for p in (workdir / "stderr.txt", workdir / "pgbouncer.log")
        if p.exists()
    ]
    return "\n".join(texts)[-2000:]
