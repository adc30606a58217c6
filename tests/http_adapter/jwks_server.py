"""A Better-Auth-style key server for auth tests: real keys, a real JWKS over HTTP on 127.0.0.1,
and tokens signed the way Better Auth's JWT plugin signs them."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

JWKS_PATH = "/api/auth/jwks"

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    private_key: PrivateKey

    @classmethod
    def generate(cls, alg: str, kid: str) -> SigningKey:
        private_key: PrivateKey
        if alg == "EdDSA":
            private_key = ed25519.Ed25519PrivateKey.generate()
        elif alg == "RS256":
            private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        elif alg == "ES256":
            private_key = ec.generate_private_key(ec.SECP256R1())
        else:
            raise ValueError(f"no key type for {alg}")
        return cls(kid=kid, alg=alg, private_key=private_key)

    def public_jwk(self) -> dict[str, Any]:
        public_key = self.private_key.public_key()
        jwk: dict[str, Any]
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
        elif isinstance(public_key, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public_key, as_dict=True)
        else:
            assert isinstance(public_key, ec.EllipticCurvePublicKey)
            jwk = ECAlgorithm.to_jwk(public_key, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def sign(
        self, claims: dict[str, Any], *, kid: str | None = None, typ: str | None = None
    ) -> str:
        """A token signed with this key; `kid` may name another key (to forge one), `typ`
        declares its kind (`at+jwt`: an OAuth access token)."""
        headers: dict[str, Any] = {"kid": kid or self.kid}
        if typ is not None:
            headers["typ"] = typ
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers=headers)


def claims(
    issuer: str | None, sub: str = "alice", ttl_s: int = 3600, **extra: Any
) -> dict[str, Any]:
    """Claims as Better Auth writes them: `iss` and `aud` are its base URL."""
    now = int(time.time())
    base: dict[str, Any] = {"sub": sub, "iat": now, "exp": now + ttl_s}
    if issuer is not None:
        base |= {"iss": issuer, "aud": issuer}
    return base | extra


class JwksServer:
    """Serves the public keys at `{url}/api/auth/jwks`, counting fetches; can be made to answer
    500 (`fail`) or to stop listening (`stop`)."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = list(keys)
        self.failing = False
        self._fetches = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._stopped = False

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def fetches(self) -> int:
        with self._lock:
            return self._fetches

    def fail(self) -> None:
        self.failing = True

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _document(self) -> bytes:
        return json.dumps({"keys": [key.public_jwk() for key in self.keys]}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != JWKS_PATH:
                    self.send_error(404)
                    return
                with server._lock:
                    server._fetches += 1
                if server.failing:
                    self.send_error(500)
                    return
                body = server._document()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return Handler


@contextmanager
def serving(keys: list[SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer(keys)
    server.start()
    try:
        yield server
    finally:
        server.stop()
