"""Version of the SARK distributions, which move in lockstep."""

from __future__ import annotations

from importlib import metadata

import msgspec

#: Oldest release whose database and clients this one stays compatible with.
MIN_COMPATIBLE = "1.0.0"


class VersionInfo(msgspec.Struct, frozen=True, kw_only=True):
    """A PEP 440 version split into the parts clients compare."""

    version: str
    major: int
    minor: int
    patch: int

    @classmethod
    def parse(cls, version: str) -> VersionInfo:
        """Split ``version`` ("1.4.0", "1.0.0.dev0", "1.1.0rc1") into its release parts."""
        release = version.split("+", 1)[0]
        parts: list[int] = []
        for piece in release.split(".")[:3]:
            digits = ""
            for char in piece:
                if not char.isdigit():
                    break
                digits += char
            parts.append(int(digits or 0))
        while len(parts) < 3:
            parts.append(0)
        return cls(version=version, major=parts[0], minor=parts[1], patch=parts[2])

    @property
    def max_compatible(self) -> str:
        """Newest release line this one is compatible with (same major)."""
        return f"{self.major}.x.x"


def _installed_version() -> str:
    try:
        return metadata.version("sark-core")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "0.0.0+unknown"


__version__ = _installed_version()
VERSION = VersionInfo.parse(__version__)
