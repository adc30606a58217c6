"""A database server that answers "no" is not waited for: it will not say yes later."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from storage.database import Database
from storage.wait import DatabaseUnreachableError, wait_for_database
from tests.support.processes import refused_port


@pytest.mark.postgres_only
async def test_a_database_that_does_not_exist_is_given_up_at_once(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    missing = make_url(database_url).set(database="todo_no_such_database")
    db = Database(missing.render_as_string(hide_password=False))
    try:
        with pytest.raises(DatabaseUnreachableError) as raised:
            await wait_for_database(db, 5)
    finally:
        await db.dispose()

    assert not [r for r in caplog.records if r.name == "storage.wait"], "it retried"
    reason = str(raised.value)
    assert "DATABASE_URL" in reason
    assert "todo_no_such_database" in reason
    assert "waiting will not change that" in reason


async def test_the_unreachable_message_names_database_url() -> None:
    with refused_port() as port:
        db = Database(f"postgresql://nobody@127.0.0.1:{port}/todo")
        try:
            with pytest.raises(DatabaseUnreachableError) as raised:
                await wait_for_database(db, 0)
        finally:
            await db.dispose()

    assert str(raised.value).startswith("the database DATABASE_URL names is not reachable: ")
