"""Access tokens: what is refused (expired, forged, alg none, wrong aud/iss) and the JWKS."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from tests.support.app import make_settings
from tests.support.identity import admin_headers

from sark.api.security.tokens import JwtCodec, TokenError, signing_key
from sark.core.errors import ConfigError

SECRET = "test-jwt-secret-0123456789abcdef0123456789"  # the one make_settings configures


def _claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def _forge(token: str, key: str = SECRET, kid: str | None = None, **changes: Any) -> str:
    """``token``'s claims with ``changes``, signed with ``key`` (HS256)."""
    header = jwt.get_unverified_header(token)
    return jwt.encode(
        {**_claims(token), **changes}, key, algorithm="HS256", headers={"kid": kid or header["kid"]}
    )


async def _admin_token(client: Any) -> str:
    headers = await admin_headers(client)
    return headers["Authorization"].removeprefix("Bearer ")


async def _me(client: Any, token: str) -> Any:
    return await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


async def test_token_carries_registered_claims_and_kid(client: Any) -> None:
    token = await _admin_token(client)
    claims = _claims(token)
    assert {"sub", "role", "teams", "iat", "exp", "jti", "iss", "aud", "sid"} <= claims.keys()
    assert claims["iss"] == "sark"
    assert claims["aud"] == "sark"
    assert claims["role"] == "admin"
    assert claims["exp"] - claims["iat"] == 900
    assert jwt.get_unverified_header(token)["kid"].startswith("hs-")


async def test_expired_token_is_refused(client: Any) -> None:
    token = await _admin_token(client)
    past = int(time.time()) - 3600
    response = await _me(client, _forge(token, iat=past - 900, exp=past))
    assert response.status_code == 401
    assert response.json()["detail"] == "the token has expired"


async def test_forged_signature_is_refused(client: Any) -> None:
    token = await _admin_token(client)
    claims = _claims(token)
    forged = _forge(token, key="another-secret-another-secret-another-secret", role="admin")
    response = await _me(client, forged)
    assert response.status_code == 401
    assert response.json()["detail"] == "the token's signature is invalid"
    # Same signature, tampered payload.
    head, _, sig = token.split(".")
    payload = base64.urlsafe_b64encode(json.dumps({**claims, "role": "admin", "sub": "x"}).encode())
    tampered = f"{head}.{payload.decode().rstrip('=')}.{sig}"
    assert (await _me(client, tampered)).status_code == 401


async def test_alg_none_is_refused(client: Any) -> None:
    claims = _claims(await _admin_token(client))
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').decode().rstrip("=")
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    response = await _me(client, f"{header}.{body}.")
    assert response.status_code == 401
    assert response.json()["detail"] == "the token's algorithm 'none' is not accepted"


async def test_wrong_audience_or_issuer_or_kid_is_refused(client: Any) -> None:
    token = await _admin_token(client)
    wrong_aud = await _me(client, _forge(token, aud="someone-else"))
    assert wrong_aud.status_code == 401
    assert wrong_aud.json()["detail"] == "the token was issued for another audience"
    wrong_iss = await _me(client, _forge(token, iss="evil"))
    assert wrong_iss.json()["detail"] == "the token was issued by another issuer"
    wrong_kid = await _me(client, _forge(token, kid="hs-unknown"))
    assert wrong_kid.json()["detail"] == "the token was signed with an unknown key"
    garbage = await _me(client, "not.a.jwt")
    assert garbage.status_code == 401


def test_missing_claims_are_refused(tmp_path: Path) -> None:
    codec = JwtCodec.from_settings(make_settings(tmp_path))
    token = jwt.encode(
        {"sub": "u", "iss": "sark", "aud": "sark", "exp": time.time() + 60, "iat": time.time()},
        SECRET,
        algorithm="HS256",
        headers={"kid": codec.key.kid},
    )
    with pytest.raises(TokenError, match="'jti'"):
        codec.decode(token)


def test_generated_secret_is_persisted_owner_only(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, {"SARK_JWT_SECRET": ""})
    first = signing_key(settings)
    path = Path(settings.home) / "jwt.secret"
    assert path.stat().st_mode & 0o777 == 0o600
    assert signing_key(settings).kid == first.kid


@pytest.mark.parametrize("algorithm", ["rs256", "eddsa"])
def test_asymmetric_keys_sign_and_publish_jwks(tmp_path: Path, algorithm: str) -> None:
    private = (
        rsa.generate_private_key(65537, 2048)
        if algorithm == "rs256"
        else ed25519.Ed25519PrivateKey.generate()
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(pem)
    settings = make_settings(
        tmp_path, {"SARK_JWT_ALGORITHM": algorithm, "SARK_JWT_PRIVATE_KEY_FILE": str(key_file)}
    )
    codec = JwtCodec.from_settings(settings)
    issued = codec.issue({"sub": "u-1", "role": "viewer", "teams": []})
    assert codec.decode(issued.token)["sub"] == "u-1"
    jwks = codec.jwks()
    assert len(jwks["keys"]) == 1
    assert jwks["keys"][0]["kid"] == codec.key.kid
    # Anyone can verify with the published key alone.
    public = jwt.PyJWK(jwks["keys"][0])
    verified = jwt.decode(
        issued.token, public.key, algorithms=[codec.key.algorithm], audience="sark"
    )
    assert verified["role"] == "viewer"
    # A token signed with the HS256 secret is refused by an RS256/EdDSA deployment.
    hs = jwt.encode({"sub": "u"}, SECRET, algorithm="HS256", headers={"kid": codec.key.kid})
    with pytest.raises(TokenError, match="algorithm 'HS256' is not accepted"):
        codec.decode(hs)


def test_asymmetric_algorithm_needs_a_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SARK_JWT_PRIVATE_KEY_FILE"):
        JwtCodec.from_settings(make_settings(tmp_path, {"SARK_JWT_ALGORITHM": "rs256"}))
    wrong = tmp_path / "ed.pem"
    wrong.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ConfigError, match="needs an RSA private key"):
        JwtCodec.from_settings(
            make_settings(
                tmp_path, {"SARK_JWT_ALGORITHM": "rs256", "SARK_JWT_PRIVATE_KEY_FILE": str(wrong)}
            )
        )
