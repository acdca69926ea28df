"""Readiness: ask every configured dependency whether it answers, all at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from sark.api.domain.health.schemas import CheckResult, Readiness

CHECK_TIMEOUT_SECONDS = 2.0

Probe = Callable[[], Awaitable[object]]


class ReadinessService:
    """Runs the probes of the dependencies this process was configured with."""

    def __init__(
        self,
        engine: AsyncEngine,
        redis: Redis | None,
        http: httpx.AsyncClient,
        opa_url: str | None,
    ) -> None:
        self._probes: dict[str, Probe] = {"database": lambda: _select_one(engine)}
        if redis is not None:
            self._probes["redis"] = redis.ping
        if opa_url is not None:
            health = f"{opa_url.rstrip('/')}/health"
            self._probes["opa"] = lambda: _http_ok(http, health)

    async def check(self) -> Readiness:
        """Probe everything concurrently; ready only if every probe succeeded."""
        names = list(self._probes)
        results = await asyncio.gather(*(_timed(self._probes[n]) for n in names))
        checks = dict(zip(names, results, strict=True))
        ready = all(result.status == "up" for result in checks.values())
        return Readiness(status="ready" if ready else "not_ready", checks=checks)


async def _timed(probe: Probe) -> CheckResult:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_SECONDS):
            await probe()
    except Exception as exc:  # any failure means "down"; the reason is reported
        error = type(exc).__name__ if isinstance(exc, TimeoutError) else _describe(exc)
        return CheckResult(status="down", latency_ms=_ms(started), error=error)
    return CheckResult(status="up", latency_ms=_ms(started))


def _describe(exc: Exception) -> str:
    text_ = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text_}"[:200]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


async def _select_one(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("SELECT 1"))


async def _http_ok(http: httpx.AsyncClient, url: str) -> None:
    response = await http.get(url)
    response.raise_for_status()
