"""The `Host` header: parsed strictly, never trusted to name this server.

A request whose `Host` is malformed, or which carries two of them, is refused (400). A host
outside `ALLOWED_HOSTS` may not use /mcp or its resource metadata (421, the DNS-rebinding
guard); on the other routes it is served, but under the server's own name: the `Host` the app
sees is replaced by `PUBLIC_URL`'s, or else by the address the server listens on, so that no
`Location`, redirect or URL the server writes ever names a host a client made up.

Ports count: an entry `name:port` allows that port only (a `Host` without a port stands for the
scheme's default, 80 or 443); an entry `name` allows the name without a port or with the port
this server listens on, never a port of another server on the same host.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from http_adapter.problems import PROBLEM_JSON, problem_body

# A DNS name (underscores allowed: container and service names use them) or an IPv4 address.
_NAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
_PORT = re.compile(r"[0-9]{1,5}")
_MAX_HOST_CHARS = 255


@functools.lru_cache(maxsize=256)
def parse_host(value: str) -> tuple[str, int | None] | None:
    """`(host name in lower case, port or None)`, or None when `value` is not a valid `Host`
    (`localhost:evil.example`, `a b`, `[::1`, a port over 65535 ...). Remembered: a server
    hears the same few values in every request, and a client making up new ones only pushes
    older ones out."""
    if not value or len(value) > _MAX_HOST_CHARS:
        return None
    if value.startswith("["):
        address, bracket, after = value[1:].partition("]")
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            return None
        if not bracket:
            return None
        name = address.lower()
        if not after:
            return name, None
        if not after.startswith(":"):
            return None
        port = after[1:]
    else:
        name, colon, port = value.partition(":")
        if not all(_NAME.fullmatch(label) for label in name.removesuffix(".").split(".")):
            return None
        name = name.removesuffix(".").lower()
        if not colon:
            return name, None
    if not _PORT.fullmatch(port) or int(port) > 65535:
        return None
    return name, int(port)


HostEntry = tuple[str, int | None]
_DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_allowed_host(entry: str) -> HostEntry | None:
    """An `ALLOWED_HOSTS` entry: `name`, `name:port`, `[v6]:port` or a bare IPv6 address."""
    text = entry.strip().lower()
    try:
        return str(ipaddress.IPv6Address(text)), None
    except ValueError:
        return parse_host(text)


def allow_list(entries: list[str] | None) -> frozenset[HostEntry] | None:
    """The parsed entries (None: the check is off); a malformed entry is a ValueError."""
    if entries is None:
        return None
    parsed = set()
    for entry in entries:
        found = parse_allowed_host(entry)
        if found is None:
            raise ValueError(f"{entry!r} is not a host name, host:port or IP address")
        parsed.add(found)
    return frozenset(parsed)


def host_allowed(host: HostEntry, allowed: frozenset[HostEntry], scope: Scope) -> bool:
    """Whether the parsed `Host` is one of `allowed`, ports compared (see the module's text)."""
    name, port = host
    default = _DEFAULT_PORTS.get(scope.get("scheme", "http"))
    if port is None:
        return (name, None) in allowed or (name, default) in allowed
    if (name, port) in allowed:
        return True
    server = scope.get("server")
    # A server that names no port listens on the scheme's default one.
    own_port = server[1] if server and server[1] is not None else default
    return port == own_port and (name, None) in allowed


class HostGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        allowed: list[str] | None,
        public_url: str | None,
        guarded_paths: tuple[str, ...],
    ) -> None:
        self._app = app
        self._allowed = allow_list(allowed)
        self._public_host = urlsplit(public_url).netloc.encode("latin-1") if public_url else None
        self._guarded_paths = guarded_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        hosts = [value for name, value in scope["headers"] if name == b"host"]
        if len(hosts) > 1:
            await _refuse(send, 400, "The request has more than one Host header.")
            return
        parsed = parse_host(hosts[0].decode("latin-1")) if hosts else None
        if hosts and parsed is None:
            await _refuse(send, 400, "The Host header is not a valid host name.")
            return
        if parsed is not None and (
            self._allowed is None or host_allowed(parsed, self._allowed, scope)
        ):
            await self._app(scope, receive, send)
            return
        if scope["path"] in self._guarded_paths:
            await _refuse(send, 421, "This host name is not served here.")
            return
        headers = [(name, value) for name, value in scope["headers"] if name != b"host"]
        headers.append((b"host", self._own_host(scope)))
        await self._app({**scope, "headers": headers}, receive, send)

    def _own_host(self, scope: Scope) -> bytes:
        if self._public_host is not None:
            return self._public_host
        server = scope.get("server")
        if not server or server[1] is None:
            return b"localhost"
        host, port = server
        host = f"[{host}]" if ":" in host else host
        return f"{host}:{port}".encode("latin-1")


async def _refuse(send: Send, status: int, detail: str) -> None:
    body = json.dumps(problem_body(status, detail)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
