"""A pytest plugin `scripts/test` loads (`-p tests.support.live_failures`): each failure is
named the moment it happens, not only in the summary at the end of a long run, and SIGTERM
ends a run as Ctrl-C does, with the summary of what ran and the session's clean-up."""

from __future__ import annotations

import signal
from types import FrameType

import pytest


class _LiveFailures:
    def __init__(self, config: pytest.Config) -> None:
        self._config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.failed:
            return
        reporter = self._config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        stage = "" if report.when == "call" else f" (in {report.when})"
        reporter.ensure_newline()
        reporter.write_line(f"FAILED {report.nodeid}{stage}", red=True, bold=True)


def _interrupt(_signal: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker: its reports reach the controller, which names them
    config.pluginmanager.register(_LiveFailures(config), "live-failures")
    signal.signal(signal.SIGTERM, _interrupt)
