"""The JSON Schema dialect of the OpenAPI document: pydantic's, with strings described as what
the app accepts (trimmed lengths, refused NULs), so the document and the validation agree."""

from __future__ import annotations

from typing import cast

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from storage.models import no_nul

REF = "#/components/schemas/{model}"
# Any text without U+0000, written with an escape both ECMAScript and Python regexes read.
NO_NUL_PATTERN = "^[^\\u0000]*$"
# What pydantic's `strip_whitespace` trims: Unicode White_Space. Not Python's str.isspace, nor
# the ECMAScript `\s` of JSON Schema patterns, so spelt out for every validator's regex engine.
_WHITESPACE = r"\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"


class RestJsonSchema(GenerateJsonSchema):
    """Describes strings as what they accept.

    A title of 200 characters plus padding is valid, one of spaces only is not, which
    `minLength`/`maxLength` on the raw text would get wrong both ways: the lengths of trimmed
    strings move into a pattern about the text between the padding. And strings that refuse
    U+0000 (`storage.models.NoNul`, a validator function the generic generator cannot see)
    say so in their pattern.
    """

    def str_schema(self, schema: core_schema.StringSchema) -> JsonSchemaValue:
        return self._string(schema, no_nul=False)

    def function_after_schema(
        self, schema: core_schema.AfterValidatorFunctionSchema
    ) -> JsonSchemaValue:
        inner = schema["schema"]
        if schema["function"].get("function") is no_nul and inner["type"] == "str":
            return self._string(cast(core_schema.StringSchema, inner), no_nul=True)
        return super().function_after_schema(schema)

    def _string(self, schema: core_schema.StringSchema, *, no_nul: bool) -> JsonSchemaValue:
        json_schema = super().str_schema(schema)
        if schema.get("strip_whitespace"):
            low = json_schema.pop("minLength", 0)
            high = json_schema.pop("maxLength", None)
            assert "pattern" not in json_schema, "a pattern on a trimmed string is not supported"
            json_schema["pattern"] = _trimmed_length_pattern(low, high, no_nul=no_nul)
        elif no_nul:
            assert "pattern" not in json_schema, "a pattern on a NUL-free string is not supported"
            json_schema["pattern"] = NO_NUL_PATTERN
        return json_schema


def _trimmed_length_pattern(low: int, high: int | None, *, no_nul: bool = False) -> str:
    """A regex for strings whose text, once trimmed, is `low` to `high` characters long."""
    nul = "\\u0000" if no_nul else ""
    edge = f"[^{nul}{_WHITESPACE}]"  # the first and the last character that trimming keeps
    anything = f"[^{nul}]" if no_nul else "[\\s\\S]"
    middle = anything + "{" + f"{max(low - 2, 0)},{'' if high is None else high - 2}" + "}"
    if high == 1:
        core = edge
    elif low >= 2:
        core = f"{edge}{middle}{edge}"
    else:
        core = f"{edge}(?:{middle}{edge})?"
    if low == 0:
        core = f"(?:{core})?"
    return f"^[{_WHITESPACE}]*{core}[{_WHITESPACE}]*$"
