"""`.env.example` and `docker-compose.yml` against the README: every variable of the
configuration table is in .env.example with a comment, and nothing else is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
_ASSIGNMENT = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=")


def _table_names(section: str) -> set[str]:
    names: set[str] = set()
    for line in section.splitlines():
        cells = line.split("|")
        if line.startswith("|") and len(cells) > 2:
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", cells[1]))
    return names


def readme_variables() -> set[str]:
    """The names in the first column of the README's configuration table, and of the
    `## Settings` tables of the topic documents in docs/."""
    text = (ROOT / "README.md").read_text()
    names = _table_names(text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0])
    for document in sorted((ROOT / "docs").glob("*.md")):
        parts = document.read_text().split("\n## Settings\n", 1)
        if len(parts) == 2:
            names |= _table_names(parts[1].split("\n## ", 1)[0])
    return names


def env_example() -> list[str]:
    return (ROOT / ".env.example").read_text().splitlines()


def test_env_example_lists_every_variable_of_the_readme_table() -> None:
    listed = [match[1] for line in env_example() if (match := _ASSIGNMENT.match(line))]

    assert len(listed) == len(set(listed)), "a variable is listed twice"
    assert readme_variables(), "no configuration table found in the README"
    assert set(listed) == readme_variables()


def test_every_variable_of_env_example_has_a_comment_line_above_it() -> None:
    lines = env_example()
    for number, line in enumerate(lines):
        if _ASSIGNMENT.match(line):
            above = lines[number - 1] if number else ""
            assert above.startswith("# "), line
            assert not _ASSIGNMENT.match(above), line


def test_env_example_changes_nothing_until_edited() -> None:
    """Copied to .env as it is, every setting keeps its default: all assignments are comments."""
    assert not [line for line in env_example() if line and not line.startswith("#")]


def _compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return document


def test_compose_runs_the_api_from_the_dockerfile_after_a_healthy_postgres_16() -> None:
    services = _compose()["services"]
    db, api = services["db"], services["todo-api"]

    assert db["image"] == "postgres:16"
    assert "healthcheck" in db
    volume = db["volumes"][0].split(":")[0]
    assert volume in _compose()["volumes"]
    assert api["build"] == "."
    assert api["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert [entry["path"] for entry in api["env_file"]] == [".env"]
    assert api["environment"]["DATABASE_URL"].startswith("postgresql://todo:todo@db:5432/")
