"""One call of the model: streamed or not, read for its parts, finish reason, block reason and
token usage, with failures turned into `ModelError`s and every call reported to an observer."""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from agent.events import ModelError

log = logging.getLogger(__name__)

# google-genai 3.x sends with httpx2 (a fork whose exceptions are not httpx's) when it is
# installed, and with httpx otherwise: transport failures of both must become model errors.
_TIMEOUTS: tuple[type[Exception], ...] = (httpx.TimeoutException,)
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError,)
try:
    import httpx2
except ImportError:  # pragma: no cover - an SDK that still uses httpx alone
    pass
else:
    _TIMEOUTS += (httpx2.TimeoutException,)
    _TRANSPORT_ERRORS += (httpx2.HTTPError,)

# Finish reasons that mean the answer was withheld for its content, not that the call failed.
_BLOCKED = frozenset(
    {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY"}
)
# How the API words a model that does not exist (any more) for this key and API version.
_NO_SUCH_MODEL = re.compile(
    r"not found|no longer (available|supported)|not supported|deprecated|retired|shut ?down", re.I
)
# Gemini answers a bad key with 400 INVALID_ARGUMENT, "API key not valid. Please pass a valid
# API key." (or "API key expired"), not with 401.
_KEY_REFUSED = re.compile(r"API key", re.I)
UNAVAILABLE_RETRY_AFTER_S = 10
RATE_LIMITED_RETRY_AFTER_S = 30


@dataclass(frozen=True)
class ModelCall:
    """What one model call cost and how it ended (`ok`, `blocked`, `empty`, `malformed`,
    `timeout`, `rate_limited`, `unavailable` or `error`); no message text."""

    outcome: str
    seconds: float
    input_tokens: int
    output_tokens: int


ModelCallObserver = Callable[[ModelCall], None]
OnText = Callable[[str], Awaitable[None]]


@dataclass
class Answer:
    """One model answer, its parts kept verbatim (thought signatures included)."""

    parts: list[types.Part] = field(default_factory=list)
    finish_reason: str | None = None
    block_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0

    @property
    def function_calls(self) -> list[types.FunctionCall]:
        return [part.function_call for part in self.parts if part.function_call]

    @property
    def blocked(self) -> bool:
        return self.block_reason is not None or self.finish_reason in _BLOCKED

    @property
    def malformed(self) -> bool:
        return self.finish_reason == "MALFORMED_FUNCTION_CALL"

    @property
    def empty(self) -> bool:
        return not any(
            part.function_call or (part.text and not part.thought) for part in self.parts
        )

    @property
    def outcome(self) -> str:
        if self.blocked:
            return "blocked"
        if self.malformed:
            return "malformed"
        return "empty" if self.empty else "ok"

    def read(self, response: types.GenerateContentResponse) -> list[types.Part]:
        """Take in one response (or streamed chunk); its new parts."""
        if response.usage_metadata is not None:
            usage = response.usage_metadata
            self.input_tokens = usage.prompt_token_count or self.input_tokens
            output = (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
            self.output_tokens = output or self.output_tokens
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            self.block_reason = str(feedback.block_reason.value)
        if not response.candidates:
            return []
        candidate = response.candidates[0]
        if candidate.finish_reason is not None:
            self.finish_reason = str(candidate.finish_reason.value)
        parts = list(candidate.content.parts or []) if candidate.content else []
        self.parts.extend(parts)
        return parts


async def ask(
    client: genai.Client,
    model: str,
    contents: list[types.Content],
    config: types.GenerateContentConfig,
    *,
    stream: bool,
    on_text: OnText,
    observer: ModelCallObserver | None,
) -> Answer:
    """Call the model once; text reaches `on_text` as it arrives."""
    answer = Answer()
    outcome = "error"
    started = time.perf_counter()
    try:
        await _call(client, model, contents, config, stream, answer, on_text)
        outcome = answer.outcome
    except ModelError as exc:
        outcome = exc.outcome
        raise
    finally:
        seconds = time.perf_counter() - started
        log.info(
            "model call %s in %.3f s: %d input, %d output tokens",
            outcome,
            seconds,
            answer.input_tokens,
            answer.output_tokens,
        )
        if observer is not None:
            observer(ModelCall(outcome, seconds, answer.input_tokens, answer.output_tokens))
    return answer


async def _call(
    client: genai.Client,
    model: str,
    contents: list[types.Content],
    config: types.GenerateContentConfig,
    stream: bool,
    answer: Answer,
    on_text: OnText,
) -> None:
    models = client.aio.models
    try:
        if stream:
            chunks = await models.generate_content_stream(
                model=model, contents=contents, config=config
            )
            async for chunk in chunks:
                for part in answer.read(chunk):
                    if part.text and not part.thought:
                        await on_text(part.text)
        else:
            response = await models.generate_content(model=model, contents=contents, config=config)
            for part in answer.read(response):
                if part.text and not part.thought:
                    await on_text(part.text)
    except genai_errors.APIError as exc:
        raise model_error(exc, model) from exc
    except genai_errors.UnknownApiResponseError as exc:
        log.warning("unreadable answer from the model: %s", exc)
        raise ModelError(502, "The model sent an answer that could not be read.") from exc
    except _TIMEOUTS as exc:
        raise ModelError(504, "The model did not answer in time.", outcome="timeout") from exc
    except _TRANSPORT_ERRORS as exc:
        log.warning("could not reach the model: %s", exc)
        raise ModelError(502, "The model could not be reached.") from exc


def model_error(exc: genai_errors.APIError, model: str) -> ModelError:
    if exc.code == 429:
        return ModelError(
            503,
            "The model is busy (rate-limited); try again shortly.",
            retry_after=_suggested_wait(exc, RATE_LIMITED_RETRY_AFTER_S),
            outcome="rate_limited",
        )
    if exc.code == 503:
        return ModelError(
            503,
            "The model is unavailable right now; try again shortly.",
            retry_after=_suggested_wait(exc, UNAVAILABLE_RETRY_AFTER_S),
            outcome="unavailable",
        )
    if exc.code == 504:
        return ModelError(504, "The model did not answer in time.", outcome="timeout")
    log.warning("the model answered %s: %s", exc.code, exc.message)
    if exc.code == 404 or (exc.code == 400 and _NO_SUCH_MODEL.search(exc.message or "")):
        return ModelError(
            502,
            f"The model {model!r} was not found or is retired: set GEMINI_MODEL to a current "
            "Gemini model.",
        )
    if exc.code in (401, 403) or (exc.code == 400 and _KEY_REFUSED.search(exc.message or "")):
        return ModelError(
            502,
            "The model refused this server's API key: GEMINI_API_KEY must be set to a valid key.",
        )
    return ModelError(502, f"The model failed to answer (HTTP {exc.code}).")


def _suggested_wait(exc: genai_errors.APIError, default_s: int) -> int:
    """Seconds to wait, from the RetryInfo an error may carry (`"retryDelay": "17s"`)."""
    details = (
        exc.details.get("error", {}).get("details", []) if isinstance(exc.details, dict) else []
    )
    for detail in details if isinstance(details, list) else []:
        delay = detail.get("retryDelay") if isinstance(detail, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(1, math.ceil(float(delay[:-1])))
            except ValueError:
                break
    return default_s
