"""Signed access tokens (JWT): HS256 with a secret, or RS256/EdDSA with a private key."""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from sark.api.security.secretfile import load_or_create_secret
from sark.core.errors import ConfigError
from sark.core.settings import Settings

LEEWAY_SECONDS: Final = 10
REQUIRED_CLAIMS: Final = ["exp", "iat", "iss", "aud", "sub", "jti"]
_ALGORITHMS: Final = {"hs256": "HS256", "rs256": "RS256", "eddsa": "EdDSA"}


class TokenError(Exception):
    """A presented token is not valid; ``str(exc)`` says why in words a user can act on."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    """The key tokens are signed with and its public half (None for HS256)."""

    algorithm: str
    kid: str
    signing: Any
    verifying: Any
    public_jwk: dict[str, Any] | None


def _thumbprint(jwk: dict[str, Any]) -> str:
    # RFC 7638: SHA-256 over the required members, sorted, no whitespace.
    required = {"RSA": ("e", "kty", "n"), "OKP": ("crv", "kty", "x")}[jwk["kty"]]
    canonical = json.dumps({k: jwk[k] for k in required}, separators=(",", ":"), sort_keys=True)
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _asymmetric_key(algorithm: str, path: str) -> SigningKey:
    try:
        private = load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        msg = f"SARK_JWT_PRIVATE_KEY_FILE: cannot load a PEM private key from {path} ({exc})"
        raise ConfigError(msg) from None
    if algorithm == "RS256" and isinstance(private, rsa.RSAPrivateKey):
        jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    elif algorithm == "EdDSA" and isinstance(private, ed25519.Ed25519PrivateKey):
        jwk = json.loads(OKPAlgorithm.to_jwk(private.public_key()))
    else:
        expected = "an RSA" if algorithm == "RS256" else "an Ed25519"
        msg = f"SARK_JWT_PRIVATE_KEY_FILE: {algorithm} needs {expected} private key"
        raise ConfigError(msg)
    kid = _thumbprint(jwk)
    jwk.update({"kid": kid, "alg": algorithm, "use": "sig"})
    return SigningKey(algorithm, kid, private, private.public_key(), jwk)


def signing_key(settings: Settings) -> SigningKey:
    """The signing key ``settings`` configure (generating the HS256 secret if needed)."""
    config = settings.auth.jwt
    algorithm = _ALGORITHMS[config.algorithm]
    if algorithm != "HS256":
        if not config.private_key_file:
            msg = f"SARK_JWT_ALGORITHM={config.algorithm} needs SARK_JWT_PRIVATE_KEY_FILE"
            raise ConfigError(msg)
        return _asymmetric_key(algorithm, config.private_key_file)
    secret = (
        config.secret.reveal()
        if config.secret
        else load_or_create_secret(Path(settings.home) / "jwt.secret")
    )
    if len(secret) < 32:
        msg = "SARK_JWT_SECRET must be at least 32 characters"
        raise ConfigError(msg)
    kid = "hs-" + hashlib.sha256(secret.encode()).hexdigest()[:16]
    return SigningKey(algorithm, kid, secret.encode(), secret.encode(), None)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly signed access token."""

    token: str
    jti: str
    expires_at: float


class JwtCodec:
    """Issues and verifies SARK's own access tokens; ``iss`` and ``aud`` always checked."""

    def __init__(self, key: SigningKey, issuer: str, audience: str, ttl_seconds: int) -> None:
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self._jwt = jwt.PyJWT(options={"require": REQUIRED_CLAIMS})

    @classmethod
    def from_settings(cls, settings: Settings) -> JwtCodec:
        """The codec ``settings`` configure."""
        config = settings.auth.jwt
        return cls(signing_key(settings), config.issuer, config.audience, config.access_ttl_seconds)

    def issue(self, claims: dict[str, Any], now: float | None = None) -> IssuedToken:
        """Sign ``claims`` plus the registered ones (iat, exp, jti, iss, aud)."""
        issued = int(now if now is not None else time.time())
        jti = uuid.uuid4().hex
        payload = {
            **claims,
            "iat": issued,
            "exp": issued + self.ttl_seconds,
            "jti": jti,
            "iss": self.issuer,
            "aud": self.audience,
        }
        token = jwt.encode(
            payload, self.key.signing, algorithm=self.key.algorithm, headers={"kid": self.key.kid}
        )
        return IssuedToken(token, jti, float(payload["exp"]))

    def decode(self, token: str) -> dict[str, Any]:
        """The verified claims of ``token``; raises :class:`TokenError` saying why not."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise TokenError("the bearer token is not a well-formed JWT") from None
        if header.get("alg") != self.key.algorithm:
            msg = f"the token's algorithm {header.get('alg')!r} is not accepted"
            raise TokenError(msg)
        if header.get("kid") != self.key.kid:
            raise TokenError("the token was signed with an unknown key")
        return decode_verified(
            self._jwt,
            token,
            self.key.verifying,
            self.key.algorithm,
            issuer=self.issuer,
            audience=self.audience,
        )

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWK set (empty for HS256, whose key is secret)."""
        return {"keys": [self.key.public_jwk] if self.key.public_jwk else []}


def decode_verified(
    codec: jwt.PyJWT, token: str, key: Any, algorithm: str, *, issuer: str, audience: str
) -> dict[str, Any]:
    """Verify signature and registered claims, mapping PyJWT errors to plain reasons."""
    try:
        claims: dict[str, Any] = codec.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            leeway=LEEWAY_SECONDS,
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("the token has expired") from None
    except jwt.InvalidAudienceError:
        raise TokenError("the token was issued for another audience") from None
    except jwt.InvalidIssuerError:
        raise TokenError("the token was issued by another issuer") from None
    except jwt.InvalidSignatureError:
        raise TokenError("the token's signature is invalid") from None
    except jwt.MissingRequiredClaimError as exc:
        msg = f"the token lacks the {exc.claim!r} claim"
        raise TokenError(msg) from None
    except jwt.ImmatureSignatureError:
        raise TokenError("the token is not valid yet") from None
    except jwt.PyJWTError:
        raise TokenError("the bearer token is invalid") from None
    return claims
