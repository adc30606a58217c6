"""`POST /mcp` bodies are limited to 4 MiB before they are parsed, whether the client declares
the size (`Content-Length`) or streams the body without one."""

from __future__ import annotations

from collections.abc import AsyncIterator

from http_adapter.mcp_envelope import MAX_BODY_BYTES
from tests.support.api import MCP_HEADERS, Api

LIST_TOOLS = b'{"jsonrpc": "2.0", "id": 1, "method": "tools/list"}'
CHUNK = 64 * 1024


def _padded(size: int) -> bytes:
    """A valid JSON-RPC request of exactly `size` bytes (JSON allows trailing white space)."""
    return LIST_TOOLS + b" " * (size - len(LIST_TOOLS))


def _headers(api: Api) -> dict[str, str]:
    return {**MCP_HEADERS, **api.auth("alice"), "Content-Type": "application/json"}


async def test_a_body_of_exactly_4_mib_is_served(api: Api) -> None:
    response = await api.client.post("/mcp", content=_padded(MAX_BODY_BYTES), headers=_headers(api))

    assert response.status_code == 200, response.text
    assert response.json()["result"]["tools"]


async def test_a_body_one_byte_over_4_mib_is_413(api: Api) -> None:
    response = await api.client.post(
        "/mcp", content=_padded(MAX_BODY_BYTES + 1), headers=_headers(api)
    )

    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "The request body is larger than 4 MiB."
    assert response.headers["connection"] == "close"


async def test_a_declared_length_over_4_mib_is_refused_before_the_body_is_read(
    api: Api,
) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        while sent < 300 * 1024 * 1024:
            sent += CHUNK
            yield b" " * CHUNK

    headers = {**_headers(api), "Content-Length": str(300 * 1024 * 1024)}
    response = await api.client.post("/mcp", content=body(), headers=headers)

    assert response.status_code == 413, response.text
    assert sent <= CHUNK  # at most what the client had in flight


async def test_a_streamed_body_without_length_is_cut_off_past_4_mib(api: Api) -> None:
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield LIST_TOOLS
        while sent < 300 * 1024 * 1024:
            sent += CHUNK
            yield b" " * CHUNK

    response = await api.client.post("/mcp", content=body(), headers=_headers(api))

    assert response.status_code == 413, response.text
    assert response.json()["detail"] == "The request body is larger than 4 MiB."
    # Refused as the count passed the limit, not after reading 300 MB.
    assert sent <= MAX_BODY_BYTES + 2 * CHUNK
