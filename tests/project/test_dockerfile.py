"""The image's install and start commands, run outside Docker (no engine here): the build
stage's RUN steps in a directory standing for the image's file system, then the final stage's
CMD with its ENV, answering /health on the port PORT gives, and its HEALTHCHECK passing."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import anyio

from tests.project.dockerfile import Stage, env_pairs, exec_form, read_stages
from tests.support.processes import serving

ROOT = Path(__file__).resolve().parents[2]
# uv, its venv and the install from the lock: seconds with a warm cache, more on a cold one.
INSTALL_S = 240
HEALTHCHECK_S = 30
# The image's own directories, moved under the test's directory.
_VARIABLE = re.compile(r"\$(?:(\w+)|\{(\w+)\})")
_IMAGE_PATH = re.compile(r"(?<![\w.$/-])/(?:opt|src|data)(?=/|\b)")


def _in_root(text: str, root: Path) -> str:
    return _IMAGE_PATH.sub(lambda match: f"{root}{match[0]}", text)


def _stage_env(stage: Stage, root: Path, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    for step in stage.all("ENV"):
        for name, value in env_pairs(step.arguments):
            # Docker expands $NAME from the ENV so far, not from this process's environment.
            env[name] = _VARIABLE.sub(lambda m: env.get(m[1] or m[2], ""), _in_root(value, root))
    return env


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _base_env(tmp_path: Path) -> dict[str, str]:
    """What the python base image gives: a `python` (this one's interpreter, not a venv's) on
    PATH, and HOME; plus the caches, so that installs are as quick as on a warm builder."""
    python_dir = tmp_path / "python-bin"
    python_dir.mkdir()
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (python_dir / "python").symlink_to(Path(sys.base_prefix) / "bin" / version)
    path = os.pathsep.join([str(python_dir), "/usr/local/bin", "/usr/bin", "/bin"])
    keep = ("HOME", "UV_CACHE_DIR", "XDG_CACHE_HOME", "PIP_FIND_LINKS", "PIP_CERT", "SSL_CERT_FILE")
    return {"PATH": path, **{name: os.environ[name] for name in keep if name in os.environ}}


def _build(stage: Stage, root: Path, base: dict[str, str]) -> None:
    env = _stage_env(stage, root, base)
    # The one setting left out: compiling every installed module ahead lets the container
    # start sooner, and here it would double the test's CPU time without testing anything.
    env.pop("UV_COMPILE_BYTECODE", None)
    workdir = root
    root.mkdir()
    for step in stage.instructions:
        if step.keyword == "WORKDIR":
            workdir = Path(_in_root(step.arguments, root))
            workdir.mkdir(parents=True, exist_ok=True)
        elif step.keyword == "COPY":
            *sources, destination = step.arguments.split()
            target = workdir / _in_root(destination, root)
            for source in sources:
                origin = ROOT / source
                if origin.is_dir():
                    shutil.copytree(
                        origin,
                        target / origin.name if destination.endswith("/") else target,
                        dirs_exist_ok=True,
                    )
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target / origin.name)
        elif step.keyword == "RUN":
            # Cache mounts (--mount=type=cache,...) become this machine's own caches.
            command = re.sub(r"^(--\S+\s+)+", "", step.arguments)
            subprocess.run(
                ["sh", "-c", _in_root(command, root)],
                cwd=workdir,
                env=env,
                check=True,
                timeout=INSTALL_S,
            )


def test_image_runs_as_a_numeric_non_root_user() -> None:
    final = read_stages(ROOT / "Dockerfile")[-1]

    user = final.last("USER").arguments.split(":")[0]
    assert user.isdigit(), user
    assert int(user) > 0


async def test_image_install_and_start_commands_serve_health_on_port(tmp_path: Path) -> None:
    build, final = read_stages(ROOT / "Dockerfile")[0], read_stages(ROOT / "Dockerfile")[-1]
    root = tmp_path / "image"
    base = _base_env(tmp_path)

    await anyio.to_thread.run_sync(_build, build, root, base)

    env = _stage_env(final, root, base)
    port = _unused_port()  # not 0: the HEALTHCHECK reads the same PORT
    env.update(PORT=str(port), BETTER_AUTH_SECRET="a-secret-for-the-image-test-0123456789abcdef")
    data = Path(env["TODO_DATA_DIR"])
    await anyio.Path(data).mkdir(parents=True)
    start = exec_form(final.last("CMD").arguments)
    # The command is looked up on the image's PATH, as Docker does.
    program = shutil.which(start[0], path=env["PATH"])
    assert program is not None
    assert program.startswith(str(root)), program
    async with serving([program, *start[1:]], env=env, cwd=data) as server:
        assert server.url.endswith(f":{port}"), server.url  # the port PORT gave
        probe = exec_form(final.last("HEALTHCHECK").arguments.split(" CMD ", 1)[1])
        healthcheck = await anyio.run_process(
            [shutil.which(probe[0], path=env["PATH"]) or probe[0], *probe[1:]],
            env=env,
            check=False,
        )
    assert healthcheck.returncode == 0, healthcheck.stderr.decode()
    assert await anyio.Path(data / "todo.db").exists()
