"""Which environment variables configure the product, and the environment a product process
started by a test gets: the test's settings and nothing of the developer's.

The names come from the settings classes themselves, so a setting added to one of them is
kept out of the tests without anyone listing it here. The few variables read some other way
(by a library the product configures) are listed below; `test_environment.py` checks that no
other read of the environment appears in the product's code.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from pydantic import AliasChoices, AliasPath
from pydantic_settings import BaseSettings

from http_adapter.settings import ApiSettings
from mcp_server.settings import ServerSettings

PRODUCT_PACKAGES = ("storage", "mcp_server", "http_adapter", "agent")
# Read by the libraries the product configures, outside its settings classes:
# google-genai (Vertex mode, project, key fallback), fastmcp's own settings, and py-key-value,
# which `todo-mcp` sets up through the environment.
LIBRARY_VARIABLES = frozenset(
    {
        "GOOGLE_API_KEY",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "PY_KEY_VALUE_DISABLE_BEARTYPE",
    }
)
LIBRARY_PREFIXES = ("GOOGLE_GENAI_", "FASTMCP_")
# The test run's own configuration (see tests/support/postgres.py), never the product's.
TEST_RUNNER_VARIABLES = frozenset({"TODO_TEST_POSTGRES_URL", "TODO_REQUIRE_POSTGRES"})


def _settings_classes() -> Iterator[type[BaseSettings]]:
    # The servers' settings, and any other settings class of the product imported by now.
    yield from (ServerSettings, ApiSettings)
    pending = list(BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] in PRODUCT_PACKAGES:
            yield cls


def _names_of(cls: type[BaseSettings]) -> Iterator[str]:
    """The environment variables pydantic-settings reads for `cls`'s fields."""
    prefix = cls.model_config.get("env_prefix") or ""
    by_name = cls.model_config.get("populate_by_name") or cls.model_config.get("validate_by_name")
    for name, field in cls.model_fields.items():
        alias = field.validation_alias
        choices: list[str | AliasPath] = []
        if isinstance(alias, str):
            choices = [alias]
        elif isinstance(alias, AliasChoices):
            choices = list(alias.choices)
        elif isinstance(alias, AliasPath):
            choices = [alias]
        for choice in choices:
            first = choice if isinstance(choice, str) else choice.path[0]
            if isinstance(first, str):
                yield first
        if alias is None or by_name:
            yield f"{prefix}{field.alias or name}"


def product_settings() -> frozenset[str]:
    """Every variable a settings class of the product reads, upper-cased."""
    return (
        frozenset(name.upper() for cls in _settings_classes() for name in _names_of(cls))
        | LIBRARY_VARIABLES
    )


PRODUCT_SETTINGS = product_settings()


def configures_the_product(name: str) -> bool:
    """Whether the environment variable `name` would change what the product does.

    pydantic-settings matches names case-insensitively, so this does too.
    """
    upper = name.upper()
    if upper in TEST_RUNNER_VARIABLES:
        return False
    return upper in PRODUCT_SETTINGS or upper.startswith(LIBRARY_PREFIXES)


def clean_environment(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment for a product process a test starts: the parent's (PATH, the virtual
    environment) without any product setting, the data dir inside the test's own directory,
    and `settings`. Start the process in a directory of the test's, so that no `.env` of the
    developer's is read either."""
    env = {name: value for name, value in os.environ.items() if not configures_the_product(name)}
    env["TODO_DATA_DIR"] = str(data_dir)
    env.update(settings)
    return env
