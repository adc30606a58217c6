"""The supervisor of `todo-api --workers N`: uvicorn's, and it tells the metrics of every worker
that has exited (crashed and replaced, retired by SIGHUP or SIGTTOU, or stopped at the end), so
that a dead worker's live gauges stop counting in the sum every scrape reports."""

from __future__ import annotations

from uvicorn.supervisors import Multiprocess

from http_adapter.metrics import forget_worker


class Supervisor(Multiprocess):
    # uvicorn replaces and retires workers in these three places; each is wrapped to see which
    # worker ids are gone afterwards.
    def keep_subprocess_alive(self) -> None:
        before = self._pids()
        super().keep_subprocess_alive()
        self._forget(before - self._pids())

    def handle_signals(self) -> None:
        before = self._pids()
        super().handle_signals()
        self._forget(before - self._pids())

    def join_all(self) -> None:
        super().join_all()
        self._forget(self._pids())

    def _pids(self) -> set[int]:
        return {process.pid for process in self.processes if process.pid is not None}

    @staticmethod
    def _forget(pids: set[int]) -> None:
        for pid in pids:
            forget_worker(pid)
