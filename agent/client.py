"""The google-genai client the agent talks through: timeouts and retries of transient failures."""

from __future__ import annotations

from google import genai
from google.genai import types

RETRY_MAX_DELAY_S = 8.0
# Server errors worth one more try before a stream starts. 429 is not retried (the client is
# told when to come back) and neither is 504 (the time is already spent).
RETRY_STATUS_CODES = [500, 502, 503]


def gemini_client(
    api_key: str,
    *,
    base_url: str | None,
    timeout_s: float,
    retry_attempts: int,
    retry_initial_delay_s: float,
) -> genai.Client:
    """A client whose every request gives up after `timeout_s` and is tried `retry_attempts`
    times in all, with exponential backoff from `retry_initial_delay_s` capped at 8 s."""
    retries = types.HttpRetryOptions(
        attempts=retry_attempts,
        initial_delay=retry_initial_delay_s,
        max_delay=RETRY_MAX_DELAY_S,
        # The SDK adds up to `jitter` seconds to every wait: keep it in proportion.
        jitter=retry_initial_delay_s,
        http_status_codes=RETRY_STATUS_CODES,
    )
    return genai.Client(
        api_key=api_key,
        http_options=types.HttpOptions(
            base_url=base_url, timeout=max(1, round(timeout_s * 1000)), retry_options=retries
        ),
    )
