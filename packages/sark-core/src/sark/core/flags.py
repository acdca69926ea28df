"""Feature flags: the one registry of SARK's opt-in capabilities.

Precedence (lowest first): defaults < ``config.yaml`` ``features:`` < environment <
runtime changes made through the admin API. This module holds the first three (they are
part of :class:`~sark.core.settings.Settings`); the runtime store lives in ``sark.api``
and starts from :class:`FeatureFlags` as loaded here.

Rollout assignment is stable: a subject's bucket is
``int.from_bytes(sha256(f"{feature}:{subject_id}")[:8], "big") % 100`` and the subject
gets the new implementation when ``bucket < rollout_percentage``. Raising the percentage
therefore only moves subjects from the old implementation to the new one.
"""

from __future__ import annotations

import hashlib
from typing import Final, Literal

import msgspec

from sark.core.errors import ConfigError

FeatureName = Literal["gateway", "a2a", "rust_opa", "rust_cache"]
ROLLOUT_FEATURES: Final = ("rust_opa", "rust_cache")
TOGGLE_FEATURES: Final = ("gateway", "a2a")


class ToggleFlag(msgspec.Struct, frozen=True, kw_only=True):
    """A capability that is simply on or off."""

    enabled: bool = False


class RolloutFlag(msgspec.Struct, frozen=True, kw_only=True):
    """A capability rolled out to a stable percentage of subjects."""

    enabled: bool = False
    rollout_percentage: int = 0
    fallback_on_error: bool = True
    shadow: bool = False

    def assigns(self, feature: str, subject_id: str) -> bool:
        """Whether ``subject_id`` is served by the new implementation of ``feature``."""
        return self.enabled and bucket(feature, subject_id) < self.rollout_percentage


class CacheRolloutFlag(RolloutFlag, frozen=True, kw_only=True):
    """The ``rust_cache`` flag, which also sizes the native cache."""

    max_size: int = 10_000
    ttl_seconds: int = 300


class FeatureFlags(msgspec.Struct, frozen=True, kw_only=True):
    """The state of every feature flag."""

    gateway: ToggleFlag = ToggleFlag()
    a2a: ToggleFlag = ToggleFlag()
    rust_opa: RolloutFlag = RolloutFlag()
    rust_cache: CacheRolloutFlag = CacheRolloutFlag()

    def check(self) -> None:
        """Reject combinations that cannot work."""
        if self.a2a.enabled and not self.gateway.enabled:
            msg = "A2A_ENABLED=true requires GATEWAY_ENABLED=true (A2A runs inside the gateway)"
            raise ConfigError(msg)


def bucket(feature: str, subject_id: str) -> int:
    """The stable rollout bucket (0-99) of ``subject_id`` for ``feature``."""
    digest = hashlib.sha256(f"{feature}:{subject_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100
