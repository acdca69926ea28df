"""OIDC bearer tokens against a real issuer on loopback (discovery + JWKS over HTTP)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from tests.support.identity import admin_headers

AUDIENCE = "sark-api"


class Issuer:
    """A tiny OpenID provider: discovery and JWKS, with keys the test rotates."""

    def __init__(self) -> None:
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.requests: list[str] = []
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.requests.append(self.path)
                if self.path == "/.well-known/openid-configuration":
                    body: dict[str, Any] = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
                elif self.path == "/jwks":
                    body = {"keys": [issuer.jwk(kid) for kid in issuer.keys]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_key(self, kid: str) -> None:
        self.keys[kid] = rsa.generate_private_key(65537, 2048)

    def jwk(self, kid: str) -> dict[str, Any]:
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}

    def token_with_removed_key(self) -> str:
        """A token signed by a key the issuer no longer publishes."""
        retired = rsa.generate_private_key(65537, 2048)
        now = int(time.time())
        payload = {"iss": self.url, "aud": AUDIENCE, "sub": "user-1", "iat": now, "exp": now + 60}
        return jwt.encode(payload, retired, algorithm="RS256", headers={"kid": "k1"})

    def token(self, kid: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": AUDIENCE, "sub": "user-1", "iat": now,
                   "exp": now + 300, "preferred_username": "oidc.alice", **claims}  # fmt: skip
        return jwt.encode(payload, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture(name="issuer")
def fixture_issuer() -> Iterator[Issuer]:
    issuer = Issuer()
    issuer.add_key("k1")
    thread = threading.Thread(target=issuer.server.serve_forever, daemon=True)
    thread.start()
    yield issuer
    issuer.server.shutdown()
    issuer.server.server_close()


def _env(issuer: Issuer) -> dict[str, str]:
    return {
        "SARK_OIDC_ISSUER": issuer.url,
        "SARK_OIDC_AUDIENCE": AUDIENCE,
        "SARK_OIDC_ROLE_MAP": json.dumps({"sark-admins": "admin", "engineers": "developer"}),
        "SARK_OIDC_JWKS_MIN_REFRESH_SECONDS": "0",
    }


async def _me(client: Any, token: str) -> Any:
    return await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_oidc_token_provisions_the_user_with_mapped_role_and_teams(
    make_client: Any, issuer: Issuer
) -> None:
    async with make_client(_env(issuer)) as client:
        token = issuer.token("k1", groups=["engineers", "payments"], email="alice@example.org")
        response = await _me(client, token)
        assert response.status_code == 200, response.text
        me = response.json()
        assert me["auth_method"] == "oidc"
        assert me["role"] == "developer"
        assert me["teams"] == ["engineers", "payments"]
        assert me["user"]["username"] == "oidc.alice"
        assert me["user"]["auth_provider"] == "oidc"
        # Provisioned once: a second token of the same subject is the same user.
        again = (await _me(client, issuer.token("k1", groups=["sark-admins"]))).json()
        assert again["id"] == me["id"]
        assert again["role"] == "admin"
        admin = await admin_headers(client)
        users = (await client.get("/api/v1/users", headers=admin)).json()["items"]
        assert [u["username"] for u in users] == ["admin", "oidc.alice"]


async def test_wrong_audience_expired_and_unknown_key_are_refused(
    make_client: Any, issuer: Issuer
) -> None:
    async with make_client(_env(issuer)) as client:
        wrong_aud = await _me(client, issuer.token("k1", aud="another-api"))
        assert wrong_aud.status_code == 401
        assert wrong_aud.json()["detail"] == "the token was issued for another audience"
        expired = await _me(client, issuer.token("k1", iat=1000, exp=2000))
        assert expired.json()["detail"] == "the token has expired"
        stranger = Issuer()
        stranger.add_key("k1")  # same kid, different key: the signature must fail
        forged = stranger.token("k1")
        forged_claims = jwt.decode(forged, options={"verify_signature": False})
        forged = jwt.encode({**forged_claims, "iss": issuer.url}, stranger.keys["k1"],
                            algorithm="RS256", headers={"kid": "k1"})  # fmt: skip
        assert (await _me(client, forged)).json()["detail"] == "the token's signature is invalid"
        stranger.server.server_close()
        admin = await admin_headers(client)
        users = (await client.get("/api/v1/users", headers=admin)).json()["items"]
        assert [u["username"] for u in users] == ["admin"]  # nobody provisioned


async def test_key_rotation_is_followed(make_client: Any, issuer: Issuer) -> None:
    async with make_client(_env(issuer)) as client:
        assert (await _me(client, issuer.token("k1"))).status_code == 200
        fetches = issuer.requests.count("/jwks")
        issuer.add_key("k2")
        del issuer.keys["k1"]
        response = await _me(client, issuer.token("k2", sub="user-2", preferred_username="bob"))
        assert response.status_code == 200, response.text
        assert issuer.requests.count("/jwks") == fetches + 1
        old = await _me(client, issuer.token_with_removed_key())
        assert old.status_code == 401


async def test_unknown_kid_refetches_at_most_at_the_configured_rate(
    make_client: Any, issuer: Issuer
) -> None:
    env = {**_env(issuer), "SARK_OIDC_JWKS_MIN_REFRESH_SECONDS": "3600"}
    async with make_client(env) as client:
        assert (await _me(client, issuer.token("k1"))).status_code == 200
        fetches = issuer.requests.count("/jwks")
        issuer.add_key("k9")
        for _ in range(3):
            response = await _me(client, issuer.token("k9"))
            assert response.status_code == 401
            assert "does not publish" in response.json()["detail"]
        assert issuer.requests.count("/jwks") == fetches
