"""Dates as the user lives them: "today" and "overdue" for a server that cannot see a calendar.

On stdio the model has no way to know the date unless it is told, so the listings that use it
say which day they took as today: the caller's `today` when given (the user's own date, in
their time zone), otherwise the server's local date.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import AfterValidator

from storage.models import DueDate

DueFilter = Literal["overdue", "today"]

# The listings and prompts look a day back ("overdue") and up to a week ahead (the weekly
# review) of `today`: a `today` at the calendar's very edge would step off it.
WEEK = timedelta(days=6)
EARLIEST_TODAY = date.min + timedelta(days=1)
LATEST_TODAY = date.max - WEEK


def _within_calendar(value: date) -> date:
    if not EARLIEST_TODAY <= value <= LATEST_TODAY:
        raise ValueError(
            f"must be a date from {EARLIEST_TODAY.isoformat()} to {LATEST_TODAY.isoformat()}"
        )
    return value


# The user's date, as a tool or prompt argument.
Today = Annotated[DueDate, AfterValidator(_within_calendar)]


def local_today() -> date:
    """The server's local date: the user's, for a server on the user's own machine."""
    return date.today()


def due_bounds(due: DueFilter, today: date) -> tuple[date | None, date | None]:
    """(due_after, due_before) of tasks that are overdue (due before today) or due today."""
    if due == "overdue":
        return None, today - timedelta(days=1)
    return today, today
