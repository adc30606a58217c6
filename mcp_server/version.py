"""The package's version: written once, in pyproject.toml, and read from the installed metadata
by `todo-mcp --version`, `todo-api --version` and `GET /`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

DISTRIBUTION = "todo-mcp"


def package_version() -> str:
    # importlib.metadata scans the installed distributions: imported here, not at start-up, so
    # a stdio server that is not asked for its version never pays for it.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


class VersionAction(argparse.Action):
    """`--version`: prints `PROG VERSION` and exits, reading the version only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS) -> None:
        super().__init__(
            option_strings,
            dest=dest,
            default=argparse.SUPPRESS,
            nargs=0,
            help="print the version and exit",
        )

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"{parser.prog} {package_version()}")
        parser.exit()
