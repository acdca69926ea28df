"""Where the files SARK ships live: the alembic environment and the default policy bundle.

An installed wheel carries them under ``sark/api/_data/``; a source checkout (editable
install) has them at the repository root.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DATA = Path(__file__).parent / "_data"


def _shared_dir(name: str, marker: str) -> Path:
    packaged = _PACKAGE_DATA / name
    if (packaged / marker).exists():
        return packaged
    for parent in Path(__file__).resolve().parents:
        candidate = parent / name
        if (candidate / marker).exists():
            return candidate
    msg = f"SARK's {name}/ directory is missing from this installation"
    raise FileNotFoundError(msg)


def migrations_dir() -> Path:
    """The alembic environment (``env.py`` and ``versions/``)."""
    return _shared_dir("migrations", "env.py")


def default_bundle_dir() -> Path:
    """The default Rego bundle (``policies/`` and ``data/``)."""
    return _shared_dir("opa", "policies")
