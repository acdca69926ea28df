"""Administration: runtime feature flags (the flag store) and operator endpoints."""

from sark.api.domain.admin.flagstate import FEATURES, Change
from sark.api.domain.admin.metrics import RolloutMetrics
from sark.api.domain.admin.store import FlagChange, FlagRow, FlagStore

__all__ = ["FEATURES", "Change", "FlagChange", "FlagRow", "FlagStore", "RolloutMetrics"]
