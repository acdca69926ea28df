"""The documentation site: the API reference is generated, and `mkdocs build --strict` passes."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from tests.deploy.tools import ROOT

DOCS = ROOT / "docs"


def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_api_docs", ROOT / "scripts/gen_api_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_api_reference_is_generated_from_the_openapi_document() -> None:
    files = generator().generate()
    for name, text in files.items():
        committed = (DOCS / "api" / name).read_text(encoding="utf-8")
        assert committed == text, f"docs/api/{name} is stale: uv run python scripts/gen_api_docs.py"


def test_api_reference_lists_every_operation_with_its_auth() -> None:
    files = generator().generate()
    document = yaml.safe_load(files["openapi.json"])  # JSON is YAML
    operations = {
        op["operationId"]
        for item in document["paths"].values()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    }
    index = files["index.md"]
    rows = re.findall(r"^\| (GET|POST|PUT|PATCH|DELETE) \| `([^`]+)` \| `([^`]+)` \|", index, re.M)
    assert {row[2] for row in rows} == operations
    assert len(rows) == len(operations)
    # the whole surface: core, plugin and PDP standards
    assert {"evaluatePolicy", "login", "gatewayAuthorize", "gatewayAuthorizeA2A"} <= operations
    assert "| GET | `/health/live` | `getLiveness` | Liveness probe | public |" in index
    assert re.search(r"`evaluatePolicy` \| [^|]+ \| JWT or API key \|", index)


def test_mkdocs_build_strict(tmp_path: Path) -> None:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    site = tmp_path / "site"
    result = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site / "api" / "index.html").exists()
    assert (site / "changelog.html").exists()
    # nothing on a page is loaded from elsewhere (fonts, scripts, styles): offline site
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r'<(script|link|img)[^>]+(src|href)="https?://', text), page


def test_navigation_covers_every_page_and_release() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    for page in DOCS.rglob("*.md"):
        relative = page.relative_to(DOCS).as_posix()
        assert f": {relative}" in config, f"{relative} is not in the mkdocs.yml nav"
    for required in ("quickstart.md", "concepts.md", "configuration.md", "api/index.md",
                     "operations/deploy.md", "operations/scale-out.md",
                     "operations/backup-restore.md", "operations/upgrade-rollback.md",
                     "operations/rollout.md", "policy-authoring.md", "performance.md",
                     "security.md"):  # fmt: skip
        assert f": {required}" in config, required


def test_generator_check_mode_reports_stale_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = generator()
    monkeypatch.setattr(module, "OUT", tmp_path)
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0
    (tmp_path / "index.md").write_text("edited by hand\n")
    assert module.main(["--check"]) == 1
