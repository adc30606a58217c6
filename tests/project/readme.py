"""Reading the README the way its readers do: a section by its heading, its code blocks."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where the README says to put the clone; tests put this repository there.
CLONE_PLACEHOLDER = "/path/to/todo-mcp"


def section(heading: str) -> str:
    """The text under `## heading` (or `### heading`) up to the next heading of that level."""
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.MULTILINE)
    assert match, f"no section {heading!r} in the README"
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{len(match[1])}}} ", rest, re.MULTILINE)
    return rest[: end.start()] if end else rest


def code_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
