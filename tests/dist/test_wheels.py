"""The distributions as a user gets them: each wheel installed alone with pip, then used.

Runs in the tox env ``dist`` (and CI through it), not in the default ``uv run pytest``:
``-m dist`` selects it. The artefacts come from ``SARK_DIST_DIR`` (tox builds them there
with scripts/ci/build_dists.sh) or are built by this module. Every venv is a plain
``python -m venv`` with pip; third-party dependencies come from PyPI, ours only from the
built files, and every program runs in a temporary directory outside the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.services import free_port, wait_for

pytestmark = pytest.mark.dist

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("sark_core", "sark_api", "sark_gateway", "sark_native")


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of ours, no virtualenv, no PYTHONPATH."""
    drop = ("SARK_", "GATEWAY_", "A2A_", "VIRTUAL_ENV", "PYTHONPATH", "UV_PROJECT")
    keep = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    return {**keep, "PIP_DISABLE_PIP_VERSION_CHECK": "1", **extra}


def _run(args: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, cwd=cwd, env=_clean_env(**extra), capture_output=True, text=True, check=False,
        timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, f"{args}\n{result.stdout}\n{result.stderr}"
    return result


class Venv:
    """A fresh ``python -m venv`` (with pip) in ``path``."""

    def __init__(self, path: Path) -> None:
        base = getattr(sys, "_base_executable", sys.executable)
        _run([base, "-m", "venv", str(path)], cwd=path.parent)
        self.path = path
        self.python = str(path / "bin" / "python")

    def pip_install(self, dist: Path, *files: Path) -> None:
        """Install ``files`` (ours) with their third-party dependencies from PyPI."""
        _run([self.python, "-m", "pip", "install", "-q", "--find-links", str(dist),
              *map(str, files)], cwd=self.path)  # fmt: skip

    def python_c(self, code: str, cwd: Path, **env: str) -> str:
        """Run ``code`` with this venv's interpreter; its stdout."""
        return _run([self.python, "-c", code], cwd=cwd, **env).stdout

    def installed(self) -> set[str]:
        """Names of the distributions installed, normalised."""
        out = _run([self.python, "-m", "pip", "list", "--format=json"], cwd=self.path).stdout
        return {row["name"].lower().replace("_", "-") for row in json.loads(out)}


def _one(dist: Path, pattern: str) -> Path:
    found = sorted(dist.glob(pattern))
    assert len(found) == 1, f"expected one {pattern} in {dist}: {found}"
    return found[0]


@pytest.fixture(scope="module", name="dist")
def fixture_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory holding one sdist and one wheel per package."""
    configured = os.environ.get("SARK_DIST_DIR")
    if configured:
        return Path(configured).resolve()
    out = tmp_path_factory.mktemp("dist")
    _run(["bash", str(ROOT / "scripts" / "ci" / "build_dists.sh"), str(out)], cwd=ROOT)
    return out


@pytest.fixture(name="outside")
def fixture_outside(tmp_path: Path) -> Path:
    """A working directory outside the repository (nothing of the checkout is reachable)."""
    assert not tmp_path.resolve().is_relative_to(ROOT)
    return tmp_path


def test_one_sdist_and_one_wheel_per_package(dist: Path) -> None:
    for name in PACKAGES:
        _one(dist, f"{name}-*.tar.gz")
        _one(dist, f"{name}-*.whl")
    versions = {
        p.name.removesuffix(".tar.gz").split("-")[1]
        for p in dist.iterdir()
        if p.name.startswith("sark_")
    }
    assert len(versions) == 1, f"packages are versioned in lockstep: {versions}"
    for name in ("sark_core", "sark_api", "sark_gateway"):
        assert _one(dist, f"{name}-*.whl").name.endswith("-py3-none-any.whl")


def test_native_wheel_is_manylinux_abi3(dist: Path) -> None:
    wheel = _one(dist, "sark_native-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        tags = [
            line.split(":", 1)[1].strip()
            for line in archive.read(meta).decode().splitlines()
            if line.startswith("Tag:")
        ]
    assert tags, "WHEEL names no tag"
    for tag in tags:
        python, abi, platform = tag.split("-")
        assert (python, abi) == ("cp311", "abi3"), tag
        assert platform.startswith("manylinux_"), f"not a manylinux wheel: {tag}"
    assert "sark/native/_native.abi3.so" in names
    assert "sark/native/_native.pyi" in names


def test_api_wheel_carries_migrations_and_policies(dist: Path) -> None:
    with zipfile.ZipFile(_one(dist, "sark_api-*.whl")) as archive:
        names = set(archive.namelist())
    assert "sark/api/_data/migrations/env.py" in names
    assert any(n.startswith("sark/api/_data/migrations/versions/core/") for n in names)
    assert any(n.startswith("sark/api/_data/opa/policies/") and n.endswith(".rego") for n in names)
    # PEP 420: no distribution owns the `sark` namespace itself
    assert "sark/__init__.py" not in names


@pytest.fixture(scope="module", name="api_venv")
def fixture_api_venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """sark-api with its one workspace dependency, sark-core: the 1.0 product."""
    venv = Venv(tmp_path_factory.mktemp("venv") / "api")
    venv.pip_install(dist, _one(dist, "sark_api-*.whl"), _one(dist, "sark_core-*.whl"))
    return venv


def _get(url: str) -> tuple[int, dict[str, object]]:
    with urllib.request.urlopen(url, timeout=2) as response:
        return response.status, json.loads(response.read())


@pytest.fixture(name="served")
def fixture_served(api_venv: Venv, outside: Path) -> Iterator[str]:
    """``sark serve`` of the api venv, in a directory outside the repository; its URL."""
    port = free_port()
    log = (outside / "serve.log").open("w")
    process = subprocess.Popen(
        [str(api_venv.path / "bin" / "sark"), "serve", "--port", str(port)],
        cwd=outside,
        env=_clean_env(SARK_LOG_LEVEL="warning"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _get(f"{url}/health/live")[0] == 200, "sark serve (pip-installed)", 60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_api_wheel_alone_serves_health_and_reports_its_schema(
    api_venv: Venv, served: str, outside: Path
) -> None:
    assert api_venv.installed() & {"sark-gateway", "sark-native"} == set()
    where = api_venv.python_c("import sark.api; print(sark.api.__file__)", cwd=outside)
    assert where.startswith(str(api_venv.path)), where

    status, health = _get(f"{served}/health")
    assert status == 200
    assert health["gateway_enabled"] is False
    # the embedded default created its SQLite database under ./.sark from the wheel's migrations
    assert (outside / ".sark" / "sark.db").exists()

    current = _run([str(api_venv.path / "bin" / "sark"), "db", "current", "--json"], cwd=outside)
    report = json.loads(current.stdout)
    assert report["backend"] == "sqlite"
    assert report["current"], report
    assert report["pending"] == [], report


DECIDE = """
import json, sys
from sark.native import RUST_AVAILABLE, PolicyEngine
engine = PolicyEngine(timeout_ms=5000)
revision = engine.load_bundle(sys.argv[1])
def ask(role):
    return engine.evaluate("data.mcp.authz.decision", {
        "subject": {"id": "u-1", "type": "user", "role": role, "teams": ["payments"],
                    "attributes": {}, "acting_for": None},
        "action": "tool:invoke",
        "resource": {
            "server": {"id": "s-1", "name": "pg", "sensitivity_level": "low", "owner": "u-7",
                       "team": "payments", "tags": [], "registered": True, "status": "active"},
            "tool": {"name": "q", "sensitivity_level": "low", "requires_approval": False,
                     "annotations": {}, "registered": True},
        },
        "parameters": {"query": "select 1"},
        "context": {"time": "2026-11-23T10:00:00Z", "ip": "10.0.0.5", "request_id": "r-1",
                    "approval_id": None, "gateway": None},
    })
print(json.dumps({"rust": RUST_AVAILABLE, "revision": revision, "packages": engine.packages(),
                  "developer": ask("developer"), "viewer": ask("viewer")}))
"""


def _check_native(venv: Venv, outside: Path) -> None:
    # the policy bundle of the repository, copied out so only the venv's code is in play
    bundle = shutil.copytree(ROOT / "opa", outside / "opa")
    out = json.loads(
        _run([venv.python, "-c", DECIDE, str(bundle)], cwd=outside).stdout.splitlines()[-1]
    )
    assert out["rust"] is True, "the compiled extension must serve sark.native"
    assert "mcp.authz" in out["packages"]
    assert out["revision"]
    assert out["developer"]["allow"] is True, out
    assert out["viewer"]["allow"] is False, out
    assert out["viewer"]["reason"] == "action_not_permitted", out


def test_native_wheel_alone_evaluates_the_authz_policy(
    dist: Path, tmp_path_factory: pytest.TempPathFactory, outside: Path
) -> None:
    venv = Venv(tmp_path_factory.mktemp("venv") / "native")
    venv.pip_install(dist, _one(dist, "sark_native-*.whl"))
    assert {n for n in venv.installed() if n.startswith("sark")} == {"sark-native"}
    _check_native(venv, outside)


def test_native_sdist_builds_from_source_with_cargo_only(
    dist: Path, tmp_path_factory: pytest.TempPathFactory, outside: Path
) -> None:
    if shutil.which("cargo") is None:
        pytest.fail("cargo is needed to build sark-native from its sdist")
    venv = Venv(tmp_path_factory.mktemp("venv") / "native-sdist")
    assert "maturin" not in venv.installed()  # pip brings it in an isolated build env
    wheels = outside / "wheels"
    # CARGO_TARGET_DIR (if set, e.g. to the checkout's target/) only caches dependencies;
    # the crate itself is compiled from the sdist's sources.
    _run([venv.python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
          str(_one(dist, "sark_native-*.tar.gz"))], cwd=outside)  # fmt: skip
    built = _one(wheels, "sark_native-*.whl")
    venv.pip_install(wheels, built)
    _check_native(venv, outside)


def test_api_sdist_builds_a_wheel_with_its_data(dist: Path, outside: Path) -> None:
    venv = Venv(outside / "venv")
    wheels = outside / "wheels"
    _run([venv.python, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
          str(_one(dist, "sark_api-*.tar.gz"))], cwd=outside)  # fmt: skip
    with zipfile.ZipFile(_one(wheels, "sark_api-*.whl")) as archive:
        names = set(archive.namelist())
    assert "sark/api/_data/migrations/env.py" in names
    assert any(n.startswith("sark/api/_data/opa/") and n.endswith(".rego") for n in names)


GATEWAY = """
import json
from importlib.metadata import entry_points
from pathlib import Path
from litestar.testing import TestClient
from sark.api import create_app
from sark.core.settings import Settings
from sark.gateway import GatewayPlugin

found = {e.name: e.value for e in entry_points(group="sark.plugins")}
settings = Settings.from_env({"GATEWAY_ENABLED": "true", "SARK_LOG_LEVEL": "warning"},
                             cwd=Path.cwd())
Path(settings.home).mkdir(parents=True, exist_ok=True)  # as `sark serve` does
app = create_app(settings)  # plugins=None: discovered through the entry point
loaded = [type(p).__name__ for p in app.plugins if isinstance(p, GatewayPlugin)]
paths = sorted(app.route_handler_method_map)
with TestClient(app=app) as client:
    health = client.get("/health").json()
print(json.dumps({"entry_points": found, "loaded": loaded, "paths": paths, "health": health}))
"""


def test_gateway_wheel_is_discovered_and_loaded(
    dist: Path, tmp_path_factory: pytest.TempPathFactory, outside: Path
) -> None:
    venv = Venv(tmp_path_factory.mktemp("venv") / "gateway")
    venv.pip_install(
        dist,
        _one(dist, "sark_gateway-*.whl"),
        _one(dist, "sark_api-*.whl"),
        _one(dist, "sark_core-*.whl"),
    )
    assert "sark-native" not in venv.installed()
    out = json.loads(venv.python_c(GATEWAY, cwd=outside).splitlines()[-1])
    assert out["entry_points"] == {"gateway": "sark.gateway:plugin_factory"}
    assert out["loaded"] == ["GatewayPlugin"]
    assert "/api/v1/gateway/authorize" in out["paths"]
    assert out["health"]["gateway_enabled"] is True
