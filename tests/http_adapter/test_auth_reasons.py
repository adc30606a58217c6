"""A refused token says which check it failed, in the answer and in the log, never the token."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import jwt
import pytest

from tests.http_adapter.jwks_server import JwksServer, SigningKey, claims, serving
from tests.support.api import SECRET, ApiFactory
from tests.support.problems import assert_problem

# Token checks happen before any storage: one backend suffices.
pytestmark = pytest.mark.sqlite_only

OTHER_SECRET = "another-secret-that-is-also-long-enough-0123456789"


@pytest.fixture
def jwks() -> Iterator[JwksServer]:
    with serving([SigningKey.generate("EdDSA", kid="ba-eddsa-1")]) as server:
        yield server


def hs256(**extra: object) -> dict[str, object]:
    now = int(time.time())
    return {"sub": "alice", "iat": now, "exp": now + 600, **extra}


async def refusal(
    api_factory: ApiFactory, token: str, caplog: pytest.LogCaptureFixture, **settings: str
) -> str:
    caplog.set_level(logging.INFO, logger="http_adapter.auth")
    async with api_factory(**settings) as api:
        response = await api.client.get(
            "/api/alice/tasks", headers={"Authorization": f"Bearer {token}"}
        )
    detail = str(assert_problem(response, 401)["detail"])
    logged = [r.getMessage() for r in caplog.records if r.name == "http_adapter.auth"]
    assert any(detail in line for line in logged), logged
    assert not [line for line in logged if token in line or token.split(".")[2] in line]
    return detail


async def test_a_token_signed_with_another_secret_says_the_signature_failed(
    api_factory: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = jwt.encode(hs256(), OTHER_SECRET, algorithm="HS256")
    detail = await refusal(api_factory, token, caplog)
    assert detail == "The token's signature does not match: it was signed with another key."


async def test_a_wrong_issuer_names_the_expected_one(
    api_factory: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = jwt.encode(hs256(iss="https://elsewhere.example.com"), SECRET, algorithm="HS256")
    detail = await refusal(api_factory, token, caplog, JWT_ISSUER="https://auth.example.com")
    assert detail == "The token's issuer (iss) is not the expected 'https://auth.example.com'."


async def test_a_better_auth_token_for_another_audience_names_the_expected_one(
    api_factory: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    key = SigningKey.generate("EdDSA", kid="ba-eddsa-1")
    with serving([key]) as server:
        token = key.sign(claims(server.url, aud="https://other-app.example.com"))
        detail = await refusal(api_factory, token, caplog, BETTER_AUTH_URL=server.url)
    assert detail == f"The token's audience (aud) does not name the expected {server.url!r}."


async def test_with_better_auth_url_alone_development_tokens_are_refused_with_why(
    api_factory: ApiFactory, jwks: JwksServer, caplog: pytest.LogCaptureFixture
) -> None:
    token = jwt.encode(hs256(), SECRET, algorithm="HS256")
    detail = await refusal(
        api_factory, token, caplog, BETTER_AUTH_URL=jwks.url, BETTER_AUTH_SECRET=""
    )
    assert "`todo-api token`" in detail
    assert "BETTER_AUTH_URL" in detail


async def test_an_expired_token_says_so(
    api_factory: ApiFactory, caplog: pytest.LogCaptureFixture
) -> None:
    token = jwt.encode(hs256(exp=int(time.time()) - 3600), SECRET, algorithm="HS256")
    assert await refusal(api_factory, token, caplog) == "The token has expired."
