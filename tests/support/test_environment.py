"""The tests run the product configured by themselves alone (see `configured_by_the_tests_alone`
in tests/conftest.py), whatever the developer's environment or `.env` file says."""

from __future__ import annotations

import os
import re
from pathlib import Path

from http_adapter.settings import ApiSettings
from tests.support.environment import PRODUCT_PACKAGES, configures_the_product

ROOT = Path(__file__).resolve().parents[2]
# `os.environ["X"]`, `os.environ.get("X")`, `.setdefault`, `.pop`, `os.getenv("X")`.
_READ = re.compile(
    r"""(?:environ(?:\.(?:get|setdefault|pop))?\s*[\[(]|getenv\s*\()\s*["']([^"']+)["']"""
)


def test_no_setting_of_the_product_is_in_the_environment() -> None:
    assert [name for name in os.environ if configures_the_product(name)] == []
    assert not (Path.cwd() / ".env").exists()


def test_settings_built_as_the_servers_build_them_have_their_defaults() -> None:
    # Like `todo-api`: from the environment and a .env in the working directory.
    built = ApiSettings()

    defaults = {
        name: field.get_default(call_default_factory=True)
        for name, field in ApiSettings.model_fields.items()
    }
    assert built.model_dump() == ApiSettings.model_validate(defaults).model_dump()


def test_every_variable_the_product_reads_directly_is_kept_out() -> None:
    sources = [path for package in PRODUCT_PACKAGES for path in (ROOT / package).rglob("*.py")]
    assert sources
    read = {
        (str(path.relative_to(ROOT)), name)
        for path in sources
        for name in _READ.findall(path.read_text())
    }

    assert {(where, name) for where, name in read if not configures_the_product(name)} == set()
