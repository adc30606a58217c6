"""Dates as the user lives them: "today" and "overdue" for a server that cannot see a calendar.

On stdio the model has no way to know the date unless it is told, so the listings that use it
say which day they took as today: the caller's `today` when given (the user's own date, in
their time zone), otherwise the server's local date.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

DueFilter = Literal["overdue", "today"]


def local_today() -> date:
    """The server's local date: the user's, for a server on the user's own machine."""
    return date.today()


def due_bounds(due: DueFilter, today: date) -> tuple[date | None, date | None]:
    """(due_after, due_before) of tasks that are overdue (due before today) or due today."""
    if due == "overdue":
        return None, today - timedelta(days=1)
    return today, today
