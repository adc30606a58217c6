"""How long tests wait for what they start. The figures are bounds for a hang, not a measure
of speed: generous for a loaded machine, and `TODO_TEST_DEADLINE_SCALE` (e.g. 2) stretches them
all where even that is not enough (a small CI runner, a machine busy with other work)."""

from __future__ import annotations

import os

SCALE = float(os.environ.get("TODO_TEST_DEADLINE_SCALE") or "1")


def deadline(seconds: float) -> float:
    """`seconds` of waiting for a start or a stop, stretched by `TODO_TEST_DEADLINE_SCALE`."""
    return seconds * SCALE
