"""Just enough of a Dockerfile reader to run an image's steps on this machine: its stages, and
in each the ENV, WORKDIR, COPY, RUN, USER, HEALTHCHECK and CMD instructions in order."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Instruction:
    keyword: str
    arguments: str


@dataclass
class Stage:
    base: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        return [step for step in self.instructions if step.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        return self.all(keyword)[-1]


def read_stages(path: Path) -> list[Stage]:
    # Comments go first, then continuation lines are joined: an instruction per logical line.
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    logical = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    stages: list[Stage] = []
    for line in logical.splitlines():
        if not line.strip():
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            stages.append(Stage(base=arguments.split()[0]))
        else:
            stages[-1].instructions.append(Instruction(keyword.upper(), arguments.strip()))
    return stages


def env_pairs(arguments: str) -> list[tuple[str, str]]:
    """`ENV A=1 B="two words"` as [(A, 1), (B, two words)]."""
    return [tuple(token.split("=", 1)) for token in shlex.split(arguments)]  # type: ignore[misc]


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form CMD (HEALTHCHECK's after its options and CMD)."""
    words: list[str] = json.loads(arguments[arguments.index("[") :])
    return words
