"""Credential primitives: password hashing, signed tokens, API-key format and secrets on disk."""

from sark.api.security.apikeys import ApiKeyHasher, format_api_key, generate_api_key, parse_api_key
from sark.api.security.passwords import PasswordHasher
from sark.api.security.secretfile import load_or_create_secret
from sark.api.security.tokens import JwtCodec, TokenError

__all__ = [
    "ApiKeyHasher",
    "JwtCodec",
    "PasswordHasher",
    "TokenError",
    "format_api_key",
    "generate_api_key",
    "load_or_create_secret",
    "parse_api_key",
]
