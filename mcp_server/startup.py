"""The one line each server prints on stderr as it starts: its version, the database it opened,
the user a stdio server acts for and how requests are authenticated. A host that starts the
server elsewhere than the clone (without its `.env`) shows at once which database it got."""

from __future__ import annotations

from mcp_server.settings import ServerSettings
from mcp_server.version import package_version
from storage.location import describe_database


def startup_line(
    program: str, settings: ServerSettings, *, auth: str, user: str | None = None
) -> str:
    source = "DATABASE_URL" if settings.database_url else "the default in TODO_DATA_DIR"
    parts = [f"database {describe_database(settings.resolved_database_url(), source)}"]
    if user:
        parts.append(f"user {user}")
    parts.append(f"auth {auth}")
    return f"{program} {package_version()}: " + "; ".join(parts)
