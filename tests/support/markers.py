"""The `process` marker: every test that starts a process (a server, a browser, Node, a linter)
is marked, so that `pytest -m "not process"` is the quick inner loop.

Marked twice over. At collection, a test is marked when its function, a fixture it uses, or any
function or class of the tests it reaches (followed through names, transitively) refers to
something that starts a process (`STARTERS`); `@pytest.mark.process` marks one by hand. At run
time an audit hook refuses a process to any test that is not marked, naming the marker, so a
test the reading missed fails in the quick loop instead of slowing it down unnoticed.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import anyio
import pytest
from mcp.client.stdio import stdio_client
from selenium import webdriver

MARKER = "process"
# What starts a process; anything of the tests' own that refers to one of these does too.
STARTERS: tuple[object, ...] = (
    subprocess,
    anyio.run_process,
    anyio.open_process,
    asyncio.create_subprocess_exec,
    asyncio.create_subprocess_shell,
    stdio_client,
    webdriver,
)
_SPAWNING_EVENTS = {"subprocess.Popen", "os.posix_spawn", "os.fork", "os.exec", "os.system"}


def _is_starter(value: object) -> bool:
    return any(value is starter for starter in STARTERS)


def _ours(value: object) -> bool:
    module = getattr(value, "__module__", None) or ""
    return module.startswith("tests.") or module == "conftest"


def _referenced(function: Any) -> Iterator[object]:
    """The module-level objects a function's (or class's) source refers to by name, and the
    attributes it reads of them (`subprocess.run`, `anyio.run_process`)."""
    try:
        source = textwrap.dedent(inspect.getsource(function))
    except (OSError, TypeError):
        return
    module = sys.modules.get(getattr(function, "__module__", "") or "")
    names: dict[str, Any] = dict(vars(module)) if module else {}
    for node in ast.walk(ast.parse(source)):
        chain: list[str] = []
        while isinstance(node, ast.Attribute):
            chain.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name) or node.id not in names:
            continue
        value = names[node.id]
        yield value
        for attribute in reversed(chain):
            value = getattr(value, attribute, None)
            if value is None:
                break
            yield value


_KNOWN: dict[object, bool] = {}


def starts_processes(function: Any) -> bool:
    """Whether `function` (or a class) refers to a process starter, directly or through the
    tests' own functions and classes it names. Remembered: many tests share their helpers."""
    if function in _KNOWN:
        return _KNOWN[function]
    _KNOWN[function] = False  # while looking: a cycle adds nothing
    found = False
    for value in _referenced(function):
        if _is_starter(value):
            found = True
        elif isinstance(value, ModuleType):
            continue
        elif (inspect.isfunction(value) or inspect.isclass(value)) and _ours(value):
            found = starts_processes(value)
        if found:
            break
    _KNOWN[function] = found
    return found


def mark_process_tests(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker(MARKER) is not None or not isinstance(item, pytest.Function):
            continue
        fixtures = [
            definitions[-1].func
            for definitions in item._fixtureinfo.name2fixturedefs.values()
            if definitions
        ]
        if any(starts_processes(f) for f in [item.function, *fixtures]):
            item.add_marker(MARKER)


class ProcessGuard:
    """Refuses a process to a test not marked `process` (an audit hook: it sees every way a
    process is started, the asyncio and anyio ones included)."""

    def __init__(self) -> None:
        self.current: pytest.Item | None = None
        sys.addaudithook(self._audit)

    def _audit(self, event: str, _args: tuple[object, ...]) -> None:
        item = self.current
        if item is None or event not in _SPAWNING_EVENTS:
            return
        if item.get_closest_marker(MARKER) is None:
            raise RuntimeError(
                f"{item.nodeid} starts a process but is not marked: add @pytest.mark.{MARKER}"
            )
