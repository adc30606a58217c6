"""`scripts/test`'s plugin names a failure the moment it happens, before the run's end."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

from tests.support.deadlines import deadline

ROOT = Path(__file__).resolve().parents[2]
RUN_S = deadline(60)
TESTS = """
def test_fails():
    assert 1 == 2

def test_after_it():
    pass
"""


async def test_a_failure_is_named_before_the_failures_section(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(TESTS)
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest", "-p", "tests.support.live_failures", "-q"]
    with anyio.fail_after(RUN_S):
        result = await anyio.run_process(
            [*command, "-p", "no:cacheprovider", "test_sample.py"],
            cwd=tmp_path,
            env=env,
            check=False,
        )
    output = result.stdout.decode()
    assert result.returncode == 1, output
    live = output.index("FAILED test_sample.py::test_fails\n")
    assert live < output.index("= FAILURES =")
