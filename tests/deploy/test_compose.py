"""deploy/compose/compose.yaml: valid against the compose specification, profiles as documented."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.tools import DEPLOY, SARK_VARIABLES, is_sark_variable, run

COMPOSE = DEPLOY / "compose" / "compose.yaml"
EXAMPLE_ENV = DEPLOY / "compose" / "production.env.example"


def check_jsonschema(path: Path) -> tuple[int, str]:
    tool = Path(sys.executable).parent / "check-jsonschema"
    result = run(str(tool), "--builtin-schema", "vendor.compose-spec", str(path), check=False)
    return result.returncode, result.stdout + result.stderr


def load() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return document


def test_valid_against_the_compose_spec_schema() -> None:
    code, output = check_jsonschema(COMPOSE)
    assert code == 0, output


def test_the_schema_check_catches_a_broken_file(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    document = load()
    document["services"]["sark"]["healthcheck"]["retries"] = "many"
    document["services"]["sark"]["restrat"] = "always"
    broken.write_text(yaml.safe_dump(document))
    code, _ = check_jsonschema(broken)
    assert code != 0


def test_profiles() -> None:
    services = load()["services"]
    by_profile: dict[str, set[str]] = {}
    for name, service in services.items():
        for profile in service["profiles"]:
            by_profile.setdefault(profile, set()).add(name)
    assert by_profile == {
        "embedded": {"sark-embedded"},
        "production": {"postgres", "redis", "opa", "migrate", "sark"},
    }
    # embedded: SARK alone, nothing but its data volume
    embedded = services["sark-embedded"]
    assert "depends_on" not in embedded
    assert not any(k.endswith("_URL") for k in embedded["environment"])


def test_production_migrates_before_serving() -> None:
    services = load()["services"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    depends = services["sark"]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["redis"]["condition"] == "service_healthy"
    environment = services["sark"]["environment"]
    assert environment["SARK_REDIS_URL"].startswith("redis://redis:")
    assert environment["SARK_OPA_URL"] == "http://opa:8181"


def test_healthchecks_and_hardening() -> None:
    services = load()["services"]
    for name in ("sark-embedded", "sark", "postgres", "redis"):
        assert services[name]["healthcheck"]["test"][0] == "CMD", name
    for name in ("sark-embedded", "sark", "migrate"):
        service = services[name]
        assert service["read_only"] is True
        assert service["user"] == "10001:10001"
        assert "/tmp" in service["tmpfs"]
        assert "healthcheck.py" in " ".join(services["sark"]["healthcheck"]["test"])


def test_every_variable_is_a_documented_setting_and_no_secret_is_inline() -> None:
    services = load()["services"]
    seen = set()
    for service in services.values():
        for name, value in (service.get("environment") or {}).items():
            seen.add(name)
            if is_sark_variable(name):
                assert name in SARK_VARIABLES, f"{name} is not in options.py"
            assert "PASSWORD" not in name, f"{name} inline"
            assert "SECRET" not in name, f"{name} inline"
            assert "@" not in str(value), f"{name}: credentials in a URL"
    assert {"SARK_HOME", "SARK_REDIS_URL", "SARK_OPA_URL"} <= seen
    for line in EXAMPLE_ENV.read_text().splitlines():
        if line and not line.startswith("#"):
            name = line.split("=", 1)[0]
            assert name == "POSTGRES_PASSWORD" or name in SARK_VARIABLES, name
