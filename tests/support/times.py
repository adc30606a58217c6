"""Timestamps as the API and the tools write them, parsed so that they compare as instants
(as strings, `...:15Z` sorts after `...:15.1Z`)."""

from __future__ import annotations

from datetime import datetime, timedelta


def instant(text: str) -> datetime:
    """An RFC 3339 UTC timestamp (`...Z`) as an aware datetime; anything else fails the test."""
    assert isinstance(text, str), text
    assert text.endswith("Z"), text
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() == timedelta(0), text
    return parsed
