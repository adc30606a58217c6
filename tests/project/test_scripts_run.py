"""`scripts/run` says the address todo-api will really listen on."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from tests.support.processes import STARTUP_S

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("args", "env", "address"),
    [
        ([], {}, "http://127.0.0.1:8000"),
        (["--port", "8123"], {}, "http://127.0.0.1:8123"),
        (["--port=8124", "--host", "0.0.0.0"], {"PORT": "9000"}, "http://0.0.0.0:8124"),
        ([], {"PORT": "8125"}, "http://127.0.0.1:8125"),
    ],
)
async def test_the_banner_names_the_port_todo_api_will_use(
    args: list[str], env: dict[str, str], address: str
) -> None:
    environment = {k: v for k, v in os.environ.items() if k != "PORT"} | env
    with anyio.fail_after(STARTUP_S):
        # --help: todo-api prints its usage and exits instead of serving.
        result = await anyio.run_process(
            [str(ROOT / "scripts" / "run"), *args, "--help"], env=environment
        )
    banner = result.stderr.decode()
    assert f"starting on {address}\n" in banner
    assert f"{address}/docs" in banner
