"""Fixtures of the upgrade/downgrade matrix: wheels, venvs and one scenario per case."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.migration.matrix.environment import SarkEnvironment
from tests.migration.matrix.releases import (
    PACKAGES,
    Build,
    build_current,
    build_release,
    load_releases,
)
from tests.migration.matrix.releases import get_release as _get_release
from tests.migration.matrix.scenario import Scenario

RELEASES = load_releases()
CURRENT = RELEASES[-1]
OLD_RELEASES = [r.version for r in RELEASES[:-1]]


@pytest.fixture(scope="session", name="current_build")
def fixture_current_build() -> Build:
    """Wheels of every package of the work tree."""
    return build_current(PACKAGES)


@pytest.fixture(scope="session", name="job_venv")
def fixture_job_venv(tmp_path_factory: pytest.TempPathFactory, current_build: Build) -> Path:
    """A venv with the current wheels, for migration jobs run beside old code."""
    path = tmp_path_factory.mktemp("job") / "venv"
    SarkEnvironment(path, path.parent / "home", {}).create().install(current_build)
    return path


@pytest.fixture(name="scenario", params=OLD_RELEASES)
def fixture_scenario(  # noqa: PLR0917 (pytest passes fixtures positionally)
    request: pytest.FixtureRequest,
    tmp_path: Path,
    database_url: str,
    opa_url: str,
    current_build: Build,
    job_venv: Path,
) -> Scenario:
    """An old release's path on a fresh database of the parametrised backend."""
    release = _get_release(request.param)
    config = {"SARK_DATABASE_URL": database_url, "SARK_OPA_URL": opa_url}
    env = SarkEnvironment(tmp_path / "venv", tmp_path / "home", config).create()
    return Scenario(
        release=release,
        old_build=build_release(release),
        current_build=current_build,
        current_version=CURRENT.version,
        current_heads=CURRENT.heads,
        env=env,
        job=SarkEnvironment(job_venv, tmp_path / "job-home", config),
    )
