"""ARCHITECTURE.md's code map names every module of the four packages, and nothing that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("storage", "mcp_server", "agent", "http_adapter")
# Revisions are listed by the directory they live in, not one by one.
REVISIONS = Path("storage/migrations/versions")
# A map line: "- `package/module.py`: what it holds".
_MAP_ENTRY = re.compile(r"^- `((?:storage|mcp_server|agent|http_adapter)/[\w/]+\.py)`:", re.M)


def _modules() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if path.name != "__init__.py" and path.relative_to(ROOT).parent != REVISIONS
    }


def _mapped() -> set[str]:
    return set(_MAP_ENTRY.findall((ROOT / "ARCHITECTURE.md").read_text()))


def test_every_product_module_is_in_the_code_map() -> None:
    modules = _modules()

    assert len(modules) > 40
    assert not modules - _mapped(), "add these to ARCHITECTURE.md's code map"


def test_the_code_map_names_no_module_that_is_gone() -> None:
    assert not _mapped() - _modules(), "remove these from ARCHITECTURE.md's code map"


def test_no_test_module_imports_another_test_module() -> None:
    """Shared helpers live in tests/support (or beside their tests), never in a test module."""
    imports = {
        (path.relative_to(ROOT).as_posix(), line.strip())
        for path in (ROOT / "tests").rglob("test_*.py")
        for line in path.read_text().splitlines()
        if re.match(r"\s*(from|import) tests\.(\w+\.)*test_\w+", line)
    }

    assert not imports
