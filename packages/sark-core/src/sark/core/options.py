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
    """One of ``str``, ``int``, ``float``, ``bool``, ``secret``, ``choice``, ``networks``."""
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


def _parse_networks(raw: object, option: Option) -> str:
    """Comma- or space-separated CIDRs (a bare address is its own /32 or /128), canonical."""
    import ipaddress

    parts = _parse_str(raw, option).replace(",", " ").split()
    try:
        return ",".join(str(ipaddress.ip_network(p, strict=False)) for p in parts)
    except ValueError as exc:
        msg = f"expected networks in CIDR notation ({exc})"
        raise ValueError(msg) from None


_PARSERS: Final[dict[str, Callable[[object, Option], Any]]] = {
    "str": _parse_str,
    "int": _parse_int,
    "float": _parse_float,
    "bool": _parse_bool,
    "secret": _parse_secret,
    "choice": _parse_choice,
    "networks": _parse_networks,
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
    Option(key="server.shutdown_timeout_seconds", env="SARK_SHUTDOWN_TIMEOUT_SECONDS",
           kind="int", default=30, minimum=1, maximum=3600,
           doc="Longest wait for a worker to stop gracefully (finish requests, flush the "
               "audit queue) before `sark serve` kills it."),
    # -- request limits (sark.api.limits)
    Option(key="limits.max_body_bytes", env="SARK_MAX_BODY_BYTES", kind="int",
           default=1_048_576, minimum=1024, maximum=1_073_741_824,
           doc="Largest request body accepted; larger ones get 413."),
    Option(key="limits.max_json_depth", env="SARK_MAX_JSON_DEPTH", kind="int", default=32,
           minimum=2, maximum=200,
           doc="Deepest nesting of objects and arrays in a JSON body; deeper ones get 400."),
    Option(key="limits.max_json_nodes", env="SARK_MAX_JSON_NODES", kind="int",
           default=100_000, minimum=10, maximum=100_000_000,
           doc="Most values and object keys in a JSON body (bounds policy parameter maps "
               "and batches); larger ones get 400."),
    # -- live discovery of MCP servers
    Option(key="discovery.allowed_networks", env="SARK_DISCOVERY_ALLOWED_NETWORKS",
           kind="networks", default="",
           doc="Networks (CIDRs, comma separated, e.g. `10.20.0.0/16,127.0.0.1`) whose "
               "addresses live discovery may connect to over HTTP or SSE; every address the "
               "server's host resolves to must be in one. Empty: any address but link-local "
               "(`169.254.0.0/16`, `fe80::/10`: cloud metadata services), unspecified and "
               "multicast ones."),
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
    Option(key="policy.cache_enabled", env="SARK_DECISION_CACHE_ENABLED", kind="bool",
           default=True, doc="Cache decisions (TTL by sensitivity; Redis as second level "
                             "when `SARK_REDIS_URL` is set). Off: every decision is evaluated."),
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
    Option(key="auth.api_key_pepper", env="SARK_API_KEY_PEPPER", kind="secret", default=None,
           doc="Server secret API keys are hashed with (HMAC-SHA256); unset generates one "
               "in `$SARK_HOME/api_key.pepper` on first start. Changing it invalidates "
               "every API key."),
    Option(key="auth.token_cache_size", env="SARK_AUTH_TOKEN_CACHE_SIZE", kind="int",
           default=10_000, minimum=0, maximum=10_000_000,
           doc="Verified access tokens and API keys kept in process (0 disables the cache)."),
    Option(key="auth.revocation_sync_seconds", env="SARK_AUTH_REVOCATION_SYNC_SECONDS",
           kind="float", default=1.0, minimum=0.05, maximum=60,
           doc="How often a replica reads revocations (logouts, revoked keys) made by others."),
    Option(key="auth.rate_limit.login_max_failures", env="SARK_LOGIN_MAX_FAILURES",
           kind="int", default=5, minimum=1, maximum=1000,
           doc="Failed logins from one address for one username before a lockout."),
    Option(key="auth.rate_limit.login_failure_window_seconds",
           env="SARK_LOGIN_FAILURE_WINDOW_SECONDS", kind="int", default=900, minimum=1,
           maximum=86_400, doc="Window in which failed logins are counted."),
    Option(key="auth.rate_limit.login_lockout_seconds", env="SARK_LOGIN_LOCKOUT_SECONDS",
           kind="int", default=60, minimum=1, maximum=86_400,
           doc="First lockout; each further lockout within a day doubles it."),
    Option(key="auth.rate_limit.login_lockout_max_seconds",
           env="SARK_LOGIN_LOCKOUT_MAX_SECONDS", kind="int", default=3600, minimum=1,
           maximum=604_800, doc="Upper bound of the exponential lockout."),
    Option(key="auth.rate_limit.user_per_minute", env="SARK_RATE_LIMIT_USER_PER_MINUTE",
           kind="int", default=1200, minimum=0, maximum=10_000_000,
           doc="Requests per minute one user may make (0: unlimited)."),
    Option(key="auth.rate_limit.api_key_per_minute", env="SARK_RATE_LIMIT_API_KEY_PER_MINUTE",
           kind="int", default=6000, minimum=0, maximum=10_000_000,
           doc="Requests per minute one API key may make, unless the key sets its own "
               "(0: unlimited)."),
    Option(key="auth.oidc.issuer", env="SARK_OIDC_ISSUER", kind="str", default=None,
           doc="OIDC issuer whose bearer tokens are accepted (discovery at "
               "`<issuer>/.well-known/openid-configuration`); unset disables OIDC."),
    Option(key="auth.oidc.audience", env="SARK_OIDC_AUDIENCE", kind="str", default=None,
           doc="Required `aud` of OIDC tokens (mandatory when OIDC is on)."),
    Option(key="auth.oidc.role_claim", env="SARK_OIDC_ROLE_CLAIM", kind="str",
           default="roles", doc="Claim holding the caller's roles at the identity provider."),
    Option(key="auth.oidc.group_claim", env="SARK_OIDC_GROUP_CLAIM", kind="str",
           default="groups", doc="Claim holding the caller's groups; they become SARK teams."),
    Option(key="auth.oidc.role_map", env="SARK_OIDC_ROLE_MAP", kind="str", default="{}",
           doc='JSON object mapping role or group values to SARK roles, e.g. '
               '`{"sark-admins": "admin"}`; the most privileged match wins.'),
    Option(key="auth.oidc.default_role", env="SARK_OIDC_DEFAULT_ROLE", kind="choice",
           default="viewer",
           choices=("admin", "security_admin", "team_lead", "developer", "viewer"),
           doc="Role of an OIDC user no mapping matches."),
    Option(key="auth.oidc.jwks_min_refresh_seconds", env="SARK_OIDC_JWKS_MIN_REFRESH_SECONDS",
           kind="float", default=10.0, minimum=0, maximum=3600,
           doc="Least time between two JWKS fetches caused by an unknown `kid`."),
    Option(key="auth.oidc.jwks_cache_seconds", env="SARK_OIDC_JWKS_CACHE_SECONDS", kind="int",
           default=3600, minimum=1, maximum=86_400,
           doc="How long fetched signing keys are trusted before a refetch."),
    Option(key="auth.ldap.url", env="SARK_LDAP_URL", kind="str", default=None,
           doc="LDAP server (`ldap://host:389` or `ldaps://...`); unset disables LDAP login."),
    Option(key="auth.ldap.bind_dn", env="SARK_LDAP_BIND_DN", kind="str", default=None,
           doc="DN SARK binds as to search users and groups (unset: anonymous)."),
    Option(key="auth.ldap.bind_password", env="SARK_LDAP_BIND_PASSWORD", kind="secret",
           default=None, doc="Password of `SARK_LDAP_BIND_DN`."),
    Option(key="auth.ldap.user_base", env="SARK_LDAP_USER_BASE", kind="str", default=None,
           doc="Search base of users, e.g. `ou=people,dc=example,dc=org`."),
    Option(key="auth.ldap.user_filter", env="SARK_LDAP_USER_FILTER", kind="str",
           default="(uid={username})",
           doc="Filter finding a user; `{username}` is replaced by the escaped login name."),
    Option(key="auth.ldap.group_base", env="SARK_LDAP_GROUP_BASE", kind="str", default=None,
           doc="Search base of groups (unset: groups are not read)."),
    Option(key="auth.ldap.group_filter", env="SARK_LDAP_GROUP_FILTER", kind="str",
           default="(member={user_dn})",
           doc="Filter finding a user's groups; `{user_dn}` is the escaped user DN."),
    Option(key="auth.ldap.role_map", env="SARK_LDAP_ROLE_MAP", kind="str", default="{}",
           doc='JSON object mapping group names (cn) to SARK roles, e.g. '
               '`{"admins": "admin"}`; the most privileged match wins.'),
    Option(key="auth.ldap.default_role", env="SARK_LDAP_DEFAULT_ROLE", kind="choice",
           default="viewer",
           choices=("admin", "security_admin", "team_lead", "developer", "viewer"),
           doc="Role of an LDAP user no group mapping matches."),
    # -- audit trail
    Option(key="audit.batch_size", env="SARK_AUDIT_BATCH_SIZE", kind="int", default=500,
           minimum=1, maximum=50_000,
           doc="Audit events per insert statement (a write takes all that is queued)."),
    Option(key="audit.flush_interval_ms", env="SARK_AUDIT_FLUSH_INTERVAL_MS", kind="int",
           default=200, minimum=1, maximum=60_000,
           doc="Longest time an audit event waits in the queue before its batch is written."),
    Option(key="audit.queue_size", env="SARK_AUDIT_QUEUE_SIZE", kind="int", default=10_000,
           minimum=1, maximum=10_000_000,
           doc="Audit events held in memory; when full, callers wait (back-pressure) or the "
               "events go to the spool file, never dropped."),
    Option(key="audit.backpressure_timeout_ms", env="SARK_AUDIT_BACKPRESSURE_TIMEOUT_MS",
           kind="int", default=1000, minimum=0, maximum=60_000,
           doc="Longest time `record_async` waits for queue space before spooling the event."),
    Option(key="audit.shutdown_timeout_seconds", env="SARK_AUDIT_SHUTDOWN_TIMEOUT_SECONDS",
           kind="float", default=10.0, minimum=0, maximum=600,
           doc="Time the writer gets on shutdown to write its queue; the rest is spooled."),
    Option(key="audit.spool_dir", env="SARK_AUDIT_SPOOL_DIR", kind="str", default=None,
           doc="Directory of the audit spool files; unset uses `$SARK_HOME/audit-spool`."),
    Option(key="audit.retention_days", env="SARK_AUDIT_RETENTION_DAYS", kind="int",
           default=0, minimum=0, maximum=36_500,
           doc="Days audit events are kept (0: forever). PostgreSQL drops whole monthly "
               "partitions older than this; SQLite deletes rows."),
    Option(key="audit.maintenance_interval_seconds",
           env="SARK_AUDIT_MAINTENANCE_INTERVAL_SECONDS", kind="int", default=3600,
           minimum=1, maximum=86_400,
           doc="How often partitions ahead are created and retention is applied."),
    # -- SIEM forwarding
    Option(key="siem.batch_size", env="SARK_SIEM_BATCH_SIZE", kind="int", default=100,
           minimum=1, maximum=10_000, doc="Audit events per request to a SIEM collector."),
    Option(key="siem.flush_interval_ms", env="SARK_SIEM_FLUSH_INTERVAL_MS", kind="int",
           default=1000, minimum=1, maximum=600_000,
           doc="Longest time an event waits before its (partial) batch is sent."),
    Option(key="siem.buffer_size", env="SARK_SIEM_BUFFER_SIZE", kind="int", default=10_000,
           minimum=1, maximum=10_000_000,
           doc="Events each forwarder holds; when full the oldest are dropped from the "
               "forwarder (never from the database) and counted."),
    Option(key="siem.gzip", env="SARK_SIEM_GZIP", kind="bool", default=True,
           doc="Compress request bodies (`Content-Encoding: gzip`)."),
    Option(key="siem.timeout_seconds", env="SARK_SIEM_TIMEOUT_SECONDS", kind="float",
           default=10.0, minimum=0.1, maximum=300, doc="Time limit of one request."),
    Option(key="siem.max_retries", env="SARK_SIEM_MAX_RETRIES", kind="int", default=5,
           minimum=0, maximum=100,
           doc="Retries of one batch (exponential back-off with jitter) before it is put "
               "back in the buffer."),
    Option(key="siem.retry_backoff_ms", env="SARK_SIEM_RETRY_BACKOFF_MS", kind="int",
           default=500, minimum=1, maximum=600_000, doc="First retry delay; doubles each retry."),
    Option(key="siem.retry_max_backoff_ms", env="SARK_SIEM_RETRY_MAX_BACKOFF_MS", kind="int",
           default=30_000, minimum=1, maximum=3_600_000,
           doc="Upper bound of one retry delay (also caps `Retry-After`)."),
    Option(key="siem.circuit_failure_threshold", env="SARK_SIEM_CIRCUIT_FAILURE_THRESHOLD",
           kind="int", default=5, minimum=1, maximum=10_000,
           doc="Consecutive failed requests that open a forwarder's circuit."),
    Option(key="siem.circuit_reset_seconds", env="SARK_SIEM_CIRCUIT_RESET_SECONDS",
           kind="float", default=30.0, minimum=0.01, maximum=86_400,
           doc="Time an open circuit waits before one probe request (half-open)."),
    Option(key="siem.splunk.url", env="SARK_SIEM_SPLUNK_URL", kind="str", default=None,
           doc="Splunk HTTP Event Collector base URL (`https://splunk:8088`); unset disables "
               "the Splunk forwarder."),
    Option(key="siem.splunk.token", env="SARK_SIEM_SPLUNK_TOKEN", kind="secret",
           default=None, doc="HEC token, sent as `Authorization: Splunk <token>`."),
    Option(key="siem.splunk.index", env="SARK_SIEM_SPLUNK_INDEX", kind="str", default=None,
           doc="Splunk index of the events (unset: the token's default index)."),
    Option(key="siem.splunk.sourcetype", env="SARK_SIEM_SPLUNK_SOURCETYPE", kind="str",
           default="sark:audit", doc="Splunk sourcetype of the events."),
    Option(key="siem.splunk.source", env="SARK_SIEM_SPLUNK_SOURCE", kind="str",
           default="sark", doc="Splunk source of the events."),
    Option(key="siem.datadog.api_key", env="SARK_SIEM_DATADOG_API_KEY", kind="secret",
           default=None, doc="Datadog API key (`DD-API-KEY`); unset disables the Datadog "
                             "forwarder."),
    Option(key="siem.datadog.site", env="SARK_SIEM_DATADOG_SITE", kind="str",
           default="datadoghq.com", doc="Datadog site, e.g. `datadoghq.eu`, `us5.datadoghq.com`."),
    Option(key="siem.datadog.url", env="SARK_SIEM_DATADOG_URL", kind="str", default=None,
           doc="Logs intake URL; unset uses `https://http-intake.logs.<site>/api/v2/logs`."),
    Option(key="siem.datadog.service", env="SARK_SIEM_DATADOG_SERVICE", kind="str",
           default="sark", doc="`service` of the logs."),
    Option(key="siem.datadog.tags", env="SARK_SIEM_DATADOG_TAGS", kind="str", default="",
           doc="Extra `ddtags`, comma separated (`env:prod,team:sec`)."),
    Option(key="siem.webhook.url", env="SARK_SIEM_WEBHOOK_URL", kind="str", default=None,
           doc="URL receiving audit events as a JSON array (POST); unset disables it."),
    Option(key="siem.webhook.secret", env="SARK_SIEM_WEBHOOK_SECRET", kind="secret",
           default=None, doc="Signs each request: `X-Sark-Signature: sha256=<hex HMAC-SHA256 "
                             "of '<X-Sark-Timestamp>.' + body>` (body before gzip)."),
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
    Option(key="gateway.max_retries", env="GATEWAY_MAX_RETRIES", kind="int", default=3,
           minimum=0, maximum=20,
           doc="Retries of a failed registry call (exponential back-off with jitter)."),
    Option(key="gateway.retry_backoff_ms", env="GATEWAY_RETRY_BACKOFF_MS", kind="int",
           default=200, minimum=1, maximum=60_000, doc="First retry delay; doubles each retry."),
    Option(key="gateway.circuit_failure_threshold", env="GATEWAY_CIRCUIT_FAILURE_THRESHOLD",
           kind="int", default=5, minimum=1, maximum=10_000,
           doc="Consecutive failed registry calls that open the client's circuit."),
    Option(key="gateway.circuit_reset_seconds", env="GATEWAY_CIRCUIT_RESET_SECONDS",
           kind="float", default=30.0, minimum=0.01, maximum=86_400,
           doc="Time an open circuit waits before one probe call (half-open)."),
    Option(key="gateway.sync_interval_seconds", env="GATEWAY_SYNC_INTERVAL_SECONDS",
           kind="int", default=300, minimum=0, maximum=86_400,
           doc="How often servers and tools are synced from the registry (0: only on "
               "`POST /api/v1/gateway/sync`)."),
    Option(key="gateway.trusted_pep_keys", env="GATEWAY_TRUSTED_PEP_KEYS", kind="str",
           default="", doc="API key ids (space or comma separated) whose subject attributes "
                           "(role, teams) AuthZEN and OPA-compatible requests may assert; "
                           "other keys' subjects must be SARK users."),
    Option(key="gateway.agent_token_ttl_seconds", env="GATEWAY_AGENT_TOKEN_TTL_SECONDS",
           kind="int", default=3600, minimum=30, maximum=2_592_000,
           doc="Lifetime of agent tokens issued by `POST /api/v1/gateway/agents/token`."),
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
    # -- runtime feature-flag store (sark.api.domain.admin)
    Option(key="flags.poll_seconds", env="SARK_FLAGS_POLL_SECONDS", kind="float", default=1.0,
           minimum=0.05, maximum=60,
           doc="Without Redis: how often each replica reads runtime flag changes from the "
               "database (the bound on how stale a replica can be)."),
    Option(key="flags.resync_seconds", env="SARK_FLAGS_RESYNC_SECONDS", kind="float",
           default=30.0, minimum=1, maximum=3600,
           doc="With Redis: how often each replica re-reads the flags anyway, in case a "
               "pub/sub message was lost."),
)  # fmt: skip

OPTIONS_BY_KEY: Final = {option.key: option for option in OPTIONS}
