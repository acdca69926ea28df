"""Bundle the repository's migrations/ and opa/ into sark-api distributions.

Both live at the repository root (they are shared by every package), but a pip-installed
SARK must find them without the repository. The wheel carries them under
``sark/api/_data/``; the sdist carries them at its root so a wheel built from it does too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHARED = ("migrations", "opa")


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    """Adds the shared directories to the wheel and the sdist."""

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Map each shared directory into the artefact being built."""
        if self.target_name == "wheel" and version == "editable":
            return  # an editable install reads them from the repository itself
        root = Path(self.root)
        for name in SHARED:
            source = _locate(root, name)
            target = f"sark/api/_data/{name}" if self.target_name == "wheel" else name
            build_data["force_include"][str(source)] = target


def _locate(root: Path, name: str) -> Path:
    for candidate in (root.parent.parent / name, root / name):
        if candidate.is_dir():
            return candidate
    msg = f"cannot find the shared directory {name!r} next to {root}"
    raise FileNotFoundError(msg)
