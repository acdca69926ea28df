"""``sark health-check`` and ``sark diagnostics``: what an operator checks and reports.

Both measure from the CLI's own process with the server's configuration. Diagnostics adds
a metrics snapshot of a running server (``--url``, default its ``/metrics`` on the
configured port): the server's error counters stand in for "recent errors", since the
error log lines themselves live in the server's log stream, not in this process.
"""

from __future__ import annotations

import asyncio
import importlib
import os
import platform
import sys
from pathlib import Path
from typing import Any, Final

import click
import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from sark.api.cli._common import clean_errors, emit, json_option, load_settings
from sark.api.db.engine import create_engine
from sark.api.domain.admin import checks, flagstate
from sark.api.domain.admin.checks import Check
from sark.api.domain.admin.store import FlagStore
from sark.api.observability.metrics import Telemetry
from sark.core.flags import FeatureFlags
from sark.core.options import OPTIONS
from sark.core.settings import Settings
from sark.core.version import VERSION

SNAPSHOT_PREFIXES: Final = (
    "opa_evaluation_", "cache_operation_", "feature_flag_assignments", "implementation_fallback",
    "rust_cache_size", "policy_shadow_", "sark_decision", "sark_feature_flag", "sark_http_requests",
    "sark_audit_", "process_",
)  # fmt: skip
ERROR_FAMILIES: Final = (
    "opa_evaluation_errors", "cache_operation_errors", "implementation_fallback",
    "sark_decision_failures", "policy_shadow_divergence",
)  # fmt: skip


async def read_flags(settings: Settings) -> tuple[FlagStore | None, str | None]:
    """A store refreshed from the database (no writes), or None and why it failed."""
    if settings.database.embedded and not (Path(settings.home) / "sark.db").exists():
        return None, "no database yet"
    engine = create_engine(settings.database)
    store = FlagStore(settings, engine, Telemetry())
    try:
        await store.refresh()
    except Exception as exc:
        return None, str(getattr(exc, "orig", None) or exc).splitlines()[0][:200]
    finally:
        await engine.dispose()
    return store, None


def flags_check(store: FlagStore | None, error: str | None) -> Check:
    """Feature flags readable and coherent."""
    if store is None:
        return Check(name="Feature Flags", status="failed",
                     detail=f"runtime state unreadable ({error})")  # fmt: skip
    flags = store.current()
    try:
        flags.check()
    except Exception as exc:
        return Check(name="Feature Flags", status="failed", detail=str(exc))
    detail = (f"Configured (rust_opa: {_pct(flags.rust_opa)}, "
              f"rust_cache: {_pct(flags.rust_cache)})")  # fmt: skip
    return Check(name="Feature Flags", status="ok", detail=detail)


def _pct(flag: Any) -> str:
    return f"{flag.rollout_percentage}%" if flag.enabled else "off"


async def run_checks(settings: Settings, *, rust: bool) -> tuple[list[Check], FlagStore | None]:
    """Every check of the checklist, in the guide's order."""
    database = await checks.check_database(settings)
    redis = await checks.check_redis(settings)
    opa = await checks.check_opa(settings)
    rust_opa = await asyncio.to_thread(checks.check_rust_opa, settings, required=rust)
    rust_cache = await asyncio.to_thread(checks.check_rust_cache, required=rust)
    store, error = await read_flags(settings)
    listed = [database, redis, opa, rust_opa, rust_cache, flags_check(store, error)]
    return listed, store


@click.command(name="health-check")
@click.option("--rust", is_flag=True, help="Require the native (Rust) engine and cache.")
@json_option
@clean_errors
def health_check(rust: bool, as_json: bool) -> None:
    """Check the database, Redis, OPA, the native engine and cache, and the flags."""
    settings = load_settings()
    results, _ = asyncio.run(run_checks(settings, rust=rust))
    healthy = all(c.status != "failed" for c in results)
    payload = {
        "version": VERSION.version,
        "healthy": healthy,
        "checks": [{"name": c.name, "status": c.status, "detail": c.detail,
                    "latency_ms": c.latency_ms} for c in results],
    }  # fmt: skip

    def human() -> None:
        mark = "✅" if healthy else "❌"
        click.echo(f"{mark} SARK v{VERSION.version} Health Check")
        for check in results:
            click.echo(check.line)

    emit(payload, as_json, human)
    if not healthy:
        sys.exit(1)


# ---------------------------------------------------------------------- diagnostics


def _config_keys(settings: Settings) -> dict[str, Any]:
    if not settings.config_file:
        return {}
    try:
        document = yaml.safe_load(open(settings.config_file, encoding="utf-8").read())  # noqa: PTH123, SIM115
    except (OSError, yaml.YAMLError):
        return {}
    found: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            found[prefix.rstrip(".")] = node

    walk(document, "")
    return found


def flag_sources(settings: Settings, store: FlagStore | None) -> dict[str, dict[str, Any]]:
    """Each flag field's effective value and the layer it comes from."""
    in_file = _config_keys(settings)
    flags: FeatureFlags = store.current() if store else settings.features
    result: dict[str, dict[str, Any]] = {}
    for option in OPTIONS:
        if not option.key.startswith("features."):
            continue
        _, feature, field = option.key.split(".")
        value = flagstate.encode(flagstate.flag_of(flags, feature)).get(field)
        source = "default"
        if option.key in in_file:
            source = "config.yaml"
        if option.env and option.env in os.environ:
            source = f"env {option.env}"
        row = store.row(feature) if store else None
        if row is not None and flagstate.encode(row.state).get(field) is not None:
            configured = flagstate.encode(flagstate.flag_of(settings.features, feature))
            if configured.get(field) != value:
                source = f"runtime v{row.version} by {row.updated_by} ({row.source})"
        result.setdefault(feature, {})[field] = {"value": value, "source": source}
    return result


def metrics_snapshot(url: str) -> dict[str, Any]:
    """The 1.4 and SARK metric samples a running server exposes at ``url``."""
    try:
        response = httpx.get(url, timeout=3.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return {"url": url, "reachable": False, "error": repr(exc)}
    samples: dict[str, float] = {}
    errors: dict[str, float] = {}
    for family in text_string_to_metric_families(response.text):
        if not family.name.startswith(SNAPSHOT_PREFIXES):
            continue
        for sample in family.samples:
            if sample.name.endswith(("_bucket", "_created")):
                continue
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            key = f"{sample.name}{{{labels}}}" if labels else sample.name
            samples[key] = sample.value
            if family.name.startswith(ERROR_FAMILIES) and sample.value:
                errors[key] = sample.value
    return {"url": url, "reachable": True, "samples": samples, "error_counters": errors}


def _native_info() -> dict[str, Any]:
    try:
        module = importlib.import_module("sark.native")
    except ImportError:
        return {"installed": False, "available": False}
    info: dict[str, Any] = {
        "installed": True,
        "available": bool(module.RUST_AVAILABLE),
        "version": getattr(module, "__version__", None),
    }
    if module.RUST_AVAILABLE:
        extension = importlib.import_module("sark.native._native")
        info["regorus"] = getattr(extension, "REGORUS_VERSION", None)
    return info


@click.command()
@click.option("--rust", is_flag=True, help="Measure the native engine and cache too.")
@click.option("--url", default=None, help="A running server's /metrics (default: this config's).")
@json_option
@clean_errors
def diagnostics(rust: bool, url: str | None, as_json: bool) -> None:
    """Everything a bug report needs: versions, Rust, flags and their sources, metrics."""
    settings = load_settings()
    results, store = asyncio.run(run_checks(settings, rust=rust))
    metrics_url = url or f"http://127.0.0.1:{settings.server.port}/metrics"
    payload = {
        "version": VERSION.version,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "rust": _native_info(),
        "checks": {c.name: {"status": c.status, "detail": c.detail} for c in results},
        "flags": flag_sources(settings, store),
        "metrics": metrics_snapshot(metrics_url),
        "recent_errors": "see metrics.error_counters (server counters) and the server log",
    }
    emit(payload, as_json, lambda: _print_diagnostics(payload))


def _print_diagnostics(payload: dict[str, Any]) -> None:
    rust = payload["rust"]
    click.echo(f"SARK {payload['version']} on Python {payload['python']} ({payload['platform']})")
    version = f" (sark.native {rust.get('version')})" if rust["installed"] else ""
    available = "available" if rust["available"] else "not available"
    click.echo(f"Rust extensions: {available}{version}")
    click.echo("\nChecks:")
    for name, check in payload["checks"].items():
        click.echo(f"  {name}: {check['status']} - {check['detail']}")
    click.echo("\nFeature flags (value <- source):")
    for feature, fields in payload["flags"].items():
        shown = ", ".join(f"{k}={v['value']} <- {v['source']}" for k, v in fields.items())
        click.echo(f"  {feature}: {shown}")
    metrics = payload["metrics"]
    click.echo(f"\nMetrics snapshot from {metrics['url']}:")
    if not metrics["reachable"]:
        click.echo(f"  not reachable ({metrics['error']})")
        return
    for key, value in metrics["samples"].items():
        click.echo(f"  {key} {value:g}")
    click.echo("\nError counters (non-zero):")
    for key, value in metrics["error_counters"].items() or [("none", 0)]:
        click.echo(f"  {key} {value:g}")
