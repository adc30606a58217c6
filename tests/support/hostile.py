"""Hypothesis strategies for hostile input, and the budget the property suites run on.

Values are drawn around the edges the product defends: text with U+0000, unpaired surrogates,
other scripts' digits and padding; integers past every column; JSON nested or shaped wrongly.
The budget is a hypothesis profile, `TODO_HYPOTHESIS_PROFILE` (default `ci`, a few seconds per
suite and backend; `thorough` for a longer hunt).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci",
    max_examples=50,
    # Examples make real requests to a real database: wall-clock time says nothing.
    deadline=None,
    # Runs are repeatable (no example database, the same examples every run).
    database=None,
    derandomize=True,
    # The app and its database are built once per test (a fresh user per example isolates them).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile(
    "thorough", settings.get_profile("ci"), max_examples=500, derandomize=False
)
PROPERTY_SETTINGS = settings.get_profile(os.environ.get("TODO_HYPOTHESIS_PROFILE", "ci"))

EDGE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "x" * 201,
    " " * 5,
    "\u3000t\u3000",
    "%",
    "_",
    "1_0",
    "\uff11",
    "\u0663",
    "'; DROP TABLE task; --",
    "🧪",
]
EDGE_INTEGERS = [0, -1, 1, 2, 500, 501, 2**31 - 1, 2**31, 2**63, 2**64 + 1, 10**30]

texts = st.one_of(
    st.sampled_from(EDGE_TEXT),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
)
integers = st.one_of(st.sampled_from(EDGE_INTEGERS), st.integers())
scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(allow_nan=False, allow_infinity=False),
    texts,
    st.sampled_from(["low", "high", "2026-02-30", "2026-12-01", "all", "-title"]),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)

TASK_FIELDS = ["title", "description", "priority", "due_date", "tags", "completed"]


good_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=30
).filter(str.strip)
valid_task_fields = st.fixed_dictionaries(
    {"title": good_text},
    optional={
        "description": st.one_of(st.none(), good_text),
        "priority": st.sampled_from(["low", "medium", "high"]),
        "due_date": st.one_of(st.none(), st.dates().map(str)),
        "tags": st.lists(good_text.filter(lambda t: len(t.strip()) <= 32), max_size=10),
        "completed": st.booleans(),
    },
)


def task_fields(extra_names: list[str] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Objects that are mostly task-shaped: known names (and some others) with any values."""
    names = st.sampled_from([*TASK_FIELDS, *(extra_names or []), "id", "user_id", "x"])
    plausible = st.fixed_dictionaries(
        {},
        optional={
            "title": st.one_of(st.text(min_size=1, max_size=30), texts),
            "description": st.one_of(st.none(), texts),
            "priority": st.sampled_from(["low", "medium", "high", "urgent", None]),
            "due_date": st.sampled_from(["2026-12-01", "2026-02-30", "tomorrow", None]),
            "tags": st.lists(texts, max_size=12),
            "completed": st.one_of(st.booleans(), st.sampled_from([0, 1, "true", None])),
        },
    )
    wild = st.dictionaries(names, json_values, max_size=6)
    # Half of them valid, so that there are tasks for the hostile requests to meet.
    return st.one_of(valid_task_fields, valid_task_fields, plausible, wild)
