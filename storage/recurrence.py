"""Recurrence rules of recurring tasks: the RFC 5545 `RRULE` subset this product keeps, and
the next occurrence of a rule, expanded by python-dateutil's `rrule`.

The subset: `FREQ` (DAILY, WEEKLY, MONTHLY, YEARLY; required), `INTERVAL`, `BYDAY`,
`BYMONTHDAY`, `COUNT`, `UNTIL`. Rules are stored in one canonical spelling (upper case, parts in
that order, `UNTIL` as a date), so equal rules compare equal. A task's due date is the rule's
DTSTART; `COUNT=n` counts the occurrences that remain, this one included, so the next
occurrence carries `COUNT=n-1` and `COUNT=1` has no next.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time

from dateutil.rrule import rrulestr

MAX_RULE = 200
PARTS = ("FREQ", "INTERVAL", "BYDAY", "BYMONTHDAY", "COUNT", "UNTIL")
FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_SUBSET = ", ".join(PARTS)
_WEEKDAY = re.compile(r"([+-]?)([0-9]{1,2})?(MO|TU|WE|TH|FR|SA|SU)")
_MONTHDAY = re.compile(r"[+-]?[0-9]{1,2}")
_POSITIVE = re.compile(r"[0-9]{1,4}")
_UNTIL = re.compile(r"([0-9]{8})(T[0-9]{6}Z?)?")


class RuleError(ValueError):
    """A rule outside the subset, or not a rule; the message names the part."""


def normalize(rule: str) -> str:
    """The canonical spelling of `rule`; raises RuleError naming what is wrong."""
    text = rule.strip()
    if text[:6].upper() == "RRULE:":
        text = text[6:]
    parts: dict[str, str] = {}
    for part in text.split(";"):
        name, sep, value = part.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not sep or not name or not value:
            raise RuleError(f"{part.strip()!r} is not a NAME=VALUE part of a rule")
        if name not in PARTS:
            raise RuleError(f"{name} is outside the supported subset ({_SUBSET})")
        if name in parts:
            raise RuleError(f"{name} is given twice")
        parts[name] = value
    frequency = parts.get("FREQ")
    if frequency is None:
        raise RuleError("FREQ is required (DAILY, WEEKLY, MONTHLY or YEARLY)")
    if frequency not in FREQUENCIES:
        raise RuleError(
            f"FREQ={frequency} is outside the supported subset (DAILY, WEEKLY, MONTHLY, YEARLY)"
        )
    for name in ("INTERVAL", "COUNT"):
        if name in parts and not (_POSITIVE.fullmatch(parts[name]) and int(parts[name]) >= 1):
            raise RuleError(f"{name} must be a whole number from 1 to 9999")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RuleError("COUNT and UNTIL cannot both be given")
    if "BYDAY" in parts:
        for day in parts["BYDAY"].split(","):
            match = _WEEKDAY.fullmatch(day)
            if match is None:
                raise RuleError(f"BYDAY={day} is not a weekday (MO, TU, ..., or e.g. 1MO, -1FR)")
            if match.group(2) is not None:
                if frequency not in ("MONTHLY", "YEARLY"):
                    raise RuleError(f"BYDAY={day}: a numbered weekday needs FREQ=MONTHLY/YEARLY")
                if not 1 <= int(match.group(2)) <= 53:
                    raise RuleError(f"BYDAY={day}: the number must be from 1 to 53")
    if "BYMONTHDAY" in parts:
        if frequency == "WEEKLY":
            raise RuleError("BYMONTHDAY cannot be used with FREQ=WEEKLY")
        for day in parts["BYMONTHDAY"].split(","):
            if not (_MONTHDAY.fullmatch(day) and 1 <= abs(int(day)) <= 31):
                raise RuleError(f"BYMONTHDAY={day} must be a day from 1 to 31 or -31 to -1")
    if "UNTIL" in parts:
        match = _UNTIL.fullmatch(parts["UNTIL"])
        until: date | None = None
        if match is not None:
            try:
                until = datetime.strptime(match.group(1), "%Y%m%d").date()
            except ValueError:
                until = None
        if until is None:
            raise RuleError("UNTIL must be a date written YYYYMMDD (or YYYYMMDDTHHMMSSZ)")
        parts["UNTIL"] = f"{until.year:04d}{until.month:02d}{until.day:02d}"
    canonical = ";".join(f"{name}={parts[name]}" for name in PARTS if name in parts)
    if len(canonical) > MAX_RULE:
        raise RuleError(f"the rule is longer than {MAX_RULE} characters")
    try:
        rrulestr(canonical, dtstart=datetime(2000, 1, 1))
    except (ValueError, TypeError) as exc:  # anything the checks above missed
        raise RuleError(f"not a rule dateutil can expand: {exc}") from None
    return canonical


def next_occurrence(rule: str, after: date) -> tuple[date, str] | None:
    """The occurrence that follows one due `after`, with the rule it carries (its COUNT one
    less), or None when the rule is exhausted (COUNT reached, past UNTIL, or past year 9999)."""
    parts = dict(part.split("=", 1) for part in rule.split(";"))
    count = parts.pop("COUNT", None)
    if count is not None and int(count) <= 1:
        return None
    start = datetime.combine(after, time())
    try:
        expanded = rrulestr(";".join(f"{k}={v}" for k, v in parts.items()), dtstart=start)
        following = expanded.after(start)
    except (ValueError, OverflowError):  # beyond year 9999
        return None
    if following is None:
        return None
    if count is not None:
        parts["COUNT"] = str(int(count) - 1)
    carried = ";".join(f"{name}={parts[name]}" for name in PARTS if name in parts)
    return following.date(), carried
