"""The operator checks behind ``sark health-check`` and ``sark diagnostics``.

Each check measures something real from this process: a database round trip, Redis PING,
OPA's ``/health``, and for the native engine and cache an average latency over actual
evaluations of the policy bundle and actual cache operations.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
from redis.asyncio import Redis
from sqlalchemy import text

from sark.api.db.engine import create_engine
from sark.api.db.migrations import current_heads, pending_revisions
from sark.api.resources import default_bundle_dir
from sark.core.settings import Settings

SAMPLES: Final = 200
SAMPLE_INPUT: Final = {
    "subject": {"id": "health-check", "type": "user", "role": "developer", "teams": ["ops"],
                "attributes": {}, "acting_for": None},
    "action": "tool:invoke",
    "resource": {
        "server": {"id": "s-health", "name": "health-mcp", "sensitivity_level": "low",
                   "owner": "u-0", "team": "ops", "tags": []},
        "tool": {"name": "ping", "sensitivity_level": "low", "requires_approval": False,
                 "annotations": {}},
    },
    "parameters": {"host": "127.0.0.1"},
    "context": {"time": "2026-11-23T10:00:00Z", "ip": "127.0.0.1", "request_id": "health",
                "approval_id": None, "gateway": None},
}  # fmt: skip


class Check(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One line of the checklist."""

    name: str
    status: str
    """``ok``, ``failed`` or ``skipped`` (not configured or not installed)."""
    detail: str
    latency_ms: float | None = None

    @property
    def line(self) -> str:
        """The checklist line: ``✅ Name: detail``."""
        mark = {"ok": "✅", "failed": "❌"}.get(self.status, "\N{HEAVY MINUS SIGN}")
        return f"{mark} {self.name}: {self.detail}"


def _reason(exc: BaseException) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text_[0] if text_ else type(exc).__name__)[:200]


def ms(seconds: float) -> str:
    """Milliseconds as the guide prints them (``4.2ms``; more digits below 0.1 ms)."""
    value = seconds * 1000
    return f"{value:.1f}ms" if value >= 0.1 else f"{value:.4f}ms"


async def check_database(settings: Settings) -> Check:
    """Connect, run ``SELECT 1`` and compare the schema with this release."""
    if settings.database.embedded and not (Path(settings.home) / "sark.db").exists():
        detail = (
            f"no database yet in {settings.home} (`sark serve` or `sark db upgrade` creates it)"
        )
        return Check(name="Database", status="failed", detail=detail)
    engine = create_engine(settings.database)
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means "not connected"
        return Check(name="Database", status="failed", detail=f"cannot connect ({_reason(exc)})")
    finally:
        await engine.dispose()
    try:
        pending = pending_revisions(settings, await current_heads(settings))
    except Exception as exc:
        return Check(name="Database", status="failed", detail=f"schema unreadable ({_reason(exc)})")
    if pending:
        detail = f"Connected, but {len(pending)} migration(s) pending (run `sark db upgrade`)"
        return Check(name="Database", status="failed", detail=detail)
    return Check(name="Database", status="ok", detail="Connected")


async def check_redis(settings: Settings) -> Check:
    """PING Redis when configured."""
    url = settings.redis.url
    if not url:
        return Check(name="Redis", status="skipped", detail="not configured (in-process state)")
    redis = Redis.from_url(url.reveal(), socket_connect_timeout=2, socket_timeout=2)
    try:
        await redis.ping()
    except Exception as exc:
        return Check(name="Redis", status="failed", detail=f"unreachable ({_reason(exc)})")
    finally:
        await redis.aclose()
    return Check(name="Redis", status="ok", detail="Connected")


async def check_opa(settings: Settings) -> Check:
    """GET ``<SARK_OPA_URL>/health`` when an OPA server is configured."""
    url = settings.policy.opa_url
    if not url:
        return Check(name="OPA (HTTP)", status="skipped", detail="not configured")
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(3.0, connect=2.0)) as client:
            response = await client.get(url.rstrip("/") + "/health")
    except httpx.HTTPError as exc:
        return Check(name="OPA (HTTP)", status="failed", detail=f"unreachable at {url} ({exc!r})")
    if response.status_code != 200:
        detail = f"unhealthy at {url} (HTTP {response.status_code})"
        return Check(name="OPA (HTTP)", status="failed", detail=detail)
    return Check(name="OPA (HTTP)", status="ok", detail="Available")


def native() -> Any:
    """``sark.native`` when its compiled extension is loaded, else None."""
    try:
        module = importlib.import_module("sark.native")
    except ImportError:
        return None
    return module if module.RUST_AVAILABLE else None


def _missing(name: str, required: bool) -> Check:
    detail = "not installed (pip install sark-native)"
    return Check(name=name, status="failed" if required else "skipped", detail=detail)


def _average(operation: Callable[[], object], samples: int) -> float:
    operation()  # warm-up: first evaluation compiles the plan
    started = time.perf_counter()
    for _ in range(samples):
        operation()
    return (time.perf_counter() - started) / samples


def check_rust_opa(settings: Settings, *, required: bool, samples: int = SAMPLES) -> Check:
    """Load the bundle in the native engine and time real ``mcp.authz`` decisions."""
    module = native()
    if module is None:
        return _missing("Rust OPA", required)
    bundle = settings.policy.path or str(default_bundle_dir())
    try:
        engine = module.PolicyEngine(timeout_ms=settings.policy.timeout_ms)
        engine.load_bundle(Path(bundle))
        result = engine.evaluate("data.mcp.authz.decision", SAMPLE_INPUT)
        if not isinstance(result, dict) or "allow" not in result:
            detail = f"bundle {bundle} gave no mcp.authz decision ({result!r:.80})"
            return Check(name="Rust OPA", status="failed", detail=detail)
        seconds = _average(
            lambda: engine.evaluate("data.mcp.authz.decision", SAMPLE_INPUT), samples
        )
    except Exception as exc:
        return Check(name="Rust OPA", status="failed", detail=f"error ({_reason(exc)})")
    return Check(name="Rust OPA", status="ok", detail=f"Available ({ms(seconds)} avg latency)",
                 latency_ms=round(seconds * 1000, 4))  # fmt: skip


def check_rust_cache(*, required: bool, samples: int = SAMPLES) -> Check:
    """Time real set+get pairs on a fresh native cache (and check they round-trip)."""
    module = native()
    if module is None:
        return _missing("Rust Cache", required)
    try:
        cache = module.Cache(max_size=1000, ttl_seconds=60.0)
        value = {"allow": True}
        counter = iter(range(10**9))

        def operation() -> None:
            key = f"health:{next(counter) % 500}"
            cache.set(key, value)
            if cache.get(key) != value:
                raise RuntimeError("a value set was not read back")

        seconds = _average(operation, samples) / 2  # two operations per sample
    except Exception as exc:
        return Check(name="Rust Cache", status="failed", detail=f"error ({_reason(exc)})")
    return Check(name="Rust Cache", status="ok", detail=f"Available ({ms(seconds)} avg latency)",
                 latency_ms=round(seconds * 1000, 4))  # fmt: skip
