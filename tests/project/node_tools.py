"""The Node tools `scripts/node-tools` installs outside the repository. Missing: the test is
skipped on a developer's machine and fails under CI (CI=true), where .ci/run installs them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "todo-mcp" / "node"
NODE_TOOLS = Path(os.environ.get("TODO_NODE_TOOLS", CACHE))


def node_tool(name: str) -> str:
    path = NODE_TOOLS / "node_modules" / ".bin" / name
    if not path.exists():
        message = f"{name} is not installed in {NODE_TOOLS} (run scripts/node-tools)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return str(path)
