"""Configuration shared by `todo-mcp` and `todo-api`, from the environment and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, TypeVar

from platformdirs import user_data_dir
from pydantic import BeforeValidator, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "todo-mcp"

_T = TypeVar("_T")


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


# A setting left blank (`GEMINI_API_KEY=` in `.env`, as `.env.example` has it) is a setting not
# given: its default, never an empty string to validate or use.
BlankIsNone = Annotated[_T | None, BeforeValidator(_blank_is_none)]


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    # --- the database ---
    database_url: BlankIsNone[str] = Field(default=None, validation_alias="DATABASE_URL")
    # Shared by todo-mcp and todo-api so that both see the same tasks by default.
    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir(APP_NAME, appauthor=False)),
        validation_alias="TODO_DATA_DIR",
    )
    database_wait_s: float = Field(
        default=30.0,
        ge=0,
        validation_alias="DATABASE_WAIT_S",
        description="seconds to wait for an unreachable database at start before giving up",
    )
    # Scale-out: PostgreSQL reached through a connection pooler (both servers may be behind one).
    database_pooler: BlankIsNone[Literal["transaction"]] = Field(
        default=None,
        validation_alias="DATABASE_POOLER",
        description="`transaction` behind a transaction-mode pooler (PgBouncer, Neon -pooler)",
    )

    # --- users and their tasks ---
    user_id: BlankIsNone[str] = Field(default=None, validation_alias="TODO_USER_ID")
    task_quota: int = Field(default=10_000, ge=1, validation_alias="TODO_TASK_QUOTA")

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        from storage.database import default_url

        return default_url(self.data_dir)
