"""Bearer-token verification for REST and /mcp alike, and the tokens `todo-api token` signs.

Accepted: HS256 tokens signed with the shared secret (`BETTER_AUTH_SECRET`, or the generated
development secret) and asymmetric tokens whose `kid` is in Better Auth's JWKS: those of its JWT
plugin (`iss` = `aud` = `BETTER_AUTH_URL`) anywhere, and OAuth access tokens of its OAuth
provider (`typ: at+jwt`, RFC 9068) only at the resource they were issued for (`aud`, RFC 8707),
which is /mcp. The token's `alg` picks the verifier from a fixed allow-list, so `none` and
algorithm confusion (an HS256 token "signed" with a public key) have nowhere to go.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx
import jwt
import jwt.types

from http_adapter.settings import ApiSettings
from storage.models import MAX_KEY

log = logging.getLogger(__name__)

MAX_AUTHORIZATION_BYTES = 8 * 1024
ASYMMETRIC_ALGORITHMS = frozenset({"EdDSA", "RS256", "ES256"})
DEV_SECRET_FILE = "dev-secret"  # noqa: S105 (a file name, not a secret)
_REQUIRED_CLAIMS = ["exp", "sub"]
# RFC 9068 §4: the media type of an access token, with or without its `application/` prefix.
_ACCESS_TOKEN_TYPES = frozenset({"at+jwt", "application/at+jwt"})
# Verified tokens are remembered briefly so a busy client is not re-verified on every request.
_VERIFIED_CACHE_SIZE = 4096


class AuthError(Exception):
    """Why a request is not authenticated; `error` is RFC 6750's code, if it has one."""

    def __init__(self, status: int, detail: str, *, error: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.error = error


def _unauthorized(detail: str) -> AuthError:
    return AuthError(401, detail, error="invalid_token")


@dataclass(frozen=True)
class Principal:
    user_id: str
    claims: dict[str, Any]
    token: str
    expires_at: int


class JwksCache:
    """The JWKS of the Better Auth server, fetched when a token names a key not yet known,
    at most once per cooldown; keys already fetched stay usable through an outage."""

    def __init__(
        self,
        url: str,
        *,
        cooldown_s: float = 30.0,
        timeout_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = url
        self._cooldown_s = cooldown_s
        self._clock = clock  # seconds, monotonic; a parameter so the cooldown can be tested
        self._timeout_s = timeout_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._last_fetch: float | None = None
        self._last_fetch_failed = False
        self._lock = anyio.Lock()

    async def key(self, kid: str) -> jwt.PyJWK:
        key = self._keys.get(kid)
        if key is not None:
            return key
        async with self._lock:  # one fetch at a time; the others reuse its result
            key = self._keys.get(kid)
            if key is None and self._may_fetch():
                await self._fetch()
                key = self._keys.get(kid)
        if key is None:
            if not self._keys and self._last_fetch_failed:
                # Until a fetch succeeds no token can be judged, including within the cooldown:
                # a 401 would tell the client to drop a token that may well be good.
                raise AuthError(503, "The sign-in service's keys cannot be fetched.")
            raise _unauthorized("The token's signing key is not known.")
        return key

    def _may_fetch(self) -> bool:
        return self._last_fetch is None or self._clock() - self._last_fetch >= self._cooldown_s

    async def _fetch(self) -> None:
        self._last_fetch = self._clock()
        try:
            async with httpx.AsyncClient(timeout=self._timeout_s) as client:
                response = await client.get(self._url)
                response.raise_for_status()
                document = response.json()
            key_set = jwt.PyJWKSet.from_dict(document)
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as exc:
            log.warning("could not fetch the JWKS from %s: %s", self._url, exc)
            self._last_fetch_failed = True
            return
        self._last_fetch_failed = False
        self._keys = {key.key_id: key for key in key_set.keys if key.key_id}


@dataclass
class TokenVerifier:
    settings: ApiSettings
    secret: str | None
    jwks: JwksCache | None = None
    _verified: dict[tuple[str, str | None], Principal] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: ApiSettings, secret: str | None) -> TokenVerifier:
        # Nothing is fetched here: todo-api starts while the sign-in service is still down.
        url = settings.access_token_jwks_url
        return cls(settings=settings, secret=secret, jwks=JwksCache(url) if url else None)

    async def verify_header(
        self, authorization: str | None, *, resource: str | None = None
    ) -> Principal:
        """The principal of an `Authorization: Bearer ...` header, or an `AuthError`.

        `resource` is the absolute URL of the protected resource being asked for (/mcp): OAuth
        access tokens are accepted only when their audience names it, and nowhere without it."""
        if authorization is None:
            raise AuthError(401, "A bearer token is required.")
        if len(authorization) > MAX_AUTHORIZATION_BYTES:
            raise AuthError(431, "The Authorization header is too large.")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "The Authorization header must be 'Bearer <token>'.")
        return await self.verify(token.strip(), resource=resource)

    async def verify(self, token: str, *, resource: str | None = None) -> Principal:
        cached = self._verified.get((token, resource))
        if cached is not None and cached.expires_at + self.settings.jwt_leeway_s > time.time():
            return cached
        try:
            principal = await self._verify(token, resource)
        except AuthError as exc:
            # Which check failed, for whoever reads the log: never the token itself.
            log.info("bearer token refused (%d): %s", exc.status, exc.detail)
            raise
        if len(self._verified) >= _VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[(token, resource)] = principal
        return principal

    async def _verify(self, token: str, resource: str | None) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _unauthorized("The token is not a valid JWT.") from None
        alg = header.get("alg")
        options: jwt.types.Options = {"require": list(_REQUIRED_CLAIMS)}
        issuer: str | None
        audience: str | None
        key: Any
        if alg == "HS256" and self.secret is not None:
            key = self.secret
            issuer, audience = self.settings.jwt_issuer, self.settings.jwt_audience
        elif alg in ASYMMETRIC_ALGORITHMS and self.jwks is not None:
            kid = header.get("kid")
            if not isinstance(kid, str) or not kid:
                raise _unauthorized("The token names no signing key (kid).")
            # Decided before any key is fetched: a token refused for what it is costs no fetch.
            issuer, audience = self._asymmetric_iss_aud(header, resource)
            jwk = await self.jwks.key(kid)
            if jwk.algorithm_name != alg:
                raise _unauthorized("The token's algorithm does not match its key.")
            key = jwk
        else:
            raise _unauthorized(self._refused_algorithm(alg))
        if issuer is not None:
            options["require"].append("iss")
        if audience is not None:
            options["require"].append("aud")
        else:
            options["verify_aud"] = False
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[alg],
                options=options,
                issuer=issuer,
                audience=audience,
                # A sign-in server whose clock runs a little ahead issues tokens that are, here,
                # not yet valid (iat, nbf); one running behind, tokens already expired.
                leeway=self.settings.jwt_leeway_s,
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(_failed_check(exc, alg, issuer, audience)) from None
        subject = claims.get("sub")
        if not isinstance(subject, str) or not subject:
            raise _unauthorized("The token has no subject.")
        if len(subject) > MAX_KEY:
            raise _unauthorized(f"The token's subject is longer than {MAX_KEY} characters.")
        if not _storable(subject):
            raise _unauthorized("The token's subject contains U+0000 or an unpaired surrogate.")
        expires_at = claims.get("exp")
        if not isinstance(expires_at, int | float):
            raise _unauthorized("The token has no expiry.")
        return Principal(user_id=subject, claims=claims, token=token, expires_at=int(expires_at))

    def _refused_algorithm(self, alg: object) -> str:
        """Why a token's `alg` has no verifier here, and what would be accepted instead."""
        if alg == "HS256":
            # Only when BETTER_AUTH_URL (or OAUTH_ISSUER) is set and BETTER_AUTH_SECRET is not.
            return (
                "HS256 tokens (such as `todo-api token`'s) are not accepted: this server takes "
                "the tokens of its sign-in service (BETTER_AUTH_URL), checked against that "
                "service's published keys, and has no shared HS256 key to check others with."
            )
        accepted = ["HS256"] if self.secret is not None else []
        if self.jwks is not None:
            accepted += sorted(ASYMMETRIC_ALGORITHMS)
        accepts = ", ".join(accepted)
        return f"The token's algorithm {alg!r} is not accepted; this server accepts {accepts}."

    def _asymmetric_iss_aud(self, header: dict[str, Any], resource: str | None) -> tuple[str, str]:
        """The `iss` and `aud` a JWKS-signed token must carry, by its kind.

        An OAuth access token (`typ: at+jwt`) must come from the authorization server and name
        `resource` among its audiences: one issued for another resource, or presented to a route
        that is not a resource of ours (REST), is refused. Any other token is the JWT plugin's."""
        typ = header.get("typ")
        if isinstance(typ, str) and typ.lower() in _ACCESS_TOKEN_TYPES:
            issuer = self.settings.authorization_server
            if issuer is None:
                raise _unauthorized("OAuth access tokens are not accepted by this server.")
            if resource is None:
                # REST is no OAuth resource; /mcp is one only at a configured PUBLIC_URL.
                raise _unauthorized(
                    "An OAuth access token is accepted only at /mcp, and only when the server's "
                    "PUBLIC_URL is set."
                )
            return issuer, resource
        issuer, audience = self.settings.jwks_issuer, self.settings.jwks_audience
        if issuer is None or audience is None:
            # Only the OAuth issuer is configured; nothing says whose other tokens would be.
            raise _unauthorized("Only OAuth access tokens are accepted by this server.")
        return issuer, audience


def _failed_check(exc: jwt.PyJWTError, alg: str, issuer: str | None, audience: str | None) -> str:
    """Which check a token failed, with what was expected where that is public (the issuer
    and audience are, in the server's metadata); never anything of the key or the token."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "The token has expired."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "The token is not valid yet (its nbf or iat is in the future)."
    if isinstance(exc, jwt.InvalidSignatureError):
        if alg == "HS256":
            return "The token's signature does not match: it was signed with another key."
        return "The token's signature does not match its key."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The token has no {exc.claim!r} claim."
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"The token's issuer (iss) is not the expected {issuer!r}."
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"The token's audience (aud) does not name the expected {audience!r}."
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return f"The token's algorithm is not {alg!r}, the one its header names."
    if isinstance(exc, jwt.DecodeError):
        return "The token is not a valid JWT."
    return f"The token is not valid ({type(exc).__name__})."


def _storable(text: str) -> bool:
    """Whether text can be a user id in the database: UTF-8 (a JSON string may hold an unpaired
    surrogate, which no encoder writes) and no NUL (which PostgreSQL cannot hold)."""
    if "\x00" in text:
        return False
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


# --- secrets and signing -----------------------------------------------------------------------


def signing_secret(settings: ApiSettings) -> str | None:
    """The HS256 secret: `BETTER_AUTH_SECRET`; with no auth configured at all, a development
    secret generated once into the data dir; in JWKS-only (or OAuth-only) mode, none."""
    if settings.better_auth_secret:
        return settings.better_auth_secret
    if settings.access_token_jwks_url:
        return None
    secret = load_or_create_dev_secret(settings.data_dir)
    log.warning(
        "development mode: neither BETTER_AUTH_SECRET nor BETTER_AUTH_URL is set; tokens are "
        "signed with the generated secret in %s (see `todo-api token`)",
        settings.data_dir / DEV_SECRET_FILE,
    )
    return secret


def describe_auth(settings: ApiSettings) -> str:
    """How bearer tokens are checked, for the start-up line (never the secret itself)."""
    kinds = []
    if settings.better_auth_secret:
        kinds.append("HS256 tokens signed with BETTER_AUTH_SECRET")
    if settings.jwks_url:
        kinds.append(f"Better Auth JWTs (keys from {settings.jwks_url})")
    if settings.authorization_server:
        kinds.append(f"OAuth access tokens of {settings.authorization_server} at /mcp")
    if not kinds:
        return (
            f"development (tokens from `todo-api token <user>`, signed with the secret in "
            f"{settings.data_dir / DEV_SECRET_FILE})"
        )
    return ", ".join(kinds)


def load_or_create_dev_secret(data_dir: Path) -> str:
    path = data_dir / DEV_SECRET_FILE
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written aside and linked into place, so that workers starting together agree on one secret.
    staging = data_dir / f".{DEV_SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):  # another worker got there first
            os.link(staging, path)
    finally:
        staging.unlink(missing_ok=True)
    return path.read_text().strip()


def issue_token(settings: ApiSettings, secret: str, user_id: str, ttl_s: int = 3600) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": user_id, "iat": now, "exp": now + ttl_s}
    if settings.jwt_issuer:
        claims["iss"] = settings.jwt_issuer
    if settings.jwt_audience:
        claims["aud"] = settings.jwt_audience
    return jwt.encode(claims, secret, algorithm="HS256")
