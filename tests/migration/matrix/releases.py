"""Build SARK wheels: each release of ``releases.toml`` from its commit, and the current tree.

Old releases are rebuilt from ``git archive <commit>`` (never from the work tree) with their
version strings rewritten to the release version (the retroactive-release rule described in
``releases.toml``), so the matrix installs real old code. Builds are cached under
``.cache/releases/`` (gitignored): by commit for releases, by a content hash for the current
tree. Also usable from a shell: ``uv run python -m tests.migration.matrix.releases 1.0.0``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / ".cache" / "releases"
PACKAGES = ("sark-core", "sark-api", "sark-gateway", "sark-native")
_SKIP_PARTS = {"target", "tests", "__pycache__", ".pytest_cache", ".mypy_cache", "dist"}


@dataclass(frozen=True)
class Release:
    """One entry of ``releases.toml``."""

    version: str
    commit: str
    date: str
    packages: tuple[str, ...]
    alembic_heads: dict[str, str]
    notes: str

    @property
    def heads(self) -> set[str]:
        """The alembic revisions a database migrated by this release is at."""
        return set(self.alembic_heads.values())


@dataclass(frozen=True)
class Build:
    """Wheels of one set of packages and the third-party pins they were tested with."""

    wheels: tuple[Path, ...]
    constraints: Path


def load_releases(path: Path = ROOT / "releases.toml") -> list[Release]:
    """Every release, oldest first."""
    data = tomllib.loads(path.read_text())
    return [
        Release(
            version=entry["version"],
            commit=entry["commit"],
            date=str(entry["date"]),
            packages=tuple(entry["packages"]),
            alembic_heads=dict(entry["alembic_heads"]),
            notes=entry["notes"],
        )
        for entry in data["release"]
    ]


def get_release(version: str) -> Release:
    """The release ``version`` of ``releases.toml``."""
    for release in load_releases():
        if release.version == version:
            return release
    msg = f"release {version} is not in releases.toml"
    raise KeyError(msg)


def _run(command: Sequence[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        msg = f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-4000:]}"
        raise RuntimeError(msg)


def rewrite_versions(tree: Path, version: str) -> None:
    """Set every package of ``tree`` (and its pins on sibling packages) to ``version``."""
    for pyproject in sorted(tree.glob("packages/*/pyproject.toml")):
        text = pyproject.read_text()
        text = re.sub(r'(?m)^version = "[^"]*"$', f'version = "{version}"', text, count=1)
        text = re.sub(r"(sark-(?:core|api|gateway|native))==[^\"',\]\s]+", rf"\1=={version}", text)
        pyproject.write_text(text)


def extract(commit: str, dest: Path) -> None:
    """Write the tree of ``commit`` (git archive, so nothing of the work tree leaks in)."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, check=True)


def _build_wheel(tree: Path, package: str, out: Path) -> Path:
    _run(["uv", "build", "--package", package, "--wheel", "--out-dir", str(out)], cwd=tree)
    name = package.replace("-", "_")
    found = sorted(out.glob(f"{name}-*.whl"))
    if not found:
        msg = f"uv build produced no wheel for {package} in {out}"
        raise RuntimeError(msg)
    return found[-1]


def _export_constraints(tree: Path, out: Path) -> Path:
    """The third-party versions of ``tree``'s uv.lock, as a pip constraints file."""
    _run(
        ["uv", "export", "--frozen", "--no-hashes", "--no-header", "--no-emit-workspace",
         "--no-dev", "--all-packages", "--all-extras", "--output-file", str(out)],
        cwd=tree,
    )  # fmt: skip
    # a constraints file may not carry extras (``pkg[extra]==1``): keep the pins only
    lines = [re.sub(r"\[[^\]]*\]", "", line) for line in out.read_text().splitlines()]
    out.write_text("\n".join(line for line in lines if line and not line.startswith("-e")) + "\n")
    return out


def build_release(release: Release) -> Build:
    """Wheels of ``release`` built from its commit (cached by version and commit)."""
    if not release.commit:
        msg = f"release {release.version} has no commit recorded in releases.toml yet"
        raise ValueError(msg)
    home = CACHE / release.version / release.commit[:12]
    wheels_dir = home / "wheels"
    marker = home / "BUILT"
    if not marker.exists():
        shutil.rmtree(home, ignore_errors=True)
        source = home / "src"
        extract(release.commit, source)
        rewrite_versions(source, release.version)
        for package in release.packages:
            _build_wheel(source, package, wheels_dir)
        _export_constraints(source, home / "constraints.txt")
        shutil.rmtree(source)
        marker.write_text("\n".join(release.packages) + "\n")
    wheels = tuple(_wheel_of(wheels_dir, package) for package in release.packages)
    return Build(wheels=wheels, constraints=home / "constraints.txt")


def _wheel_of(directory: Path, package: str) -> Path:
    found = sorted(directory.glob(f"{package.replace('-', '_')}-*.whl"))
    if not found:
        msg = f"no wheel of {package} in {directory}"
        raise FileNotFoundError(msg)
    return found[-1]


def _digest(paths: Iterable[Path]) -> str:
    digest = hashlib.sha256()
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            if _SKIP_PARTS.intersection(path.relative_to(base.parent).parts):
                continue
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_current(packages: Sequence[str]) -> Build:
    """Wheels of the work tree's ``packages`` (each cached by a hash of its sources)."""
    wheels = []
    for package in packages:
        sources = [ROOT / "packages" / package]
        if package == "sark-api":  # its wheel carries the shared migrations and policies
            sources += [ROOT / "migrations", ROOT / "opa"]
        home = CACHE / "current" / f"{package}-{_digest(sources)}"
        if not (home / "BUILT").exists():
            shutil.rmtree(home, ignore_errors=True)
            _build_wheel(ROOT, package, home)
            (home / "BUILT").write_text(package + "\n")
        wheels.append(_wheel_of(home, package))
    constraints = _export_constraints(ROOT, CACHE / "current" / "constraints.txt")
    return Build(wheels=tuple(wheels), constraints=constraints)


def main(argv: Sequence[str]) -> int:
    """Build the releases named in ``argv`` (all of them without arguments)."""
    wanted = set(argv)
    for release in load_releases():
        if (wanted and release.version not in wanted) or not release.commit:
            continue
        build = build_release(release)
        print(release.version, *[w.name for w in build.wheels])
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
