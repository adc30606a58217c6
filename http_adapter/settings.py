"""Configuration of `todo-api`: the server settings plus auth, browser and chat options.

Fields come first, grouped by what they configure; their validators follow, then what is
derived from them. A setting that would make a deployed server unsafe is refused at start with
one line saying why, while the local default (SQLite, no secret) stays a development server.
"""

from __future__ import annotations

import ipaddress
import logging
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from mcp_server.settings import BlankIsNone, ServerSettings

log = logging.getLogger(__name__)

# `OAUTH_ISSUER=none`: no authorization server is advertised and no OAuth access token accepted.
OAUTH_OFF = "none"
# The secret `.env.example` shows: a copy of it is known to everyone who has read that file.
EXAMPLE_SECRET = "change-me-to-32-or-more-random-characters"  # noqa: S105 (the refused example)
MIN_SECRET_CHARS = 32
_HOW_TO_MAKE_ONE = "generate one with: openssl rand -base64 32"


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http(s) URL, got {value!r}")
    return value.rstrip("/")


def _origin(value: str) -> str:
    """A browser origin as browsers send it (`https://app.example.com[:port]`): a trailing slash
    is dropped, anything else beyond the port is refused, since no `Origin` header would match."""
    if value == "*":
        return value
    parts = urlsplit(value.rstrip("/"))
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"{value!r} is not an origin; write scheme://host[:port], e.g. http://localhost:3000"
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


class ApiSettings(ServerSettings):
    # --- auth: who signs the bearer tokens ---
    better_auth_secret: BlankIsNone[str] = Field(
        default=None, validation_alias="BETTER_AUTH_SECRET"
    )
    better_auth_url: BlankIsNone[str] = Field(default=None, validation_alias="BETTER_AUTH_URL")
    better_auth_jwks_url: BlankIsNone[str] = Field(
        default=None, validation_alias="BETTER_AUTH_JWKS_URL"
    )
    jwt_issuer: BlankIsNone[str] = Field(default=None, validation_alias="JWT_ISSUER")
    jwt_audience: BlankIsNone[str] = Field(default=None, validation_alias="JWT_AUDIENCE")
    jwt_leeway_s: float = Field(
        default=30.0,
        ge=0,
        le=300,
        validation_alias="JWT_LEEWAY_S",
        description="seconds of clock skew allowed on a token's exp, nbf and iat",
    )
    # Sign-in to /mcp through an OAuth 2.1 authorization server (Better Auth's OAuth provider).
    oauth_issuer: BlankIsNone[str] = Field(
        default=None,
        validation_alias="OAUTH_ISSUER",
        description="issuer of the OAuth access tokens /mcp accepts, or `none`",
    )

    # --- browsers and the public address ---
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000"], validation_alias="CORS_ORIGINS"
    )
    public_url: BlankIsNone[str] = Field(default=None, validation_alias="PUBLIC_URL")
    allowed_hosts: Annotated[list[str] | None, NoDecode] = Field(
        default=None, validation_alias="ALLOWED_HOSTS"
    )

    # --- chat: the model, retries, the turn's deadline and token budget, stream keep-alives ---
    gemini_api_key: BlankIsNone[str] = Field(default=None, validation_alias="GEMINI_API_KEY")
    gemini_model: str = Field(default="gemini-3.8-flash", validation_alias="GEMINI_MODEL")
    gemini_base_url: BlankIsNone[str] = Field(default=None, validation_alias="GEMINI_BASE_URL")
    gemini_timeout_s: float = Field(
        default=60.0,
        gt=0,
        validation_alias="GEMINI_TIMEOUT_S",
        description="seconds one model call may take before the turn answers 504",
    )
    gemini_retry_attempts: int = Field(
        default=3,
        ge=1,
        le=10,
        validation_alias="GEMINI_RETRY_ATTEMPTS",
        description="tries of one model request on a transient 5xx or timeout, the first included",
    )
    gemini_retry_initial_delay_s: float = Field(
        default=1.0,
        ge=0,
        validation_alias="GEMINI_RETRY_INITIAL_DELAY_S",
        description="wait before the first retry; it doubles each time, capped at 8 s",
    )
    chat_rate_limit: int = Field(
        default=20, ge=1, validation_alias="CHAT_RATE_LIMIT", description="chat turns a minute"
    )
    chat_turn_deadline_s: float = Field(
        default=120.0,
        gt=0,
        validation_alias="CHAT_TURN_DEADLINE_S",
        description="seconds a whole chat turn may take before it answers 504",
    )
    chat_history_tokens: int = Field(
        default=12_000,
        ge=500,
        validation_alias="CHAT_HISTORY_TOKENS",
        description="estimated tokens of earlier messages sent to the model each turn",
    )
    chat_keepalive_s: float = Field(
        default=15.0,
        gt=0,
        validation_alias="CHAT_KEEPALIVE_S",
        description="seconds of silence after which a chat stream sends an SSE comment",
    )

    # --- operations: serving, shutdown, logs, metrics, limits of a server facing the internet ---
    port: int = Field(default=8000, ge=0, le=65535, validation_alias="PORT")
    shutdown_grace_s: float = Field(
        default=20.0,
        ge=0,
        validation_alias="SHUTDOWN_GRACE_S",
        description="seconds running requests get after SIGTERM before streams are ended",
    )
    log_format: Literal["text", "json"] = Field(default="text", validation_alias="LOG_FORMAT")
    metrics_enabled: bool = Field(default=False, validation_alias="METRICS_ENABLED")
    http_header_timeout_s: float = Field(
        default=10.0, gt=0, validation_alias="HTTP_HEADER_TIMEOUT_S"
    )
    http_body_timeout_s: float = Field(default=30.0, gt=0, validation_alias="HTTP_BODY_TIMEOUT_S")
    http_max_header_bytes: int = Field(
        default=64 * 1024, ge=1024, validation_alias="HTTP_MAX_HEADER_BYTES"
    )
    http_keep_alive_s: float = Field(default=5.0, gt=0, validation_alias="HTTP_KEEP_ALIVE_S")
    http_max_concurrency: int = Field(default=1000, ge=1, validation_alias="HTTP_MAX_CONCURRENCY")
    # Connections a client can hold: answers it does not read, requests it sends slowly.
    http_write_timeout_s: float = Field(
        default=30.0,
        gt=0,
        validation_alias="HTTP_WRITE_TIMEOUT_S",
        description="seconds an answer may wait for the client to read it before the "
        "connection is dropped",
    )
    http_connection_wait_s: float = Field(
        default=60.0,
        gt=0,
        validation_alias="HTTP_CONNECTION_WAIT_S",
        description="seconds a connection may spend, over all its requests, idle or receiving "
        "headers before it is closed",
    )

    # --- live changes and sync ---
    changes_retention_days: float = Field(
        default=7.0,
        gt=0,
        validation_alias="CHANGES_RETENTION_DAYS",
        description="days the change log keeps changes for delta sync",
    )
    database_listen_url: BlankIsNone[str] = Field(
        default=None,
        validation_alias="DATABASE_LISTEN_URL",
        description="direct or session-mode PostgreSQL URL for LISTEN behind a transaction pooler",
    )
    events_max_streams: int = Field(
        default=5,
        ge=1,
        validation_alias="EVENTS_MAX_STREAMS",
        description="open event streams a user may have on one process",
    )
    events_keepalive_s: float = Field(
        default=15.0,
        gt=0,
        validation_alias="EVENTS_KEEPALIVE_S",
        description="seconds of silence after which an event stream sends an SSE comment",
    )

    # --- trusted proxies and host names ---
    forwarded_allow_ips: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        validation_alias="FORWARDED_ALLOW_IPS",
        description=(
            "addresses (or networks, or *) of the proxies whose X-Forwarded-For and "
            "X-Forwarded-Proto are believed; none by default"
        ),
    )

    # --- validators ---

    @field_validator("cors_origins", "allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [_origin(item) for item in value]

    @field_validator("better_auth_url", "better_auth_jwks_url", "public_url", "gemini_base_url")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url(value)

    @field_validator("oauth_issuer")
    @classmethod
    def _issuer_url_or_none(cls, value: str | None) -> str | None:
        if value is None or value.strip().lower() == OAUTH_OFF:
            return None if value is None else OAUTH_OFF
        return _http_url(value)

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_auth(self) -> ApiSettings:
        if self.jwks_url and not (self.jwks_issuer and self.jwks_audience):
            raise ValueError(
                "BETTER_AUTH_JWKS_URL without BETTER_AUTH_URL needs JWT_ISSUER and JWT_AUDIENCE"
            )
        secret = self.better_auth_secret
        if secret is not None and secret.strip() == EXAMPLE_SECRET:
            raise ValueError(
                f"BETTER_AUTH_SECRET is the example from .env.example, which anyone can read; "
                f"{_HOW_TO_MAKE_ONE}"
            )
        if secret is not None and len(secret) < MIN_SECRET_CHARS:
            if self.deployed:
                raise ValueError(
                    f"BETTER_AUTH_SECRET has {len(secret)} characters; a server on PostgreSQL or "
                    f"an https PUBLIC_URL needs {MIN_SECRET_CHARS} or more ({_HOW_TO_MAKE_ONE})"
                )
            log.warning(
                "BETTER_AUTH_SECRET is shorter than %d characters; use a longer one",
                MIN_SECRET_CHARS,
            )
        if secret is None and self.access_token_jwks_url is None and self.deployed_publicly:
            # Development mode generates a secret per data directory: each replica would sign
            # and accept its own tokens, and a token from one is refused by the next.
            raise ValueError(
                "BETTER_AUTH_SECRET or BETTER_AUTH_URL is needed with PostgreSQL and an https "
                "PUBLIC_URL: without them each server invents its own secret "
                f"({_HOW_TO_MAKE_ONE})"
            )
        return self

    @field_validator("database_listen_url")
    @classmethod
    def _postgres_listen_url(cls, value: str | None) -> str | None:
        # Only PostgreSQL has LISTEN; anything else is a mistake best reported at start.
        if value is not None and urlsplit(value).scheme.split("+")[0] not in (
            "postgres",
            "postgresql",
        ):
            raise ValueError("must be a postgresql:// URL (LISTEN is PostgreSQL's)")
        return value

    @field_validator("forwarded_allow_ips", mode="before")
    @classmethod
    def _proxies_comma_separated(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _proxy_addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            if entry == "*":
                continue
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address, a network or *") from None
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_entries(cls, value: list[str] | None) -> list[str] | None:
        # Refused at start rather than never matching: `localhost:80a`, `a b`, a URL.
        from http_adapter.hosts import parse_allowed_host

        for entry in value or []:
            if entry != "*" and parse_allowed_host(entry) is None:
                raise ValueError(f"{entry!r} is not a host name, host:port or IP address")
        return value

    # --- derived ---

    @property
    def deployed(self) -> bool:
        """Not the local development default: on PostgreSQL, or served at an https address."""
        return self.on_postgres or self.public_url_is_https

    @property
    def deployed_publicly(self) -> bool:
        """Shared PostgreSQL behind an https address: the shape of a replicated deployment."""
        return self.on_postgres and self.public_url_is_https

    @property
    def on_postgres(self) -> bool:
        return (self.database_url or "").lower().startswith("postgres")

    @property
    def public_url_is_https(self) -> bool:
        return (self.public_url or "").startswith("https://")

    @property
    def jwks_url(self) -> str | None:
        if self.better_auth_jwks_url:
            return self.better_auth_jwks_url
        if self.better_auth_url:
            return f"{self.better_auth_url}/api/auth/jwks"
        return None

    @property
    def jwks_issuer(self) -> str | None:
        return self.jwt_issuer or self.better_auth_url

    @property
    def jwks_audience(self) -> str | None:
        return self.jwt_audience or self.better_auth_url

    @property
    def authorization_server(self) -> str | None:
        """The OAuth issuer whose access tokens /mcp accepts and advertises to MCP hosts:
        Better Auth's OAuth provider (`{BETTER_AUTH_URL}/api/auth`) unless `OAUTH_ISSUER` says
        otherwise; None when there is no such server, so none is advertised."""
        if self.oauth_issuer == OAUTH_OFF:
            return None
        if self.oauth_issuer:
            return self.oauth_issuer
        if self.better_auth_url:
            return f"{self.better_auth_url}/api/auth"
        return None

    @property
    def access_token_jwks_url(self) -> str | None:
        """Where the keys of OAuth access tokens are: Better Auth signs them with the JWT
        plugin's keys, so the one JWKS serves both kinds of token when it is configured."""
        if self.jwks_url:
            return self.jwks_url
        issuer = self.authorization_server
        return f"{issuer}/jwks" if issuer else None

    def host_allow_list(self) -> list[str] | None:
        """`Host` values /mcp accepts, or None when the check is off (`*`)."""
        if self.allowed_hosts is not None:
            if "*" in self.allowed_hosts:
                return None
            return [host.lower() for host in self.allowed_hosts]
        hosts = ["127.0.0.1", "localhost", "::1"]
        if self.public_url:
            # With its port, when it names one: the port the proxy in front listens on.
            netloc = urlsplit(self.public_url).netloc.rpartition("@")[2]
            if netloc:
                hosts.append(netloc.lower())
        return hosts
