"""releases.toml agrees with the tree: versions, alembic heads, notes; revisions are additive.

These run in the default test run (no wheels are built); the matrix itself is marked.
"""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from tests.migration.matrix.additive import non_additive_operations
from tests.migration.matrix.releases import ROOT, Release, load_releases, rewrite_versions
from tests.support.app import make_settings

from sark.api.db import migrations
from sark.core import VERSION

RELEASES = load_releases()
NEWEST = RELEASES[-1]


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


@pytest.fixture(name="script")
def fixture_script(tmp_path: Path) -> ScriptDirectory:
    return migrations.script_directory(make_settings(tmp_path))


def test_releases_are_ordered_and_complete() -> None:
    versions = [r.version for r in RELEASES]
    assert versions == sorted(versions, key=_version_key)
    assert len(set(versions)) == len(versions)
    changelog = (ROOT / "CHANGELOG.md").read_text()
    for release in RELEASES:
        assert re.fullmatch(r"\d+\.\d+\.\d+", release.version), release.version
        assert {"sark-core", "sark-api"} <= set(release.packages)
        assert (ROOT / release.notes).is_file(), release.notes
        assert f"## [{release.version}] - {release.date}" in changelog
    for release in RELEASES[:-1]:
        assert re.fullmatch(r"[0-9a-f]{40}", release.commit), release.version


def test_recorded_commits_exist() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for release in RELEASES[:-1]:
        found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e",
                                f"{release.commit}^{{commit}}"], check=False)  # fmt: skip
        assert found.returncode == 0, f"{release.version}: commit {release.commit} not found"


def test_the_tree_is_the_newest_release() -> None:
    assert VERSION.version == NEWEST.version
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text())["project"]
        assert project["version"] == NEWEST.version, pyproject
        pins = re.findall(r"sark-[a-z]+==([^\"']+)", pyproject.read_text())
        assert set(pins) <= {NEWEST.version}, pyproject
    cargo = tomllib.loads((ROOT / "packages/sark-native/Cargo.toml").read_text())
    assert cargo["package"]["version"] == NEWEST.version
    from sark.native import __version__ as native_version

    assert native_version == NEWEST.version


def test_newest_release_records_the_current_alembic_heads(script: ScriptDirectory) -> None:
    heads = {script.get_revision(h).branch_labels.pop() if script.get_revision(h).branch_labels
             else _branch_of(script, h): h for h in script.get_heads()}  # fmt: skip
    assert heads == NEWEST.alembic_heads


def _branch_of(script: ScriptDirectory, revision: str) -> str:
    for ancestor in script.iterate_revisions(revision, "base"):
        if ancestor.branch_labels:
            return next(iter(ancestor.branch_labels))
    msg = f"{revision} belongs to no labelled branch"
    raise AssertionError(msg)


def test_old_heads_are_still_known_for_downgrades(script: ScriptDirectory) -> None:
    known = {r.revision for r in script.walk_revisions()}
    for release in RELEASES:
        assert release.heads <= known, f"{release.version}: {release.heads - known}"


def _newer_than(script: ScriptDirectory, release: Release) -> list[str]:
    older = {r.revision for r in script.iterate_revisions(tuple(release.heads), "base")}
    return [r.path for r in script.walk_revisions() if r.revision not in older]


def test_revisions_newer_than_the_oldest_release_are_additive(script: ScriptDirectory) -> None:
    for path in _newer_than(script, RELEASES[0]):
        problems = non_additive_operations(Path(path).read_text())
        assert problems == [], f"{Path(path).name} is not additive: {problems}"


def test_every_revision_is_inspected_by_the_additive_check(script: ScriptDirectory) -> None:
    # the oldest release's own revisions are older than it: none is newer
    assert _newer_than(script, RELEASES[0]) == []
    assert all(Path(r.path).read_text().count("def upgrade()") == 1
               for r in script.walk_revisions())  # fmt: skip


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('op.drop_table("users")', "drop_table"),
        ('op.drop_column("users", "email")', "drop_column"),
        ('op.rename_table("a", "b")', "rename_table"),
        ('op.alter_column("t", "c", new_column_name="d")', "renames a column"),
        ('op.alter_column("t", "c", nullable=False)', "makes a column NOT NULL"),
        ('op.add_column("t", sa.Column("c", sa.Text(), nullable=False))', "NOT NULL column"),
        ('op.execute("ALTER TABLE t DROP COLUMN c")', "SQL with DROP"),
        ('with op.batch_alter_table("t") as b:\n        b.drop_column("c")', "drop_column"),
    ],
)
def test_the_additive_check_flags_breaking_operations(body: str, problem: str) -> None:
    source = f"def upgrade() -> None:\n    {body}\n\n\ndef downgrade() -> None:\n    pass\n"
    found = non_additive_operations(source)
    assert len(found) == 1
    assert problem in found[0]


def test_the_additive_check_accepts_additive_operations() -> None:
    source = (
        "def upgrade() -> None:\n"
        '    op.create_table("t", sa.Column("id", sa.Integer(), primary_key=True))\n'
        '    op.add_column("u", sa.Column("c", sa.Text(), nullable=True))\n'
        '    op.add_column("u", sa.Column("d", sa.Text(), nullable=False, server_default=""))\n'
        '    op.create_index("ix", "u", ["c"])\n'
        "\n\ndef downgrade() -> None:\n"
        '    op.drop_table("t")\n'
    )
    assert non_additive_operations(source) == []


def test_the_release_build_rewrites_every_version(tmp_path: Path) -> None:
    package = tmp_path / "packages" / "sark-gateway"
    package.mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        '[project]\nname = "sark-gateway"\nversion = "1.0.0.dev0"\n'
        'dependencies = ["sark-api==1.0.0.dev0", "sark-core==1.0.0.dev0", "msgspec>=0.19"]\n'
        '[project.optional-dependencies]\nnative = ["sark-native==1.0.0.dev0"]\n'
    )
    rewrite_versions(tmp_path, "1.1.0")
    data = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert data["version"] == "1.1.0"
    assert data["dependencies"] == ["sark-api==1.1.0", "sark-core==1.1.0", "msgspec>=0.19"]
    assert data["optional-dependencies"]["native"] == ["sark-native==1.1.0"]
