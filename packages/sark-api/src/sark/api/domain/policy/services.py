"""``DecisionService``: the one path every authorization question takes (ARCHITECTURE §2).

facts from the catalog -> canonical input -> cache -> engine router -> validated
decision -> cache store -> audit -> metrics. It never raises: any failure on the way is a
deny whose reason names it, audited like every other decision.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import uuid_utils

from sark.api.domain.audit.sink import AuditSink
from sark.api.domain.policy.bundle import Bundle, PolicyBundleError, load_bundle
from sark.api.domain.policy.cache import CachedDecision, DecisionCache
from sark.api.domain.policy.cache.protocol import Entry
from sark.api.domain.policy.engines import EngineError, EngineRouter
from sark.api.domain.policy.inputs import (
    CatalogFactsLike,
    Facts,
    build_input,
    proposed_facts,
    unknown_facts,
)
from sark.api.domain.policy.keys import DEFAULT_TIME_BOUND, cache_key, decision_ttl
from sark.api.domain.policy.output import InvalidPolicyOutputError, validate_output
from sark.api.observability.logging import request_id_var
from sark.api.observability.metrics import Telemetry
from sark.core.errors import DependencyUnavailableError
from sark.core.flags import FeatureFlags
from sark.core.models import AuditEvent, Decision, Principal

log = logging.getLogger("sark.policy")
DEFAULT_PACKAGE = "mcp.authz"


class DecisionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """One question of a batch (``decide_many``)."""

    action: str
    server: str | None = None
    tool: str | None = None
    parameters: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    proposed_server: dict[str, Any] | None = None


@dataclass(slots=True)
class _Question:
    """A decision under way: its input, its cache slot and the clock it was asked at."""

    principal: Principal
    action: str
    facts: Facts
    policy_input: dict[str, Any]
    revision: str
    ttl: int
    now: float
    cache: DecisionCache | None
    key: str
    started: float


T = TypeVar("T")
_Store = tuple[DecisionCache, Entry]
"""A decision a batch will cache: the cache and its ``(key, value, ttl)``."""
_Tally = collections.Counter[str | tuple[bool, str]]
"""What a batch counts: cache outcomes (``"hit"`` ...) and decisions ``(allow, engine)``."""


def _by_cache(pairs: Iterable[tuple[DecisionCache, T]]) -> list[tuple[DecisionCache, list[T]]]:
    """``pairs`` grouped per cache object (a batch asks and fills each cache once)."""
    groups: dict[int, tuple[DecisionCache, list[T]]] = {}
    for cache, item in pairs:
        groups.setdefault(id(cache), (cache, []))[1].append(item)
    return list(groups.values())


class CacheChooser:
    """The decision cache for a subject: native L1 for subjects in the rust_cache rollout."""

    def __init__(
        self,
        default: DecisionCache,
        native: DecisionCache | None,
        flags: Callable[[], FeatureFlags],
        telemetry: Telemetry,
    ) -> None:
        """Serve ``native`` to subjects the ``rust_cache`` flag assigns, else ``default``."""
        self.default = default
        self.native = native
        self._flags = flags
        assignments = telemetry.counter(
            "feature_flag_assignments_total",
            "Decisions routed by a rollout flag, by the implementation that was chosen.",
            ("feature", "implementation"),
        )
        self._assigned_native = assignments.labels("rust_cache", "rust")
        self._assigned_default = assignments.labels("rust_cache", "python")

    def for_subject(self, subject_id: str) -> DecisionCache:
        """The cache serving ``subject_id``."""
        if self.native is None:
            return self.default
        if self._flags().rust_cache.assigns("rust_cache", subject_id):
            self._assigned_native.inc()
            return self.native
        self._assigned_default.inc()
        return self.default

    async def clear(self) -> None:
        """Clear every cache."""
        await self.default.clear()
        if self.native is not None:
            await self.native.clear()

    def stats(self) -> dict[str, Any]:
        """Statistics of each cache."""
        return {
            "default": self.default.stats(),
            "native": self.native.stats() if self.native else None,
        }


class DecisionService:
    """Decides, caches, audits and measures authorization questions."""

    def __init__(
        self,
        *,
        router: EngineRouter,
        caches: CacheChooser | None,
        telemetry: Telemetry,
        audit: Callable[[], AuditSink],
        catalog: Callable[[], CatalogFactsLike | None],
        bundle_path: str,
    ) -> None:
        """Assemble the path; ``audit`` and ``catalog`` are read per call (swappable)."""
        self.router = router
        self.caches = caches
        self._audit = audit
        self._catalog = catalog
        self.bundle_path = bundle_path
        self.bundle: Bundle | None = None
        self._time_bound = DEFAULT_TIME_BOUND
        self._reload_lock = asyncio.Lock()
        self._decisions = telemetry.counter(
            "sark_decisions_total", "Decisions made.", ("result", "engine")
        )
        self._duration = telemetry.histogram(
            "sark_decision_duration_seconds", "Time to make one decision.", ("engine",)
        )
        self._labelled: dict[tuple[bool, str], tuple[Any, Any]] = {}
        cache_requests = telemetry.counter(
            "sark_decision_cache_requests_total",
            "Decision-cache lookups (bypass: not cacheable or cache off).",
            ("result",),
        )
        self._cache_result = {r: cache_requests.labels(r) for r in ("hit", "miss", "bypass")}
        self._failures = telemetry.counter(
            "sark_decision_failures_total", "Fail-closed denies by reason.", ("reason",)
        )
        self._reloads = telemetry.counter(
            "sark_policy_reloads_total", "Policy bundle loads.", ("result",)
        )

    # ------------------------------------------------------------------ bundle

    @property
    def revision(self) -> str:
        """Revision of the bundle serving now ('' when none is loaded)."""
        return self.bundle.revision if self.bundle else ""

    async def start(self) -> None:
        """Load the bundle into every engine; warn loudly when no engine is configured."""
        if not self.router.engines:
            log.warning(
                "no policy engine is configured: every decision will be denied with reason "
                "no_policy_engine. Install sark-native for the in-process engine or set "
                "SARK_OPA_URL to an OPA server."
            )
        await self.reload(reason="start")

    async def reload(self, *, reason: str = "reload") -> Bundle:
        """Read the bundle from disk and load it into every engine, or keep the old one.

        At start an engine that cannot be reached (OPA down) does not stop the others: it
        receives the bundle on first use. On a later reload every engine must take it.
        """
        async with self._reload_lock:
            try:
                bundle = await asyncio.to_thread(load_bundle, self.bundle_path)
                deferred = await self.router.load(bundle, lenient=reason == "start")
            except EngineError as exc:
                self._reloads.labels("error").inc()
                msg = f"the bundle was not loaded, an engine is unavailable: {exc}"
                raise DependencyUnavailableError(msg) from exc
            except PolicyBundleError:
                self._reloads.labels("rejected").inc()
                raise
            for name in deferred:
                log.warning("engine %s is unavailable; it gets bundle %s on first use", name,
                            bundle.revision)  # fmt: skip
            self._install(bundle)
            self._reloads.labels("ok").inc()
            if self.caches is not None:
                await self.caches.clear()
            log.info("policy bundle %s loaded (%s)", bundle.revision, reason)
            return bundle

    def _install(self, bundle: Bundle) -> None:
        self.bundle = bundle
        hours = bundle.data.get("data/mcp/authz", {}).get("business_hours", {})
        levels = hours.get("sensitivities") if isinstance(hours, dict) else None
        extra = {s for s in levels if isinstance(s, str)} if isinstance(levels, list) else set()
        self._time_bound = DEFAULT_TIME_BOUND | frozenset(extra)

    async def close(self) -> None:
        """Let shadow evaluations in flight finish, then release the engines' threads."""
        await self.router.drain()
        for engine in self.router.engines:
            close = getattr(engine, "close", None)
            if callable(close):
                close()

    # ---------------------------------------------------------------- decisions

    async def decide(
        self,
        principal: Principal,
        action: str,
        *,
        server: str | None = None,
        tool: str | None = None,
        parameters: dict[str, Any] | None = None,
        context: dict[str, Any] | None = None,
        proposed_server: dict[str, Any] | None = None,
        package: str = DEFAULT_PACKAGE,
        client_ip: str | None = None,
    ) -> Decision:
        """Decide whether ``principal`` may do ``action`` on ``server``/``tool``."""
        started = time.perf_counter()
        try:
            facts = await self._facts(server, tool, proposed_server)
        except Exception:
            log.exception("catalog facts could not be resolved")
            facts = unknown_facts(server, tool)
            return self._failed(principal, action, facts, "facts_unavailable", started)
        return await self._decide(
            principal, action, facts, parameters=parameters, context=context, package=package,
            client_ip=client_ip, started=started,
        )  # fmt: skip

    async def decide_many(
        self,
        principal: Principal,
        items: Sequence[DecisionRequest],
        package: str = DEFAULT_PACKAGE,
        *,
        client_ip: str | None = None,
    ) -> list[Decision]:
        """Decide a batch for one principal, answers in order.

        Facts are resolved once per resource; cache hits are answered at once; the
        misses go to the engine as one batch (one thread hand-off on the native engine).
        """
        resolved: dict[tuple[str | None, str | None], Facts | None] = {}
        for item in items:
            if item.proposed_server is None and (item.server, item.tool) not in resolved:
                try:
                    resolved[item.server, item.tool] = await self._facts(
                        item.server, item.tool, None
                    )
                except Exception:
                    log.exception("catalog facts could not be resolved")
                    resolved[item.server, item.tool] = None
        answers: list[Decision | None] = [None] * len(items)
        asked: list[tuple[int, _Question]] = []
        for i, item in enumerate(items):
            started = time.perf_counter()
            facts = (
                proposed_facts(item.proposed_server)
                if item.proposed_server is not None
                else resolved[item.server, item.tool]
            )
            if facts is None:
                unknown = unknown_facts(item.server, item.tool)
                answers[i] = self._failed(
                    principal, item.action, unknown, "facts_unavailable", started
                )
                continue
            try:
                asked.append((i, self._question(
                    principal, item.action, facts, parameters=item.parameters,
                    context=item.context, package=package, client_ip=client_ip, started=started,
                )))  # fmt: skip
            except Exception:
                log.exception("decision failed unexpectedly")
                answers[i] = self._failed(principal, item.action, facts, "internal_error", started)
        found = await self._lookup_many([q for _, q in asked])
        # Counters are bumped once per batch (a prometheus inc takes a lock): per outcome.
        tally: _Tally = collections.Counter()
        misses: list[tuple[int, _Question]] = []
        for (i, q), cached in zip(asked, found, strict=True):
            hit = self._served(q, cached, tally)
            if hit is None:
                misses.append((i, q))
            else:
                answers[i] = self._finish(q.principal, q.action, q.facts, hit,
                                          started=q.started, cache="hit", tally=tally)  # fmt: skip
        if misses:
            decided = await self._evaluate_batch(package, [q for _, q in misses], tally)
            for (i, _), decision in zip(misses, decided, strict=True):
                answers[i] = decision
        self._count(tally)
        return [a for a in answers if a is not None]

    def _count(self, tally: _Tally) -> None:
        """Add a batch's tally to the decision and cache counters."""
        for key, n in tally.items():
            if isinstance(key, str):
                self._cache_result[key].inc(n)
            else:
                self._children(*key)[0].inc(n)

    async def _lookup_many(self, questions: list[_Question]) -> list[CachedDecision | None]:
        """The cached entry of each question: one ``get_many`` per cache (a miss on error)."""
        found: list[CachedDecision | None] = [None] * len(questions)
        asked = ((q.cache, n) for n, q in enumerate(questions) if q.cache is not None)
        for cache, indexes in _by_cache(asked):
            try:
                values = await cache.get_many([questions[n].key for n in indexes])
            except Exception:
                log.exception("decision cache lookup failed; deciding without it")
                continue
            for n, value in zip(indexes, values, strict=True):
                found[n] = value
        return found

    async def _facts(
        self, server: str | None, tool: str | None, proposed: dict[str, Any] | None
    ) -> Facts:
        if proposed is not None:
            return proposed_facts(proposed)
        catalog = self._catalog()
        if server is None or catalog is None:
            return unknown_facts(server, tool)
        found = await catalog.resolve(server, tool)
        return Facts(server=found.server, tool=found.tool, version=str(found.version))

    async def _decide(
        self,
        principal: Principal,
        action: str,
        facts: Facts,
        *,
        parameters: dict[str, Any] | None,
        context: dict[str, Any] | None,
        package: str,
        client_ip: str | None,
        started: float,
    ) -> Decision:
        try:
            question = self._question(
                principal, action, facts, parameters=parameters, context=context,
                package=package, client_ip=client_ip, started=started,
            )  # fmt: skip
            hit = await self._cached(question)
            if hit is not None:
                return self._finish(principal, action, facts, hit, started=started, cache="hit")
            try:
                raw, engine = await self.router.evaluate(
                    package, question.policy_input, principal.id
                )
            except EngineError as exc:
                log.warning("policy engine failed (%s): %s", exc.reason, exc)
                return self._failed(principal, action, facts, exc.reason, started)
            return await self._settle(question, raw, engine)
        except Exception:
            log.exception("decision failed unexpectedly")
            return self._failed(principal, action, facts, "internal_error", started)

    async def _evaluate_batch(
        self, package: str, questions: list[_Question], tally: _Tally
    ) -> list[Decision]:
        """Decide cache misses of one principal with one engine batch."""
        first = questions[0]
        try:
            answers = await self.router.evaluate_many(
                package, [q.policy_input for q in questions], first.principal.id
            )
        except EngineError as exc:  # no engine at all
            log.warning("policy engine failed (%s): %s", exc.reason, exc)
            return [self._failed(q.principal, q.action, q.facts, exc.reason, q.started)
                    for q in questions]  # fmt: skip
        except Exception:
            log.exception("decision batch failed unexpectedly")
            return [self._failed(q.principal, q.action, q.facts, "internal_error", q.started)
                    for q in questions]  # fmt: skip
        failures = [a for a in answers if isinstance(a, EngineError)]
        if failures:
            log.warning("policy engine failed %d of %d decisions of a batch (%s): %s",
                        len(failures), len(answers), failures[0].reason, failures[0])  # fmt: skip
        decided: list[Decision] = []
        store: list[_Store] = []
        for q, answer in zip(questions, answers, strict=True):
            if isinstance(answer, EngineError):
                decided.append(self._failed(q.principal, q.action, q.facts, answer.reason,
                                            q.started))  # fmt: skip
                continue
            try:
                decided.append(await self._settle(q, *answer, store=store, tally=tally))
            except Exception:
                log.exception("decision failed unexpectedly")
                decided.append(self._failed(q.principal, q.action, q.facts, "internal_error",
                                            q.started))  # fmt: skip
        await self._store_many(store)
        return decided

    @staticmethod
    async def _store_many(store: list[_Store]) -> None:
        """Keep the batch's new decisions: one ``set_many`` per cache."""
        for cache, entries in _by_cache(store):
            try:
                await cache.set_many(entries)
            except Exception:
                log.exception("decision cache store failed; the decisions stand uncached")

    def _question(
        self,
        principal: Principal,
        action: str,
        facts: Facts,
        *,
        parameters: dict[str, Any] | None,
        context: dict[str, Any] | None,
        package: str,
        client_ip: str | None,
        started: float,
    ) -> _Question:
        now = time.time()
        policy_input = build_input(
            principal, action, facts, parameters, context,
            now=now, ip=client_ip, request_id=request_id_var.get(),
        )  # fmt: skip
        revision = self.revision
        ttl = decision_ttl(facts, now, self._time_bound)
        cache = self.caches.for_subject(principal.id) if self.caches and ttl > 0 else None
        key = cache_key(package, policy_input, facts, revision) if cache else ""
        return _Question(principal, action, facts, policy_input, revision, ttl, now, cache, key,
                         started)  # fmt: skip

    async def _cached(self, q: _Question) -> Decision | None:
        """The cached decision for ``q`` (a fresh id), counting hit, miss or bypass."""
        tally: _Tally = collections.Counter()
        served = self._served(q, await q.cache.get(q.key) if q.cache is not None else None, tally)
        self._count(tally)
        return served

    def _served(
        self, q: _Question, cached: CachedDecision | None, tally: _Tally
    ) -> Decision | None:
        """``cached`` as the answer to ``q`` (a fresh id); tallies hit, miss or bypass."""
        if q.cache is None:
            tally["bypass"] += 1
            return None
        if cached is None:
            tally["miss"] += 1
            return None
        tally["hit"] += 1
        return Decision(
            decision_id=uuid_utils.uuid7().hex,
            allow=cached.allow,
            reason=cached.reason,
            filtered_parameters=cached.filtered_parameters,
            obligations=cached.obligations,
            cache_ttl=max(0, int(cached.expires_at - q.now)),
            policy_revision=cached.policy_revision,
            engine=cached.engine,
        )

    async def _settle(
        self,
        q: _Question,
        raw: Any,
        engine: str,
        store: list[_Store] | None = None,
        tally: _Tally | None = None,
    ) -> Decision:
        """The decision the engine gave for ``q``: validated, cached, audited.

        With ``store`` the cache entry is appended there (stored by the caller in one
        ``set_many``) instead of being stored now; with ``tally`` it is counted there.
        """
        try:
            output = validate_output(raw)
        except InvalidPolicyOutputError as exc:
            log.error("invalid policy output: %s", exc)
            return self._failed(q.principal, q.action, q.facts, exc.reason, q.started)
        decision = Decision(
            decision_id=uuid_utils.uuid7().hex,
            allow=output.allow,
            reason=output.reason,
            filtered_parameters=output.filtered_parameters,
            obligations=output.obligations,
            cache_ttl=q.ttl,
            policy_revision=q.revision,
            engine=engine,
        )
        if q.cache is not None:
            entry = CachedDecision(
                allow=output.allow,
                reason=output.reason,
                filtered_parameters=output.filtered_parameters,
                obligations=output.obligations,
                policy_revision=q.revision,
                engine=engine,
                expires_at=q.now + q.ttl,
            )
            if store is None:
                await q.cache.set(q.key, entry, q.ttl)
            else:
                store.append((q.cache, (q.key, entry, q.ttl)))
        outcome = "miss" if q.cache else "bypass"
        return self._finish(q.principal, q.action, q.facts, decision, started=q.started,
                            cache=outcome, tally=tally)  # fmt: skip

    def _children(self, allow: bool, engine: str) -> tuple[Any, Any]:
        # labels() takes a lock and builds a tuple on every call; a decision costs a few
        # microseconds, so the few (result, engine) children are looked up once.
        key = (allow, engine)
        found = self._labelled.get(key)
        if found is None:
            result = "allow" if allow else "deny"
            found = (self._decisions.labels(result, engine), self._duration.labels(engine))
            self._labelled[key] = found
        return found

    def _failed(
        self, principal: Principal, action: str, facts: Facts, reason: str, started: float
    ) -> Decision:
        self._failures.labels(reason).inc()
        decision = Decision(
            decision_id=uuid_utils.uuid7().hex,
            allow=False,
            reason=reason,
            policy_revision=self.revision,
            engine="none",
        )
        return self._finish(principal, action, facts, decision, started=started, cache="bypass")

    def _finish(
        self,
        principal: Principal,
        action: str,
        facts: Facts,
        decision: Decision,
        *,
        started: float,
        cache: str,
        tally: _Tally | None = None,
    ) -> Decision:
        elapsed = time.perf_counter() - started
        counted, timed = self._children(decision.allow, decision.engine)
        if tally is None:
            counted.inc()
        else:
            tally[decision.allow, decision.engine] += 1
        timed.observe(elapsed)
        filtered = [
            path
            for obligation in decision.obligations
            if obligation.get("type") == "redacted_parameters"
            for path in obligation.get("paths", ())
        ]
        event = AuditEvent(
            kind="decision",
            action=action,
            occurred_at=time.time(),
            principal_id=principal.id,
            principal_type=str(principal.type),
            principal_role=str(principal.role),
            resource=facts.label,
            allow=decision.allow,
            reason=decision.reason,
            decision_id=decision.decision_id,
            engine=decision.engine,
            policy_revision=decision.policy_revision,
            request_id=request_id_var.get(),
            latency_ms=round(elapsed * 1000, 3),
            details={"cache": cache, "filtered": filtered},
        )
        try:
            self._audit().record(event)
        except Exception:
            log.exception("audit sink refused decision %s", decision.decision_id)
        return decision
