"""The README's structure and the texts it quotes: three readers' paths that each reach a
command in their first screen, the start-up line as the servers print it, and the docs linked."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mcp_server.settings import ServerSettings
from mcp_server.startup import startup_line
from mcp_server.version import package_version
from storage.database import DatabaseURLError, resolve_url
from tests.project.readme import ROOT, section

# A screen of a README on a laptop: about this many lines of its section.
FIRST_SCREEN_LINES = 40
PATHS = ("Use it from Claude", "Build on the API", "Run it for others")


@pytest.mark.parametrize("heading", PATHS)
def test_each_readers_path_gives_a_command_in_its_first_screen(heading: str) -> None:
    first_screen = "\n".join(section(heading).splitlines()[:FIRST_SCREEN_LINES])
    assert "```" in first_screen, heading


def test_the_readme_quotes_the_start_up_line_as_todo_mcp_prints_it(tmp_path: Path) -> None:
    text = section("Use it from Claude")
    quoted = re.search(r"`(todo-mcp \S+: database SQLite (\S+) [^`]*)`", text)
    assert quoted, "no start-up line quoted"
    settings = ServerSettings(_env_file=None, TODO_DATA_DIR=str(tmp_path))
    printed = startup_line(
        "todo-mcp", settings, auth="none (stdio acts for its one user)", user="alice"
    )
    expected = quoted[1].replace(quoted[2], str(tmp_path / "todo.db"))
    assert printed == expected.replace("todo-mcp 0.1.0", f"todo-mcp {package_version()}")


def test_host_settings_are_said_to_go_in_the_host_configs_env() -> None:
    assert 'host config\'s `"env"`, not in `.env`' in section("Use it from Claude")


def test_the_database_url_error_gives_the_readmes_sqlite_form() -> None:
    with pytest.raises(DatabaseURLError) as raised:
        resolve_url("mysql://localhost/todo")
    (example,) = re.findall(r"sqlite:////\S+", str(raised.value))
    assert "`sqlite:////" in section("Configuration")
    assert example.startswith("sqlite:////")


def test_more_links_every_topic_document() -> None:
    more = section("More")
    for name in ("chat-ui", "chat", "lists-and-recurrence", "live-sync", "operations"):
        assert f"](docs/{name}.md)" in more, name


def test_every_docs_link_of_the_readme_names_a_file_or_a_topic_document() -> None:
    text = (ROOT / "README.md").read_text()
    topics = set(re.findall(r"\]\(docs/([a-z-]+)\.md\)", section("More")))
    for name in re.findall(r"\]\(docs/([a-z-]+)\.md\)", text):
        assert (ROOT / "docs" / f"{name}.md").exists() or name in topics, name
