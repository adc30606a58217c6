"""Bearer tokens on the REST routes: what is accepted, what is refused and how, and the JWKS of a
Better Auth server (served for real on 127.0.0.1) being fetched, cached and survived."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from http_adapter.auth import AuthError, JwksCache, TokenVerifier
from http_adapter.mcp_http import METADATA_PATH
from tests.http_adapter.jwks_server import JWKS_PATH, JwksServer, SigningKey, claims, serving
from tests.support.api import BASE_URL, SECRET, Api, ApiFactory, make_settings, post_initialize
from tests.support.problems import assert_problem
from tests.support.processes import refused_port

# Token checks happen before any storage: one backend suffices.
pytestmark = pytest.mark.sqlite_only

ALGORITHMS = ("EdDSA", "RS256", "ES256")
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="session")
def better_auth_keys() -> dict[str, SigningKey]:
    """The Better Auth server's signing keys, one of each algorithm it can be configured with."""
    return {alg: SigningKey.generate(alg, kid=f"ba-{alg.lower()}-1") for alg in ALGORITHMS}


@pytest.fixture(scope="session")
def foreign_keys() -> dict[str, SigningKey]:
    """Keys of the same kinds that the Better Auth server never published."""
    return {alg: SigningKey.generate(alg, kid=f"foreign-{alg.lower()}") for alg in ALGORITHMS}


@pytest.fixture
def jwks(better_auth_keys: dict[str, SigningKey]) -> Iterator[JwksServer]:
    with serving(list(better_auth_keys.values())) as server:
        yield server


@pytest.fixture
async def better_auth_api(api_factory: ApiFactory, jwks: JwksServer) -> AsyncIterator[Api]:
    """The app accepting both HS256 tokens (BETTER_AUTH_SECRET) and the JWKS's tokens, and OAuth
    access tokens for its /mcp (at its PUBLIC_URL)."""
    async with api_factory(BETTER_AUTH_URL=jwks.url, PUBLIC_URL=BASE_URL) as api:
        yield api


async def list_tasks(api: Api, authorization: str | None, user: str = "alice") -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await api.client.get(f"/api/{user}/tasks", headers=headers)


def assert_unauthorized(response: httpx.Response) -> None:
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer ")


def hs256(payload: dict[str, Any], secret: str | bytes = SECRET) -> str:
    return jwt.encode(payload, secret, algorithm="HS256")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segments(header: dict[str, Any], payload: dict[str, Any]) -> str:
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"


def unsigned(payload: dict[str, Any]) -> str:
    """`alg: none`: no signature at all."""
    return _segments({"alg": "none", "typ": "JWT"}, payload) + "."


def hmac_signed(payload: dict[str, Any], key: bytes, kid: str | None = None) -> str:
    """HS256 computed by hand: PyJWT refuses to use a public key as an HMAC secret."""
    header: dict[str, Any] = {"alg": "HS256", "typ": "JWT"} | ({"kid": kid} if kid else {})
    signing_input = _segments(header, payload)
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def public_pem(key: SigningKey) -> bytes:
    return key.private_key.public_key().public_bytes(
        Encoding.PEM, PublicFormat.SubjectPublicKeyInfo
    )


def without_signature(token: str) -> str:
    return token.rsplit(".", 1)[0] + "."


# --- accepted ----------------------------------------------------------------------------------


async def test_hs256_token_signed_with_the_secret_is_accepted(api: Api) -> None:
    response = await list_tasks(api, f"Bearer {api.token('alice')}")

    assert response.status_code == 200, response.text
    assert response.json() == []


@pytest.mark.parametrize("alg", ALGORITHMS)
async def test_better_auth_token_from_the_jwks_is_accepted(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey], alg: str
) -> None:
    token = better_auth_keys[alg].sign(claims(jwks.url))

    response = await list_tasks(better_auth_api, f"Bearer {token}")

    assert response.status_code == 200, response.text


async def test_the_user_is_the_token_subject(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    token = better_auth_keys["EdDSA"].sign(claims(jwks.url, sub="carol"))
    headers = {"Authorization": f"Bearer {token}"}

    created = await better_auth_api.client.post(
        "/api/carol/tasks", json={"title": "Call the bank"}, headers=headers
    )

    assert created.status_code == 201, created.text
    assert created.json()["user_id"] == "carol"


async def test_bearer_scheme_is_case_insensitive(api: Api) -> None:
    response = await list_tasks(api, f"bearer {api.token('alice')}")

    assert response.status_code == 200, response.text


# --- refused: 401 with a Bearer challenge ------------------------------------------------------


@dataclass(frozen=True)
class Forge:
    """What an attacker or a broken client has to hand when making a token."""

    better_auth_url: str
    keys: dict[str, SigningKey]
    foreign: dict[str, SigningKey]

    def valid_claims(self, **changes: Any) -> dict[str, Any]:
        payload = claims(self.better_auth_url)
        for name, value in changes.items():
            if value is None:
                payload.pop(name, None)
            else:
                payload[name] = value
        return payload


def _past() -> int:
    return int(time.time()) - 3600


def _future() -> int:
    return int(time.time()) + 3600


REFUSED: dict[str, Callable[[Forge], str]] = {
    "alg none": lambda f: unsigned(f.valid_claims()),
    "HS256 with a wrong secret": lambda f: hs256(f.valid_claims(), "another-secret-" + "x" * 40),
    "HS384 with the right secret": lambda f: jwt.encode(f.valid_claims(), SECRET, "HS384"),
    "HS256 signed with the RSA public key": lambda f: hmac_signed(
        f.valid_claims(), public_pem(f.keys["RS256"]), kid=f.keys["RS256"].kid
    ),
    "HS256 signed with the Ed25519 public key": lambda f: hmac_signed(
        f.valid_claims(), public_pem(f.keys["EdDSA"]), kid=f.keys["EdDSA"].kid
    ),
    "foreign Ed25519 key with a real kid": lambda f: f.foreign["EdDSA"].sign(
        f.valid_claims(), kid=f.keys["EdDSA"].kid
    ),
    "foreign Ed25519 key with an unknown kid": lambda f: f.foreign["EdDSA"].sign(f.valid_claims()),
    "RS256 naming the Ed25519 key": lambda f: f.keys["RS256"].sign(
        f.valid_claims(), kid=f.keys["EdDSA"].kid
    ),
    "EdDSA without kid": lambda f: jwt.encode(
        f.valid_claims(), f.keys["EdDSA"].private_key, algorithm="EdDSA"
    ),
    "HS256 expired": lambda f: hs256(f.valid_claims(exp=_past())),
    "EdDSA expired": lambda f: f.keys["EdDSA"].sign(f.valid_claims(exp=_past())),
    "HS256 nbf in the future": lambda f: hs256(f.valid_claims(nbf=_future())),
    "EdDSA nbf in the future": lambda f: f.keys["EdDSA"].sign(f.valid_claims(nbf=_future())),
    "HS256 without exp": lambda f: hs256(f.valid_claims(exp=None)),
    "EdDSA without exp": lambda f: f.keys["EdDSA"].sign(f.valid_claims(exp=None)),
    "HS256 without sub": lambda f: hs256(f.valid_claims(sub=None)),
    "EdDSA without sub": lambda f: f.keys["EdDSA"].sign(f.valid_claims(sub=None)),
    "HS256 with an empty sub": lambda f: hs256(f.valid_claims(sub="")),
    "HS256 with a numeric sub": lambda f: hs256(f.valid_claims(sub=42)),
    "EdDSA with a wrong iss": lambda f: f.keys["EdDSA"].sign(
        f.valid_claims(iss="https://evil.example")
    ),
    "EdDSA with a wrong aud": lambda f: f.keys["EdDSA"].sign(
        f.valid_claims(aud="https://evil.example")
    ),
    "EdDSA without iss": lambda f: f.keys["EdDSA"].sign(f.valid_claims(iss=None)),
    "EdDSA without aud": lambda f: f.keys["EdDSA"].sign(f.valid_claims(aud=None)),
    "HS256 without its signature": lambda f: without_signature(hs256(f.valid_claims())),
    "EdDSA without its signature": lambda f: without_signature(
        f.keys["EdDSA"].sign(f.valid_claims())
    ),
    "HS256 with another token's signature": lambda f: (
        hs256(f.valid_claims(sub="mallory")).rsplit(".", 1)[0]
        + "."
        + hs256(f.valid_claims()).rsplit(".", 1)[1]
    ),
    "garbage": lambda _: "not-a-jwt",
    "three garbage segments": lambda _: "a.b.c",
}


def refusal(response: httpx.Response) -> str:
    """The parts of an answer that make it a proper refusal, as one comparable string."""
    return " | ".join(
        [
            str(response.status_code),
            response.headers.get("content-type", "-"),
            response.headers.get("www-authenticate", "-"),
        ]
    )


INVALID_TOKEN = f'401 | {PROBLEM_JSON} | Bearer realm="todo-mcp", error="invalid_token"'
NO_TOKEN = f'401 | {PROBLEM_JSON} | Bearer realm="todo-mcp"'


async def test_bad_tokens_are_refused_with_a_bearer_challenge(
    better_auth_api: Api,
    jwks: JwksServer,
    better_auth_keys: dict[str, SigningKey],
    foreign_keys: dict[str, SigningKey],
) -> None:
    # One app for the whole catalogue; the comparison below names every case that fails.
    forge = Forge(jwks.url, better_auth_keys, foreign_keys)
    # Each case changes one thing about a token that is otherwise accepted:
    for control in (hs256(forge.valid_claims()), forge.keys["EdDSA"].sign(forge.valid_claims())):
        assert (await list_tasks(better_auth_api, f"Bearer {control}")).status_code == 200
    answers = {}
    for case, make_token in REFUSED.items():
        response = await list_tasks(better_auth_api, f"Bearer {make_token(forge)}")
        answers[case] = refusal(response)

    assert answers == dict.fromkeys(REFUSED, INVALID_TOKEN)


NOT_BEARER = {
    "no header": None,
    "empty": "",
    "scheme only": "Bearer",
    "empty token": "Bearer ",
    "Basic": "Basic YWxpY2U6c2VjcmV0",
    "unknown scheme": "Token abc",
}


async def test_missing_or_non_bearer_credentials_are_refused(api: Api) -> None:
    answers = {}
    for case, authorization in NOT_BEARER.items():
        answers[case] = refusal(await list_tasks(api, authorization))

    assert answers == dict.fromkeys(NOT_BEARER, NO_TOKEN)


async def test_basic_credentials_are_refused_even_if_they_hold_a_valid_token(api: Api) -> None:
    response = await list_tasks(api, f"Basic {api.token('alice')}")

    assert_unauthorized(response)


async def test_oversized_authorization_header_is_refused(api: Api) -> None:
    response = await list_tasks(api, "Bearer " + "a" * 20 * 1024)

    assert_problem(response, 431)


async def test_authorization_header_under_the_limit_is_verified_not_refused_for_size(
    api: Api,
) -> None:
    response = await list_tasks(api, "Bearer " + "a" * 8000)

    assert_unauthorized(response)


# --- iss / aud ---------------------------------------------------------------------------------


async def test_hs256_iss_and_aud_are_not_checked_unless_configured(api: Api) -> None:
    token = hs256(claims("https://anyone.example"))

    response = await list_tasks(api, f"Bearer {token}")

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("claim", "setting"), [("iss", "JWT_ISSUER"), ("aud", "JWT_AUDIENCE")], ids=["iss", "aud"]
)
async def test_hs256_must_carry_the_configured_iss_or_aud(
    api_factory: ApiFactory, claim: str, setting: str
) -> None:
    expected = "https://todo.example/auth"
    async with api_factory(**{setting: expected}) as api:
        right = await list_tasks(api, f"Bearer {hs256(claims(None) | {claim: expected})}")
        from_cli = await list_tasks(api, f"Bearer {api.token('alice')}")
        wrong = await list_tasks(
            api, f"Bearer {hs256(claims(None) | {claim: 'https://x.example'})}"
        )
        missing = await list_tasks(api, f"Bearer {hs256(claims(None))}")

    assert right.status_code == 200, right.text
    assert from_cli.status_code == 200, from_cli.text  # `todo-api token` signs it in
    assert_unauthorized(wrong)
    assert_unauthorized(missing)


async def test_jwks_iss_and_aud_follow_jwt_issuer_and_jwt_audience(
    api_factory: ApiFactory, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    key = better_auth_keys["EdDSA"]
    overridden = {"iss": "https://issuer.example", "aud": "todo-api"}
    async with api_factory(
        BETTER_AUTH_URL=jwks.url, JWT_ISSUER=overridden["iss"], JWT_AUDIENCE=overridden["aud"]
    ) as api:
        right = await list_tasks(api, f"Bearer {key.sign(claims(jwks.url) | overridden)}")
        default = await list_tasks(api, f"Bearer {key.sign(claims(jwks.url))}")

    assert right.status_code == 200, right.text
    assert_unauthorized(default)


# --- BETTER_AUTH_JWKS_URL ------------------------------------------------------------------------


async def test_keys_come_from_better_auth_jwks_url_when_it_is_set(
    api_factory: ApiFactory, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    # BETTER_AUTH_URL names a server that is not there: keys fetched from the URL derived
    # from it would fail (503); the override's are found.
    with refused_port() as port:
        issuer = f"http://127.0.0.1:{port}"
        async with api_factory(
            BETTER_AUTH_URL=issuer, BETTER_AUTH_JWKS_URL=f"{jwks.url}{JWKS_PATH}"
        ) as api:
            token = better_auth_keys["EdDSA"].sign(claims(issuer))
            response = await list_tasks(api, f"Bearer {token}")

    assert response.status_code == 200, response.text
    assert jwks.fetches == 1


async def test_better_auth_jwks_url_alone_checks_jwt_issuer_and_audience(
    api_factory: ApiFactory, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    key = better_auth_keys["ES256"]
    expected = {"iss": "https://auth.example.com", "aud": "todo-api"}
    async with api_factory(
        BETTER_AUTH_JWKS_URL=f"{jwks.url}{JWKS_PATH}",
        JWT_ISSUER=expected["iss"],
        JWT_AUDIENCE=expected["aud"],
        BETTER_AUTH_SECRET=None,
    ) as api:
        right = await list_tasks(api, f"Bearer {key.sign(claims(None) | expected)}")
        other_audience = await list_tasks(
            api, f"Bearer {key.sign(claims(None) | expected | {'aud': 'another-api'})}"
        )

    assert right.status_code == 200, right.text
    assert_unauthorized(other_audience)


# --- JWKS-only mode ----------------------------------------------------------------------------


async def test_without_a_secret_only_jwks_tokens_are_accepted(
    api_factory: ApiFactory,
    jwks: JwksServer,
    better_auth_keys: dict[str, SigningKey],
) -> None:
    confused = hmac_signed(claims(jwks.url), public_pem(better_auth_keys["EdDSA"]))
    async with api_factory(BETTER_AUTH_URL=jwks.url, BETTER_AUTH_SECRET=None) as api:
        eddsa = await list_tasks(api, f"Bearer {better_auth_keys['EdDSA'].sign(claims(jwks.url))}")
        with_secret = await list_tasks(api, f"Bearer {hs256(claims(jwks.url))}")
        with_public_key = await list_tasks(api, f"Bearer {confused}")

    assert eddsa.status_code == 200, eddsa.text
    assert_unauthorized(with_secret)
    assert_unauthorized(with_public_key)


# --- the path's user ---------------------------------------------------------------------------


async def test_token_of_another_user_is_forbidden(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    bob_hs256 = better_auth_api.token("bob")
    bob_eddsa = better_auth_keys["EdDSA"].sign(claims(jwks.url, sub="bob"))

    for token in (bob_hs256, bob_eddsa):
        response = await list_tasks(better_auth_api, f"Bearer {token}", user="alice")

        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert "www-authenticate" not in response.headers


# --- the JWKS: fetched once, refetched sparingly, survived -------------------------------------


async def test_jwks_is_fetched_once_for_many_requests(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    for user in ("alice", "bob", "carol"):
        for key in better_auth_keys.values():
            for _ in range(3):
                token = key.sign(claims(jwks.url, sub=user))
                response = await list_tasks(better_auth_api, f"Bearer {token}", user=user)
                assert response.status_code == 200, response.text

    assert jwks.fetches == 1


async def test_unknown_kids_refetch_the_jwks_at_most_once_per_cooldown(
    better_auth_api: Api,
    jwks: JwksServer,
    better_auth_keys: dict[str, SigningKey],
    foreign_keys: dict[str, SigningKey],
) -> None:
    known = better_auth_keys["EdDSA"].sign(claims(jwks.url))
    assert (await list_tasks(better_auth_api, f"Bearer {known}")).status_code == 200
    before = jwks.fetches

    for n in range(6):
        token = foreign_keys["EdDSA"].sign(claims(jwks.url), kid=f"rotated-{n}")
        assert_unauthorized(await list_tasks(better_auth_api, f"Bearer {token}"))

    # The cooldown began with that fetch: none of the unknown kids may fetch again.
    assert before == 1
    assert jwks.fetches == before


async def test_unknown_kids_before_any_fetch_cost_one_fetch(
    better_auth_api: Api, jwks: JwksServer, foreign_keys: dict[str, SigningKey]
) -> None:
    for n in range(6):
        token = foreign_keys["ES256"].sign(claims(jwks.url), kid=f"unknown-{n}")
        assert_unauthorized(await list_tasks(better_auth_api, f"Bearer {token}"))

    assert jwks.fetches == 1


def _outage(jwks: JwksServer, kind: str) -> None:
    if kind == "500":
        jwks.fail()
    else:
        jwks.stop()


@pytest.mark.parametrize("outage", ["500", "down"])
async def test_jwks_outage_with_no_cached_key_is_503(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey], outage: str
) -> None:
    _outage(jwks, outage)

    # Each of several requests in a row: the second comes within the refetch cooldown.
    for alg in ALGORITHMS:
        token = better_auth_keys[alg].sign(claims(jwks.url))
        response = await list_tasks(better_auth_api, f"Bearer {token}")

        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == PROBLEM_JSON
        assert response.json()["status"] == 503
        assert "www-authenticate" not in response.headers


@pytest.mark.parametrize("outage", ["500", "down"])
async def test_jwks_outage_does_not_break_tokens_of_cached_keys(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey], outage: str
) -> None:
    first = better_auth_keys["EdDSA"].sign(claims(jwks.url))
    assert (await list_tasks(better_auth_api, f"Bearer {first}")).status_code == 200
    _outage(jwks, outage)

    for alg, user in [("EdDSA", "bob"), ("RS256", "alice"), ("ES256", "carol")]:
        token = better_auth_keys[alg].sign(claims(jwks.url, sub=user))
        response = await list_tasks(better_auth_api, f"Bearer {token}", user=user)
        assert response.status_code == 200, response.text
    # HS256 tokens never depended on the JWKS.
    hs256_token = better_auth_api.token("dan")
    assert (await list_tasks(better_auth_api, f"Bearer {hs256_token}", "dan")).status_code == 200


async def test_a_key_added_to_the_jwks_is_picked_up_once_the_cooldown_is_over(
    tmp_path: Path, jwks: JwksServer, foreign_keys: dict[str, SigningKey]
) -> None:
    settings = make_settings("sqlite+aiosqlite:///unused.db", tmp_path, BETTER_AUTH_URL=jwks.url)
    assert settings.jwks_url is not None
    now = [1000.0]
    cache = JwksCache(settings.jwks_url, cooldown_s=30, clock=lambda: now[0])
    verifier = TokenVerifier(settings=settings, secret=None, jwks=cache)
    rotated = foreign_keys["EdDSA"]
    token = rotated.sign(claims(jwks.url))

    outcomes: list[int | str] = []
    for moment in (1000.0, 1029.9, 1030.0):
        now[0] = moment
        try:
            outcomes.append((await verifier.verify(token)).user_id)
        except AuthError as refused:
            outcomes.append(refused.status)
        if moment == 1000.0:
            jwks.keys.append(rotated)  # published just after the first fetch

    # Refused by the first fetch, still refused within the cooldown (no fetch), accepted once
    # it is over, by a second fetch.
    assert outcomes == [401, 401, "alice"]
    assert jwks.fetches == 2


async def test_a_subject_longer_than_a_stored_user_id_is_refused_not_a_crash(api: Api) -> None:
    user = "u" * 256  # one more than the user_id column holds
    now = int(time.time())
    token = jwt.encode({"sub": user, "iat": now, "exp": now + 60}, SECRET, "HS256")
    response = await api.client.post(
        f"/api/{user}/tasks", json={"title": "x"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


# --- clock skew and subjects no database can hold -------------------------------------------


def _at(offset_s: int, **times: int) -> str:
    """An HS256 token for alice whose named times (iat, nbf, exp) lie `offset` s from now."""
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "alice", "iat": now, "exp": now + 600}
    claims.update({name: now + offset_s + extra for name, extra in times.items()})
    return hs256(claims)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _at(10, iat=0), id="iat 10 s ahead"),
        pytest.param(lambda: _at(10, nbf=0), id="nbf 10 s ahead"),
        pytest.param(lambda: _at(-10, exp=0), id="exp 10 s ago"),
    ],
)
async def test_a_token_within_the_default_clock_skew_is_accepted(
    api: Api, token: Callable[[], str]
) -> None:
    response = await api.client.get(
        "/api/alice/tasks", headers={"Authorization": f"Bearer {token()}"}
    )

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _at(60, iat=0), id="iat 60 s ahead"),
        pytest.param(lambda: _at(60, nbf=0), id="nbf 60 s ahead"),
        pytest.param(lambda: _at(-60, exp=0), id="exp 60 s ago"),
    ],
)
async def test_a_token_beyond_the_clock_skew_is_refused(api: Api, token: Callable[[], str]) -> None:
    response = await api.client.get(
        "/api/alice/tasks", headers={"Authorization": f"Bearer {token()}"}
    )

    assert refusal(response) == INVALID_TOKEN


async def test_the_clock_skew_is_configurable(api_factory: ApiFactory) -> None:
    async with api_factory(JWT_LEEWAY_S="0") as strict, api_factory(JWT_LEEWAY_S="120") as lax:
        token = {"Authorization": f"Bearer {_at(60, nbf=0)}"}
        refused = await strict.client.get("/api/alice/tasks", headers=token)
        accepted = await lax.client.get("/api/alice/tasks", headers=token)

    assert refusal(refused) == INVALID_TOKEN
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize("subject", ["a\x00b", "\x00", "a\ud800b"])
async def test_a_subject_no_database_can_hold_is_refused_not_a_crash(
    api: Api, subject: str
) -> None:
    now = int(time.time())
    # PyJWT writes the claims with json.dumps, which escapes the NUL and the lone surrogate.
    token = hs256({"sub": subject, "iat": now, "exp": now + 60})

    response = await api.client.post(
        f"/api/{quote(subject, safe='', errors='surrogatepass')}/tasks",
        json={"title": "x"},
        headers={"Authorization": f"Bearer {token}"},
    )
    via_mcp = await api.client.post(
        "/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
    )

    assert refusal(response) == INVALID_TOKEN
    assert via_mcp.status_code == 401


# --- OAuth access tokens (`typ: at+jwt`) of the authorization server ---------------------------

MCP_RESOURCE = f"{BASE_URL}/mcp"


def access_token_claims(
    jwks: JwksServer, aud: str | list[str] = MCP_RESOURCE, **changes: Any
) -> dict[str, Any]:
    """Claims as Better Auth's OAuth provider writes them for a `resource` request."""
    return claims(None) | {"iss": f"{jwks.url}/api/auth", "aud": aud} | changes


async def mcp_answer(api: Api, token: str) -> str:
    """`initialize` at /mcp with `token`: the status, then the challenge's error if any."""
    response = await post_initialize(api, Authorization=f"Bearer {token}")
    challenge = response.headers.get("www-authenticate", "")
    return f"{response.status_code} {'invalid_token' if 'invalid_token' in challenge else ''}"


async def test_oauth_access_tokens_for_mcp_are_accepted_at_mcp(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    userinfo = f"{jwks.url}/api/auth/oauth2/userinfo"  # Better Auth adds it for `openid`
    accepted = {
        (typ, str(aud)): better_auth_keys["EdDSA"].sign(access_token_claims(jwks, aud), typ=typ)
        for typ in ("at+jwt", "application/at+jwt", "AT+JWT")
        for aud in (MCP_RESOURCE, [MCP_RESOURCE, userinfo], [userinfo, MCP_RESOURCE])
    }
    answers = {case: await mcp_answer(better_auth_api, token) for case, token in accepted.items()}

    assert answers == dict.fromkeys(accepted, "200 ")


async def test_oauth_access_tokens_not_meant_for_mcp_are_refused_there(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    key = better_auth_keys["EdDSA"]
    at_jwt = {
        "for another resource": access_token_claims(jwks, "http://127.0.0.1/other"),
        "for /mcp of another host": access_token_claims(jwks, "https://todo.example/mcp"),
        "for a resource below /mcp": access_token_claims(jwks, f"{MCP_RESOURCE}/x"),
        "for the JWT plugin's audience": access_token_claims(jwks, jwks.url),
        "without aud": access_token_claims(jwks, aud=MCP_RESOURCE) | {"aud": None},
        "from the JWT plugin's issuer": access_token_claims(jwks, iss=jwks.url),
        "from another issuer": access_token_claims(jwks, iss="https://evil.example/api/auth"),
        "expired": access_token_claims(jwks, exp=int(time.time()) - 3600),
    }
    answers = {}
    for case, payload in at_jwt.items():
        payload = {name: value for name, value in payload.items() if value is not None}
        answers[case] = await mcp_answer(better_auth_api, key.sign(payload, typ="at+jwt"))
    # Right iss and aud, but not declared an access token: the JWT plugin's rules apply.
    undeclared = key.sign(access_token_claims(jwks))
    answers["without typ at+jwt"] = await mcp_answer(better_auth_api, undeclared)

    assert answers == dict.fromkeys([*at_jwt, "without typ at+jwt"], "401 invalid_token")


async def test_jwt_plugin_token_is_still_accepted_at_mcp(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    token = better_auth_keys["EdDSA"].sign(claims(jwks.url), typ="JWT")

    assert await mcp_answer(better_auth_api, token) == "200 "


async def test_oauth_access_token_is_refused_on_rest(
    better_auth_api: Api, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    token = better_auth_keys["EdDSA"].sign(access_token_claims(jwks), typ="at+jwt")
    assert await mcp_answer(better_auth_api, token) == "200 "  # the same token is good at /mcp

    response = await list_tasks(better_auth_api, f"Bearer {token}")

    assert_unauthorized(response)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_access_token_audience_is_the_public_url(
    api_factory: ApiFactory, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    key = better_auth_keys["EdDSA"]
    public = "https://todo.example.com"
    async with api_factory(BETTER_AUTH_URL=jwks.url, PUBLIC_URL=public) as api:
        for_public = await mcp_answer(
            api, key.sign(access_token_claims(jwks, f"{public}/mcp"), typ="at+jwt")
        )
        for_request_url = await mcp_answer(
            api, key.sign(access_token_claims(jwks, MCP_RESOURCE), typ="at+jwt")
        )

    assert for_public == "200 "
    assert for_request_url == "401 invalid_token"


async def test_oauth_issuer_decides_whose_access_tokens_are_accepted(
    api_factory: ApiFactory, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    key = better_auth_keys["EdDSA"]
    issuer = "https://auth.example/oauth"
    async with api_factory(
        BETTER_AUTH_URL=jwks.url, OAUTH_ISSUER=issuer, PUBLIC_URL=BASE_URL
    ) as api:
        configured = await mcp_answer(
            api, key.sign(access_token_claims(jwks, iss=issuer), typ="at+jwt")
        )
        default = await mcp_answer(api, key.sign(access_token_claims(jwks), typ="at+jwt"))
    async with api_factory(
        BETTER_AUTH_URL=jwks.url, OAUTH_ISSUER="none", PUBLIC_URL=BASE_URL
    ) as api:
        off = await mcp_answer(api, key.sign(access_token_claims(jwks), typ="at+jwt"))
        plugin = await mcp_answer(api, key.sign(claims(jwks.url)))

    assert configured == "200 "
    assert default == "401 invalid_token"
    assert off == "401 invalid_token"
    assert plugin == "200 "


async def test_oauth_issuer_alone_takes_keys_from_the_issuers_jwks(
    api_factory: ApiFactory, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    key = better_auth_keys["EdDSA"]
    # Better Auth's layout: the issuer is {base}/api/auth and its keys are at {issuer}/jwks.
    async with api_factory(
        OAUTH_ISSUER=f"{jwks.url}/api/auth", BETTER_AUTH_SECRET=None, PUBLIC_URL=BASE_URL
    ) as api:
        access = await mcp_answer(api, key.sign(access_token_claims(jwks), typ="at+jwt"))
        plugin = await mcp_answer(api, key.sign(claims(jwks.url)))
        metadata = (await api.client.get(METADATA_PATH)).json()

    assert access == "200 "
    assert plugin == "401 invalid_token"  # no JWT plugin configured: nothing says whose it is
    assert metadata["authorization_servers"] == [f"{jwks.url}/api/auth"]


async def test_todo_api_starts_while_better_auth_is_down(
    api_factory: ApiFactory, jwks: JwksServer, better_auth_keys: dict[str, SigningKey]
) -> None:
    jwks.stop()  # nothing listens at BETTER_AUTH_URL from the start
    key = better_auth_keys["EdDSA"]
    async with api_factory(BETTER_AUTH_URL=jwks.url, PUBLIC_URL=BASE_URL) as api:
        health = await api.client.get("/health")
        metadata = await api.client.get(METADATA_PATH)
        with_secret = await post_initialize(api, **api.auth("alice"))
        needs_a_key = await post_initialize(
            api,
            Authorization=f"Bearer {key.sign(access_token_claims(jwks), typ='at+jwt')}",
        )

    assert health.status_code == 200, health.text
    assert metadata.status_code == 200, metadata.text
    assert with_secret.status_code == 200, with_secret.text
    assert_problem(needs_a_key, 503)
    assert "www-authenticate" not in needs_a_key.headers
    assert jwks.fetches == 0
