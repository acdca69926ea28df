"""Discovery of optional SARK packages that extend the service (entry points ``sark.plugins``).

An entry point names a factory taking the :class:`~sark.core.settings.Settings` and
returning a Litestar ``InitPlugin``. Nothing is imported unless the package is installed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from importlib.metadata import entry_points

from litestar.plugins import InitPlugin

from sark.core.settings import Settings

GROUP = "sark.plugins"
log = logging.getLogger("sark.plugins")

PluginFactory = Callable[[Settings], InitPlugin]


def discover() -> dict[str, PluginFactory]:
    """Every installed plugin factory by entry-point name."""
    found: dict[str, PluginFactory] = {}
    for entry in entry_points(group=GROUP):
        found[entry.name] = entry.load()
        log.info("loaded SARK plugin %s from %s", entry.name, entry.value)
    return found
