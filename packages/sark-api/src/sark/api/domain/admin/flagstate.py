"""Pure rules of runtime flag changes: validation, rollback, and start-up reconciliation.

No I/O here: :mod:`sark.api.domain.admin.store` reads and writes rows and calls these.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from sark.core.errors import ConfigError, ValidationError
from sark.core.flags import (
    ROLLOUT_FEATURES,
    TOGGLE_FEATURES,
    CacheRolloutFlag,
    FeatureFlags,
    RolloutFlag,
    ToggleFlag,
)

Flag = ToggleFlag | RolloutFlag
FEATURES: Final = tuple(sorted((*ROLLOUT_FEATURES, *TOGGLE_FEATURES)))
_TYPES: Final[dict[str, type[Flag]]] = {
    "gateway": ToggleFlag,
    "a2a": ToggleFlag,
    "rust_opa": RolloutFlag,
    "rust_cache": CacheRolloutFlag,
}


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """The fields an operator asks to change (None: keep)."""

    percentage: int | None = None
    enabled: bool | None = None
    fallback_on_error: bool | None = None
    shadow: bool | None = None

    def empty(self) -> bool:
        """Whether nothing is asked."""
        return all(v is None for v in msgspec.structs.astuple(self))


def check_feature(feature: object) -> str:
    """``feature`` if it names a flag, else a ValidationError listing the known ones."""
    if not isinstance(feature, str) or feature not in _TYPES:
        msg = f"unknown feature {feature!r}; known features: {', '.join(FEATURES)}"
        raise ValidationError(msg)
    return feature


def flag_of(flags: FeatureFlags, feature: str) -> Flag:
    """The flag of ``feature`` in ``flags``."""
    flag: Flag = getattr(flags, check_feature(feature))
    return flag


def with_flag(flags: FeatureFlags, feature: str, flag: Flag) -> FeatureFlags:
    """``flags`` with ``feature`` replaced by ``flag``."""
    return msgspec.structs.replace(flags, **{feature: flag})


def encode(flag: Flag) -> dict[str, Any]:
    """The JSON document of ``flag`` (every field)."""
    document: dict[str, Any] = msgspec.to_builtins(flag)
    return document


def decode(feature: str, state: dict[str, Any]) -> Flag:
    """The flag of ``feature`` from its JSON document (unknown keys ignored)."""
    flag: Flag = msgspec.convert(state, _TYPES[check_feature(feature)])
    return flag


def apply(feature: str, flag: Flag, change: Change) -> Flag:
    """``flag`` with ``change`` applied, or a ValidationError saying what is wrong.

    A positive percentage without ``enabled`` turns a rollout feature on: asking for 5 %
    of traffic on the new implementation means it should get 5 %.
    """
    if change.empty():
        msg = "nothing to change: give percentage, enabled, fallback_on_error or shadow"
        raise ValidationError(msg)
    if isinstance(flag, RolloutFlag):
        return _apply_rollout(flag, change)
    if (change.percentage, change.fallback_on_error, change.shadow) != (None, None, None):
        msg = f"{feature} is an on/off feature: only `enabled` can be changed"
        raise ValidationError(msg)
    return msgspec.structs.replace(flag, enabled=bool(change.enabled))


def _apply_rollout(flag: RolloutFlag, change: Change) -> RolloutFlag:
    updates: dict[str, Any] = {}
    if change.percentage is not None:
        percentage = change.percentage
        valid = isinstance(percentage, int) and not isinstance(percentage, bool)
        if not valid or not 0 <= percentage <= 100:
            msg = f"percentage must be an integer from 0 to 100 (got {percentage!r})"
            raise ValidationError(msg)
        updates["rollout_percentage"] = percentage
        if percentage > 0 and change.enabled is None:
            updates["enabled"] = True
    for name in ("enabled", "fallback_on_error", "shadow"):
        value = getattr(change, name)
        if value is not None:
            updates[name] = bool(value)
    return msgspec.structs.replace(flag, **updates)


def rolled_back(flag: Flag) -> Flag:
    """``flag`` with the new implementation out of every path: 0 %, no shadow, or off."""
    if isinstance(flag, RolloutFlag):
        return msgspec.structs.replace(flag, rollout_percentage=0, shadow=False)
    return msgspec.structs.replace(flag, enabled=False)


def check_combination(flags: FeatureFlags) -> None:
    """Reject flag sets that cannot work (A2A without the gateway) with a 422."""
    try:
        flags.check()
    except ConfigError as exc:
        msg = "a2a needs gateway: enable gateway first (or disable a2a before disabling gateway)"
        raise ValidationError(msg) from exc


def reconcile(
    feature: str, configured: Flag, state: Flag, base: Flag, *, pinned: bool
) -> Flag | None:
    """At start: the flag to write because the configuration changed, or None to keep ``state``.

    Precedence is defaults < config.yaml < environment < runtime changes, and the stored
    runtime state stays in force across plain restarts. When the configured flag differs
    from the one the runtime change was made over (``base``), the operator edited the
    configuration since: the newer intent wins and the configured flag is written (source
    ``config``). After a rollback (``pinned``) the configuration may change every other
    field, but never brings the new implementation back: a rollback always wins until an
    explicit runtime change lifts it.
    """
    del feature
    if configured == base:
        return None
    target = rolled_back(configured) if pinned else configured
    return None if target == state else target
