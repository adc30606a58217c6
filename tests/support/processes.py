"""Servers the tests run as real processes: started on a port the kernel picks, found through
the address the server itself reports, and never waited on blindly."""

from __future__ import annotations

import re
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio
import anyio.abc
import pytest

from tests.support.deadlines import deadline

# Generous: a cold start imports the whole stack; a hang still fails instead of blocking.
STARTUP_S = deadline(90)
STOP_S = deadline(30)
# uvicorn's start-up line; with port 0 it names the port the kernel gave it.
_LISTENING = re.compile(r"Uvicorn running on (http://\S+)")


@dataclass(frozen=True)
class Server:
    url: str
    process: anyio.abc.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@asynccontextmanager
async def serving(
    command: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    name: str = "server",
    startup_s: float = STARTUP_S,
) -> AsyncIterator[Server]:
    """Run `command`, a server told to listen on port 0, in `cwd` until the block ends; yields
    it with the base URL it reports. A server that exits or says nothing in time fails the
    test at once, with everything it printed (kept in `cwd/NAME.log`)."""
    log = cwd / f"{name}.log"
    with log.open("wb") as sink:
        process = await anyio.open_process(
            list(command),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            url = await _reported_url(process, log, startup_s)
            yield Server(url=url, process=process, log=log)
        finally:
            if process.returncode is None:
                process.terminate()
            with anyio.fail_after(STOP_S):
                await process.wait()


async def _reported_url(process: anyio.abc.Process, log: Path, startup_s: float) -> str:
    output = anyio.Path(log)
    with anyio.move_on_after(startup_s):
        while True:
            found = _LISTENING.search(await output.read_text(errors="replace"))
            if found:
                return found.group(1)
            if process.returncode is not None:
                break
            await anyio.sleep(0.05)  # polls the log; the deadline above bounds it
    # The process may have exited between the two reads: report what it said in full.
    state = "still running" if process.returncode is None else f"exit {process.returncode}"
    said = await output.read_text(errors="replace")
    pytest.fail(f"the server did not report its address ({state}); its output:\n{said}")


@contextmanager
def refused_port() -> Iterator[int]:
    """A port on 127.0.0.1 that refuses connections while the block runs: bound here, so
    nothing else can take it, but never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        yield port
