"""npm packages for tests that run Node programs: installed once per lock file into a cache
outside the repo by `scripts/node-deps`, which CI may also call ahead of the tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc

ROOT = Path(__file__).resolve().parents[2]
NODE_DEPS = ROOT / "scripts" / "node-deps"
# The first install downloads the packages (about half a minute here); later calls print a path.
INSTALL_S = 300


def node_modules(package_dir: Path) -> Path:
    """The installed node_modules of `package_dir` (its package.json and lock file)."""
    if shutil.which("npm") is None:
        raise RuntimeError("npm is needed to install the packages of " + str(package_dir))
    result = subprocess.run(
        [str(NODE_DEPS), str(package_dir)],
        capture_output=True,
        text=True,
        timeout=INSTALL_S,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/node-deps {package_dir} failed:\n{result.stderr}")
    return Path(result.stdout.strip())


def workdir_with(script: Path, modules: Path, workdir: Path) -> Path:
    """`workdir` holding a copy of `script` beside a link to `modules`, so that Node resolves
    the script's imports in the cache; returns the copy's path."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "node_modules").symlink_to(modules, target_is_directory=True)
    copy = workdir / script.name
    shutil.copyfile(script, copy)
    return copy


@asynccontextmanager
async def running_node(
    command: list[str], env: dict[str, str], cwd: Path, *, ready: str, wait_s: float
) -> AsyncIterator[str]:
    """A Node process that prints `ready` followed by a value on its first line; yields that
    value and terminates the process afterwards. Its stderr goes to `cwd/stderr.log`."""
    with (cwd / "stderr.log").open("wb") as stderr:
        process = await anyio.open_process(command, env=env, cwd=cwd, stderr=stderr)
        try:
            assert process.stdout is not None
            with anyio.fail_after(wait_s):
                line = await _first_line(process.stdout)
            if not line.startswith(ready):
                raise RuntimeError(f"{command} said {line!r}; see {cwd / 'stderr.log'}")
            yield line.removeprefix(ready).strip()
        finally:
            await _stop(process)


async def _first_line(stream: anyio.abc.ByteReceiveStream) -> str:
    data = b""
    while b"\n" not in data:
        try:
            data += await stream.receive()
        except anyio.EndOfStream:
            break
    return data.decode().partition("\n")[0]


async def _stop(process: anyio.abc.Process) -> None:
    if process.returncode is None:
        process.terminate()
        with anyio.move_on_after(10):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()
