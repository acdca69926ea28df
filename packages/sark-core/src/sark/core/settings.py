"""Settings: frozen structs built from defaults, ``config.yaml`` and the environment.

Nothing is read at import time. ``Settings.from_env(os.environ)`` is called once by the
composition root (the CLI); tests build settings directly with ``Settings.from_env({...})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from sark.core.errors import ConfigError
from sark.core.flags import FeatureFlags
from sark.core.options import OPTIONS, OPTIONS_BY_KEY, Option, Secret

CONFIG_ENV = "SARK_CONFIG"
DEFAULT_CONFIG_NAME = "config.yaml"

Backend = Literal["sqlite", "postgresql"]
_SCHEMES: dict[str, Backend] = {
    "sqlite": "sqlite",
    "sqlite+aiosqlite": "sqlite",
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "postgresql+asyncpg": "postgresql",
}
_DRIVERS: dict[Backend, str] = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}


class ServerSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How ``sark serve`` listens."""

    host: str
    port: int
    workers: int
    shutdown_timeout_seconds: int = 30


class LimitsSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Bounds on what one request may ask of the service."""

    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    max_json_nodes: int = 100_000


class DatabaseSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The SQL database (SQLite embedded default, or PostgreSQL)."""

    url: Secret
    """SQLAlchemy async URL, normalised to the aiosqlite or asyncpg driver."""
    backend: Backend
    embedded: bool
    """True when no URL was configured: SQLite in ``$SARK_HOME``, migrated on start."""
    pool_size: int
    echo: bool


class RedisSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Redis, when configured; everything it backs falls back to in-process state."""

    url: Secret | None


class PolicySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where policies come from and how they are evaluated."""

    path: str | None
    opa_url: str | None
    timeout_ms: int
    cache_enabled: bool = True


class JwtSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Signing and validation of SARK's own access tokens."""

    secret: Secret | None
    algorithm: str
    private_key_file: str | None
    issuer: str
    audience: str
    access_ttl_seconds: int
    refresh_ttl_seconds: int


class RateLimitSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Login lockout and per-principal request limits."""

    login_max_failures: int
    login_failure_window_seconds: int
    login_lockout_seconds: int
    login_lockout_max_seconds: int
    user_per_minute: int
    api_key_per_minute: int


class OidcSettings(msgspec.Struct, frozen=True, kw_only=True):
    """An external OpenID Connect issuer whose bearer tokens SARK accepts."""

    issuer: str | None
    audience: str | None
    role_claim: str
    group_claim: str
    role_map: str
    default_role: str
    jwks_min_refresh_seconds: float
    jwks_cache_seconds: int


class LdapSettings(msgspec.Struct, frozen=True, kw_only=True):
    """An LDAP directory users log in against (by bind)."""

    url: str | None
    bind_dn: str | None
    bind_password: Secret | None
    user_base: str | None
    user_filter: str
    group_base: str | None
    group_filter: str
    role_map: str
    default_role: str


class AuthSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Identity settings."""

    admin_password: Secret | None
    jwt: JwtSettings
    api_key_pepper: Secret | None
    token_cache_size: int
    revocation_sync_seconds: float
    rate_limit: RateLimitSettings
    oidc: OidcSettings
    ldap: LdapSettings


class AuditSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The audit writer: queue, batches, spool and retention."""

    batch_size: int
    flush_interval_ms: int
    queue_size: int
    backpressure_timeout_ms: int
    shutdown_timeout_seconds: float
    spool_dir: str | None
    retention_days: int
    maintenance_interval_seconds: int


class SplunkSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Splunk HTTP Event Collector forwarding."""

    url: str | None
    token: Secret | None
    index: str | None
    sourcetype: str
    source: str


class DatadogSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Datadog logs intake forwarding."""

    api_key: Secret | None
    site: str
    url: str | None
    service: str
    tags: str


class WebhookSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Generic JSON webhook forwarding."""

    url: str | None
    secret: Secret | None


class SiemSettings(msgspec.Struct, frozen=True, kw_only=True):
    """SIEM forwarders of the audit trail (each optional) and their common behaviour."""

    batch_size: int
    flush_interval_ms: int
    buffer_size: int
    gzip: bool
    timeout_seconds: float
    max_retries: int
    retry_backoff_ms: int
    retry_max_backoff_ms: int
    circuit_failure_threshold: int
    circuit_reset_seconds: float
    splunk: SplunkSettings
    datadog: DatadogSettings
    webhook: WebhookSettings


class LogSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Logging."""

    level: str
    format: str
    access: bool


class GatewaySettings(msgspec.Struct, frozen=True, kw_only=True):
    """The MCP Gateway Registry client (gateway plugin)."""

    url: str | None
    api_key: Secret | None
    timeout_seconds: float
    max_retries: int = 3
    retry_backoff_ms: int = 200
    circuit_failure_threshold: int = 5
    circuit_reset_seconds: float = 30.0
    sync_interval_seconds: int = 300
    trusted_pep_keys: str = ""
    agent_token_ttl_seconds: int = 3600


class DiscoverySettings(msgspec.Struct, frozen=True, kw_only=True):
    """Live discovery of MCP servers."""

    allowed_networks: str = ""
    """Canonical CIDRs, comma separated; empty: any but link-local, unspecified, multicast."""


class FlagSyncSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How replicas learn about runtime feature-flag changes."""

    poll_seconds: float = 1.0
    resync_seconds: float = 30.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Every setting of a SARK process, validated."""

    home: str
    config_file: str | None
    server: ServerSettings
    database: DatabaseSettings
    redis: RedisSettings
    policy: PolicySettings
    auth: AuthSettings
    log: LogSettings
    gateway: GatewaySettings
    audit: AuditSettings
    siem: SiemSettings
    features: FeatureFlags
    flags: FlagSyncSettings = FlagSyncSettings()
    limits: LimitsSettings = LimitsSettings()
    discovery: DiscoverySettings = DiscoverySettings()
    warnings: tuple[str, ...] = ()
    """Non-fatal remarks found while loading (unknown keys in config.yaml)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str], cwd: Path | None = None) -> Settings:
        """Build settings from defaults, then ``config.yaml``, then ``environ``."""
        base = cwd or Path.cwd()
        config_path = _config_path(environ, base)
        values: dict[str, tuple[Any, str]] = {o.key: (o.default, "default") for o in OPTIONS}
        warnings: list[str] = []
        if config_path is not None:
            for key, (raw, source) in _read_config(config_path, warnings).items():
                values[key] = (OPTIONS_BY_KEY[key].parse(raw, source), source)
        for option in OPTIONS:
            if option.env is not None and option.env in environ:
                raw_env = environ[option.env]
                values[option.key] = (option.parse(raw_env, option.env), option.env)
        return _assemble(values, config_path, base, tuple(warnings))

    def with_changes(self, **changes: Any) -> Settings:
        """A copy with some top-level fields replaced (tests and the CLI use it)."""
        return msgspec.structs.replace(self, **changes)


def _config_path(environ: Mapping[str, str], base: Path) -> Path | None:
    named = environ.get(CONFIG_ENV)
    if named:
        path = (base / named).resolve()
        if not path.is_file():
            msg = f"{CONFIG_ENV}: no such file {path}"
            raise ConfigError(msg)
        return path
    default = base / DEFAULT_CONFIG_NAME
    return default.resolve() if default.is_file() else None


def _read_config(path: Path, warnings: list[str]) -> dict[str, tuple[Any, str]]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        msg = f"{path.name}: invalid YAML{where}: {problem}"
        raise ConfigError(msg) from None
    except (OSError, UnicodeDecodeError) as exc:
        msg = f"{path.name}: cannot read ({exc})"
        raise ConfigError(msg) from None
    if document is None:
        return {}
    if not isinstance(document, dict):
        msg = f"{path.name}: the top level must be a mapping of settings"
        raise ConfigError(msg)
    found: dict[str, tuple[Any, str]] = {}
    _flatten(document, "", path.name, found, warnings)
    return found


def _flatten(
    node: dict[Any, Any],
    prefix: str,
    file_name: str,
    found: dict[str, tuple[Any, str]],
    warnings: list[str],
) -> None:
    for name, value in node.items():
        key = f"{prefix}{name}"
        source = f"{file_name}: {key}"
        if key in OPTIONS_BY_KEY:
            if isinstance(value, dict | list):
                msg = f"{source}: expected a single value, not a {type(value).__name__}"
                raise ConfigError(msg)
            found[key] = (value, source)
        elif isinstance(value, dict) and any(k.startswith(f"{key}.") for k in OPTIONS_BY_KEY):
            _flatten(value, f"{key}.", file_name, found, warnings)
        else:
            warnings.append(f"{source}: unknown setting, ignored")


def _assemble(
    values: dict[str, tuple[Any, str]],
    config_path: Path | None,
    base: Path,
    warnings: tuple[str, ...],
) -> Settings:
    tree: dict[str, Any] = {}
    for key, (value, _) in values.items():
        node = tree
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    home = (base / tree["home"]).resolve()
    tree["home"] = str(home)
    tree["database"].update(_database(values["database.url"], home))
    tree["config_file"] = str(config_path) if config_path else None
    tree["warnings"] = warnings
    settings = msgspec.convert(tree, Settings, dec_hook=_keep_secret)
    settings.features.check()
    return settings


def _database(url: tuple[Secret | None, str], home: Path) -> dict[str, Any]:
    value, source = url
    if value is None or not value.reveal():
        embedded = f"{_DRIVERS['sqlite']}:///{home / 'sark.db'}"
        return {"url": Secret(embedded), "backend": "sqlite", "embedded": True}
    text = value.reveal()
    scheme, sep, rest = text.partition("://")
    backend = _SCHEMES.get(scheme.lower()) if sep else None
    if backend is None:
        shown = scheme if sep else "no scheme"
        msg = (
            f"{source}: unsupported database URL ({shown}); "
            "use sqlite:///path/to/file.db or postgresql://user:password@host:5432/name"
        )
        raise ConfigError(msg)
    return {"url": Secret(f"{_DRIVERS[backend]}://{rest}"), "backend": backend, "embedded": False}


def _keep_secret(kind: type, obj: Any) -> Any:
    if kind is Secret and isinstance(obj, Secret):
        return obj
    msg = f"cannot build {kind.__name__} from {type(obj).__name__}"
    raise NotImplementedError(msg)


def describe(option: Option) -> str:
    """The default of ``option`` as documentation shows it."""
    if option.default is None:
        return "unset"
    if isinstance(option.default, bool):
        return str(option.default).lower()
    return str(option.default)
