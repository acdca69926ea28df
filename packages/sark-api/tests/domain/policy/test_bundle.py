from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sark.api.domain.policy.bundle import PolicyBundleError, bundle_revision, load_bundle
from sark.api.resources import default_bundle_dir


def reference_revision(root: Path) -> str:
    """The algorithm as documented in sark.native (sha256 of relpath NUL content NUL)."""
    files = sorted(
        (p.relative_to(root).as_posix(), p)
        for p in root.rglob("*")
        if p.is_file()
        and p.suffix in {".rego", ".json"}
        and not p.name.endswith("_test.rego")
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
    digest = hashlib.sha256()
    for rel, path in files:
        digest.update(rel.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def test_default_bundle_loads_with_its_data_mounted_like_opa() -> None:
    bundle = load_bundle(default_bundle_dir())
    assert "mcp.authz" in bundle.packages
    assert "data/mcp/authz" in bundle.data
    assert bundle.data_document()["data"]["mcp"]["authz"]["roles"][0] == "admin"
    assert all(not rel.endswith("_test.rego") for rel in bundle.modules)
    assert any(rel.endswith("_test.rego") for rel in bundle.tests)
    assert bundle.revision == bundle_revision(default_bundle_dir())
    assert bundle.revision == reference_revision(default_bundle_dir())


def test_revision_follows_content_not_tests_or_hidden_files(bundle_dir: Path) -> None:
    before = bundle_revision(bundle_dir)
    (bundle_dir / "policies" / "extra_test.rego").write_text("package x\n")
    (bundle_dir / ".hidden.json").write_text("{}")
    (bundle_dir / "README.md").write_text("not part of the bundle")
    assert bundle_revision(bundle_dir) == before
    data = bundle_dir / "data" / "mcp" / "authz" / "data.json"
    data.write_text(data.read_text().replace('"start_hour": 9', '"start_hour": 8'))
    after = bundle_revision(bundle_dir)
    assert after != before
    assert load_bundle(bundle_dir).revision == after == reference_revision(bundle_dir)


def test_revision_matches_sark_native_when_installed(bundle_dir: Path) -> None:
    native = pytest.importorskip("sark.native", reason="sark-native is not installed")
    assert native.bundle_revision(bundle_dir) == bundle_revision(bundle_dir)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("data/bad/data.json", "{not json", "invalid JSON"),
        ("data/list/data.json", "[1]", "JSON object"),
        ("policies/bad.rego", b"\xff\xfe", "UTF-8"),
    ],
)
def test_unreadable_files_are_named(
    bundle_dir: Path, name: str, content: str | bytes, message: str
) -> None:
    path = bundle_dir / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(PolicyBundleError, match=message):
        load_bundle(bundle_dir)


def test_missing_directory_or_modules(tmp_path: Path) -> None:
    with pytest.raises(PolicyBundleError, match="not a directory"):
        load_bundle(tmp_path / "absent")
    (tmp_path / "data.json").write_text("{}")
    with pytest.raises(PolicyBundleError, match="no Rego modules"):
        load_bundle(tmp_path)
