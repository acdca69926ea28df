"""The table of every setting: its key, environment variable, type, default and meaning.

This table is the single source of truth: :mod:`sark.core.settings` loads from it and
``docs/configuration.md`` is generated from it (a test keeps the two in sync).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import msgspec

from sark.core.errors import ConfigError

_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})


class Secret:
    """A string that never shows itself in ``repr``, ``str`` or logs."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret value, for the one place that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        import hmac

        return isinstance(other, Secret) and hmac.compare_digest(
            self._value.encode(), other._value.encode()
        )

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __bool__(self) -> bool:
        return bool(self._value)


class Option(msgspec.Struct, frozen=True, kw_only=True):
    """One setting."""

    key: str
    """Dotted path in ``config.yaml`` and in :class:`~sark.core.settings.Settings`."""
    env: str | None
    """Environment variable that overrides ``config.yaml``; None for file-only settings."""
    kind: str
    """One of ``str``, ``int``, ``float``, ``bool``, ``secret``, ``choice``."""
    default: Any
    doc: str
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def secret(self) -> bool:
        """Whether the value must never be printed."""
        return self.kind == "secret"

    def parse(self, raw: object, source: str) -> Any:
        """Convert ``raw`` (a string from the environment or a YAML scalar) to this type."""
        if raw is None:
            return None
        parser = _PARSERS[self.kind]
        try:
            value = parser(raw, self)
        except (TypeError, ValueError) as exc:
            shown = "<hidden>" if self.secret else repr(raw)
            msg = f"{source}: {exc} (got {shown})"
            raise ConfigError(msg) from None
        self._check_range(value, source)
        return value

    def _check_range(self, value: Any, source: str) -> None:
        if self.minimum is not None and value < self.minimum:
            msg = f"{source}: must be at least {_num(self.minimum)} (got {value})"
            raise ConfigError(msg)
        if self.maximum is not None and value > self.maximum:
            msg = f"{source}: must be at most {_num(self.maximum)} (got {value})"
            raise ConfigError(msg)


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _parse_str(raw: object, _: Option) -> str:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        msg = "expected a string"
        raise TypeError(msg)
    return str(raw)


def _parse_int(raw: object, _: Option) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        msg = "expected an integer"
        raise TypeError(msg)
    try:
        return int(raw)
    except ValueError:
        msg = "expected an integer"
        raise ValueError(msg) from None


def _parse_float(raw: object, _: Option) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        msg = "expected a number"
        raise TypeError(msg)
    try:
        return float(raw)
    except ValueError:
        msg = "expected a number"
        raise ValueError(msg) from None


def _parse_bool(raw: object, _: Option) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = "expected true or false"
    raise ValueError(msg)


def _parse_secret(raw: object, option: Option) -> Secret:
    return Secret(_parse_str(raw, option))


def _parse_choice(raw: object, option: Option) -> str:
    text = _parse_str(raw, option).strip().lower()
    if text not in option.choices:
        msg = f"expected one of {', '.join(option.choices)}"
        raise ValueError(msg)
    return text


_PARSERS: Final[dict[str, Callable[[object, Option], Any]]] = {
    "str": _parse_str,
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "secret": _parse_secret,
    "choice": _parse_choice,
}

OPTIONS: Final[tuple[Option, ...]] = (
    # -- where things live
    Option(key="home", env="SARK_HOME", kind="str", default=".sark",
           doc="Data directory: the embedded SQLite database, audit spool, runtime files."),
    Option(key="policy.path", env="SARK_POLICY_PATH", kind="str", default=None,
           doc="Rego bundle directory; unset uses the bundled default policies."),
    # -- HTTP server
    Option(key="server.host", env="SARK_HOST", kind="str", default="127.0.0.1",
           doc="Address `sark serve` binds to."),
    Option(key="server.port", env="SARK_PORT", kind="int", default=8000, minimum=1,
           maximum=65535, doc="Port `sark serve` listens on."),
    Option(key="server.workers", env="SARK_WORKERS", kind="int", default=1, minimum=1,
           maximum=64, doc="Worker processes started by `sark serve`."),
    # -- storage
    Option(key="database.url", env="SARK_DATABASE_URL", kind="secret", default=None,
           doc="SQLAlchemy URL: `sqlite:///path` or `postgresql://user:pass@host/db`; "
               "unset uses SQLite at `$SARK_HOME/sark.db` and migrates it on start."),
    Option(key="database.pool_size", env="SARK_DATABASE_POOL_SIZE", kind="int", default=10,
           minimum=1, maximum=200, doc="Connections per worker (PostgreSQL)."),
    Option(key="database.echo", env="SARK_DATABASE_ECHO", kind="bool", default=False,
           doc="Log every SQL statement (debugging only)."),
    Option(key="redis.url", env="SARK_REDIS_URL", kind="secret", default=None,
           doc="Redis URL for the shared cache, rate limits and flag broadcast; "
               "unset keeps all of them in process."),
    # -- policy engines
    Option(key="policy.opa_url", env="SARK_OPA_URL", kind="str", default=None,
           doc="OPA server base URL; unset means the in-process engine is the only engine."),
    Option(key="policy.timeout_ms", env="SARK_POLICY_TIMEOUT_MS", kind="int", default=250,
           minimum=1, maximum=60_000, doc="Time limit of one policy evaluation."),
    # -- identity
    Option(key="auth.admin_password", env="SARK_ADMIN_PASSWORD", kind="secret", default=None,
           doc="Password of the `admin` user created on first start; unset generates one "
               "and prints it once."),
    Option(key="auth.jwt.secret", env="SARK_JWT_SECRET", kind="secret", default=None,
           doc="HS256 signing secret; unset generates one in `$SARK_HOME` on first start."),
    Option(key="auth.jwt.algorithm", env="SARK_JWT_ALGORITHM", kind="choice",
           default="hs256", choices=("hs256", "rs256", "eddsa"),
           doc="Access-token signature algorithm."),
    Option(key="auth.jwt.private_key_file", env="SARK_JWT_PRIVATE_KEY_FILE", kind="str",
           default=None, doc="PEM private key for RS256/EdDSA signing."),
    Option(key="auth.jwt.issuer", env="SARK_JWT_ISSUER", kind="str", default="sark",
           doc="`iss` of issued tokens (and required of presented ones)."),
    Option(key="auth.jwt.audience", env="SARK_JWT_AUDIENCE", kind="str", default="sark",
           doc="`aud` of issued tokens (and required of presented ones)."),
    Option(key="auth.jwt.access_ttl_seconds", env="SARK_JWT_ACCESS_TTL_SECONDS", kind="int",
           default=900, minimum=30, maximum=86_400, doc="Lifetime of access tokens."),
    Option(key="auth.jwt.refresh_ttl_seconds", env="SARK_JWT_REFRESH_TTL_SECONDS",
           kind="int", default=1_209_600, minimum=300, maximum=31_536_000,
           doc="Lifetime of refresh tokens."),
    # -- logging
    Option(key="log.level", env="SARK_LOG_LEVEL", kind="choice", default="info",
           choices=("debug", "info", "warning", "error"), doc="Log level."),
    Option(key="log.format", env="SARK_LOG_FORMAT", kind="choice", default="json",
           choices=("json", "text"), doc="`json` (one object a line) or `text`."),
    Option(key="log.access", env="SARK_LOG_ACCESS", kind="bool", default=True,
           doc="Log one line per HTTP request."),
    # -- gateway plugin
    Option(key="gateway.url", env="GATEWAY_URL", kind="str", default=None,
           doc="MCP Gateway Registry base URL (gateway plugin)."),
    Option(key="gateway.api_key", env="GATEWAY_API_KEY", kind="secret", default=None,
           doc="API key SARK presents to the MCP Gateway Registry."),
    Option(key="gateway.timeout_seconds", env="GATEWAY_TIMEOUT_SECONDS", kind="float",
           default=5.0, minimum=0.1, maximum=300, doc="Timeout of one gateway registry call."),
    # -- feature flags (sark.core.flags)
    Option(key="features.gateway.enabled", env="GATEWAY_ENABLED", kind="bool", default=False,
           doc="Gateway integration (needs the sark-gateway package)."),
    Option(key="features.a2a.enabled", env="A2A_ENABLED", kind="bool", default=False,
           doc="Agent-to-agent authorization; requires `GATEWAY_ENABLED`."),
    Option(key="features.rust_opa.enabled", env="SARK_RUST_OPA_ENABLED", kind="bool",
           default=False, doc="Route decisions to the in-process engine (needs sark-native)."),
    Option(key="features.rust_opa.rollout_percentage", env="SARK_RUST_OPA_ROLLOUT_PCT",
           kind="int", default=0, minimum=0, maximum=100,
           doc="Share of subjects (stable buckets) served by the in-process engine."),
    Option(key="features.rust_opa.fallback_on_error", env="SARK_RUST_OPA_FALLBACK_ON_ERROR",
           kind="bool", default=True,
           doc="On an engine error, let the other engine answer instead of denying."),
    Option(key="features.rust_opa.shadow", env="SARK_RUST_OPA_SHADOW", kind="bool",
           default=False, doc="Evaluate both engines, serve the primary, count divergence."),
    Option(key="features.rust_cache.enabled", env="SARK_RUST_CACHE_ENABLED", kind="bool",
           default=False, doc="Use the native decision cache (needs sark-native)."),
    Option(key="features.rust_cache.rollout_percentage", env="SARK_RUST_CACHE_ROLLOUT_PCT",
           kind="int", default=0, minimum=0, maximum=100,
           doc="Share of subjects served by the native cache."),
    Option(key="features.rust_cache.fallback_on_error",
           env="SARK_RUST_CACHE_FALLBACK_ON_ERROR", kind="bool", default=True,
           doc="On a native cache error, use the other cache."),
    Option(key="features.rust_cache.max_size", env="SARK_RUST_CACHE_MAX_SIZE", kind="int",
           default=10_000, minimum=1, maximum=100_000_000,
           doc="Entries kept by the in-process decision cache."),
    Option(key="features.rust_cache.ttl_seconds", env="SARK_RUST_CACHE_TTL_SECONDS",
           kind="int", default=300, minimum=0, maximum=86_400,
           doc="Upper bound on the TTL of cached decisions."),
)  # fmt: skip

OPTIONS_BY_KEY: Final = {option.key: option for option in OPTIONS}
