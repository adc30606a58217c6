"""Settings that would make a deployed server unsafe or a browser fail are refused at start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from http_adapter.settings import EXAMPLE_SECRET, ApiSettings
from mcp_server.settings import ServerSettings

LONG_SECRET = "a-secret-for-the-settings-tests-0123456789abcdef"
POSTGRES = "postgresql://todo@db.example.com/todo"


def settings(tmp_path: Path, **values: Any) -> ApiSettings:
    return ApiSettings(_env_file=None, TODO_DATA_DIR=str(tmp_path), **values)


def refusal(tmp_path: Path, **values: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        settings(tmp_path, **values)
    (error,) = caught.value.errors(include_url=False)
    message = str(error["msg"])
    assert "\n" not in message
    return message


def test_blank_settings_of_both_classes_are_unset(tmp_path: Path) -> None:
    built = settings(
        tmp_path, DATABASE_URL=" ", TODO_USER_ID="", DATABASE_POOLER="", GEMINI_API_KEY=" "
    )
    assert (built.database_url, built.user_id, built.database_pooler) == (None, None, None)
    assert built.gemini_api_key is None
    server = ServerSettings(_env_file=None, TODO_USER_ID=" ", DATABASE_POOLER=" ")
    assert (server.user_id, server.database_pooler) == (None, None)


def test_the_example_secret_is_refused_even_locally(tmp_path: Path) -> None:
    message = refusal(tmp_path, BETTER_AUTH_SECRET=EXAMPLE_SECRET)
    assert ".env.example" in message
    assert "openssl rand" in message


@pytest.mark.parametrize(
    "deployment",
    [{"DATABASE_URL": POSTGRES}, {"PUBLIC_URL": "https://todo.example.com"}],
)
def test_a_short_secret_is_refused_outside_development(
    tmp_path: Path, deployment: dict[str, str]
) -> None:
    message = refusal(tmp_path, BETTER_AUTH_SECRET="short-secret", **deployment)
    assert "12 characters" in message
    assert "32 or more" in message


def test_a_short_secret_only_warns_on_the_local_default(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    built = settings(tmp_path, BETTER_AUTH_SECRET="short-secret")
    assert built.better_auth_secret == "short-secret"
    assert "shorter than 32" in caplog.text


def test_postgres_behind_https_without_a_secret_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, DATABASE_URL=POSTGRES, PUBLIC_URL="https://todo.example.com")
    assert "BETTER_AUTH_SECRET" in message
    assert "its own secret" in message


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"DATABASE_URL": POSTGRES},
        {"PUBLIC_URL": "https://todo.example.com"},
        {
            "DATABASE_URL": POSTGRES,
            "PUBLIC_URL": "https://todo.example.com",
            "BETTER_AUTH_SECRET": LONG_SECRET,
        },
        {
            "DATABASE_URL": POSTGRES,
            "PUBLIC_URL": "https://todo.example.com",
            "BETTER_AUTH_URL": "https://auth.example.com",
        },
    ],
)
def test_development_mode_and_configured_deployments_are_accepted(
    tmp_path: Path, values: dict[str, str]
) -> None:
    settings(tmp_path, **values)


def test_cors_origins_lose_a_trailing_slash(tmp_path: Path) -> None:
    built = settings(tmp_path, CORS_ORIGINS="http://localhost:3000/, https://App.example.com")
    assert built.cors_origins == ["http://localhost:3000", "https://app.example.com"]


@pytest.mark.parametrize(
    "origin", ["localhost:3000", "http://localhost:3000/app", "ftp://x.example.com", "https://"]
)
def test_what_is_not_an_origin_is_refused_in_one_line(tmp_path: Path, origin: str) -> None:
    message = refusal(tmp_path, CORS_ORIGINS=f"http://localhost:3000,{origin}")
    assert repr(origin) in message
    assert "scheme://host[:port]" in message


def test_the_secret_shown_in_env_example_is_the_one_refused(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / ".env.example"
    (shown,) = [
        line.split("=", 1)[1]
        for line in example.read_text().splitlines()
        if line.startswith("# BETTER_AUTH_SECRET=")
    ]
    assert ".env.example" in refusal(tmp_path, BETTER_AUTH_SECRET=shown)
