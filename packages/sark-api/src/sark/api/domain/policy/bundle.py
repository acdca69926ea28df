"""The policy bundle: read once from disk, identified by a content revision.

A :class:`Bundle` holds every module and data document in memory, so each engine is
loaded from the same bytes (a file edited half-way through a reload cannot give two
engines different policies). Files and mount points follow OPA's directory loader:
every ``*.rego`` except ``*_test.rego`` is a module and every ``*.json`` is mounted at
its directory path, so ``data/mcp/authz/data.json`` becomes ``data.data.mcp.authz``.
Hidden files and directories are skipped.

The revision is the algorithm of ``sark.native.bundle_revision`` (sha256 over
``relpath NUL content NUL`` in sorted path order, first 16 hex characters), implemented
here too so a process without sark-native computes the same value.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from sark.core.errors import ValidationError

REVISION_HEX_LEN = 16
_PACKAGE = re.compile(r"^\s*package\s+([A-Za-z_][\w.]*)", re.MULTILINE)


class PolicyBundleError(ValidationError):
    """The bundle cannot be read or compiled; the bundle serving now keeps serving."""


@dataclass(frozen=True, slots=True)
class Bundle:
    """A bundle directory read into memory."""

    path: Path
    revision: str
    modules: dict[str, str]
    """Rego source by POSIX path relative to the bundle root (tests excluded)."""
    data: dict[str, Any]
    """Data documents merged by mount path (``data/mcp/authz``; ``""`` is the root)."""
    tests: dict[str, str] = field(default_factory=dict)
    """``*_test.rego`` sources, for ``sark test-policy``; never loaded for decisions."""
    loaded_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    @property
    def packages(self) -> list[str]:
        """Rego package names of the modules, sorted."""
        return sorted({m.group(1) for src in self.modules.values() for m in _PACKAGE.finditer(src)})

    def data_document(self) -> dict[str, Any]:
        """All data as one document rooted at ``data`` (what the policy sees)."""
        root: dict[str, Any] = {}
        for mount, document in self.data.items():
            _merge(_node(root, mount), document, mount)
        return root


def _is_bundle_file(name: str) -> bool:
    return not name.startswith(".") and name.endswith((".rego", ".json"))


def bundle_files(root: Path) -> list[tuple[str, Path]]:
    """Every ``*.rego`` and ``*.json`` file under ``root`` (tests included), sorted."""
    found: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if _is_bundle_file(name):
                path = Path(dirpath, name)
                found.append((path.relative_to(root).as_posix(), path))
    return sorted(found)


def _revision(contents: list[tuple[str, bytes]]) -> str:
    digest = hashlib.sha256()
    for relpath, content in contents:
        digest.update(relpath.encode())
        digest.update(b"\0")
        digest.update(content)
        digest.update(b"\0")
    return digest.hexdigest()[:REVISION_HEX_LEN]


def bundle_revision(path: str | os.PathLike[str]) -> str:
    """Content revision of a bundle directory (same value as ``sark.native.bundle_revision``)."""
    root = Path(path)
    if not root.is_dir():
        msg = f"policy bundle {root} is not a directory"
        raise PolicyBundleError(msg)
    files = [(rel, p.read_bytes()) for rel, p in bundle_files(root) if not _is_test(rel)]
    return _revision(files)


def _is_test(relpath: str) -> bool:
    return relpath.endswith("_test.rego")


def load_bundle(path: str | os.PathLike[str]) -> Bundle:
    """Read the bundle at ``path``; raises :class:`PolicyBundleError` naming the bad file."""
    root = Path(path).resolve()
    if not root.is_dir():
        msg = f"policy bundle {root} is not a directory"
        raise PolicyBundleError(msg)
    hashed: list[tuple[str, bytes]] = []
    modules: dict[str, str] = {}
    tests: dict[str, str] = {}
    data: dict[str, Any] = {}
    for relpath, file in bundle_files(root):
        content = file.read_bytes()
        if relpath.endswith(".rego"):
            text = _text(relpath, content)
            if _is_test(relpath):
                tests[relpath] = text
                continue
            modules[relpath] = text
        else:
            mount = relpath.rpartition("/")[0]
            _merge(data.setdefault(mount, {}), _json(relpath, content), relpath)
        hashed.append((relpath, content))
    if not modules:
        msg = f"policy bundle {root} has no Rego modules"
        raise PolicyBundleError(msg)
    return Bundle(path=root, revision=_revision(hashed), modules=modules, data=data, tests=tests)


def _text(relpath: str, content: bytes) -> str:
    try:
        return content.decode()
    except UnicodeDecodeError:
        msg = f"{relpath}: policy file is not valid UTF-8"
        raise PolicyBundleError(msg) from None


def _json(relpath: str, content: bytes) -> dict[str, Any]:
    try:
        document = msgspec.json.decode(content)
    except msgspec.DecodeError as exc:
        msg = f"{relpath}: invalid JSON ({exc})"
        raise PolicyBundleError(msg) from None
    if not isinstance(document, dict):
        msg = f"{relpath}: a data file must hold a JSON object"
        raise PolicyBundleError(msg)
    return document


def _node(root: dict[str, Any], mount: str) -> dict[str, Any]:
    node = root
    for part in filter(None, mount.split("/")):
        node = node.setdefault(part, {})
    return node


def _merge(target: dict[str, Any], source: dict[str, Any], where: str) -> None:
    for key, value in source.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value, where)
        elif key in target:
            msg = f"{where}: data key {key!r} is defined twice"
            raise PolicyBundleError(msg)
        else:
            target[key] = value
