"""Server secrets generated on first start and kept in ``$SARK_HOME`` with mode 0600."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from sark.core.errors import ConfigError


def load_or_create_secret(path: Path, nbytes: int = 48) -> str:
    """The secret stored in ``path``, created (readable by the owner only) when missing."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        text = ""
    except OSError as exc:
        msg = f"cannot read {path}: {exc.strerror}"
        raise ConfigError(msg) from None
    if text:
        return text
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(nbytes)
    # O_EXCL: when two workers race on first start, one writes and the other reads its value.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value
