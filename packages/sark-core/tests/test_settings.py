from __future__ import annotations

from pathlib import Path

import pytest

from sark.core import ConfigError, Secret, Settings


def load(tmp_path: Path, env: dict[str, str] | None = None) -> Settings:
    return Settings.from_env(env or {}, cwd=tmp_path)


def test_defaults_are_the_embedded_product(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.database.embedded
    assert settings.database.backend == "sqlite"
    assert settings.database.url.reveal() == f"sqlite+aiosqlite:///{tmp_path / '.sark' / 'sark.db'}"
    assert settings.redis.url is None
    assert settings.policy.opa_url is None
    assert settings.server.port == 8000
    assert settings.features.gateway.enabled is False
    assert settings.features.a2a.enabled is False
    assert settings.features.rust_opa.rollout_percentage == 0


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/sark", "postgresql+asyncpg://u:p@db:5432/sark"),
        ("postgres://u@db/sark", "postgresql+asyncpg://u@db/sark"),
        ("postgresql+asyncpg://u@db/sark", "postgresql+asyncpg://u@db/sark"),
        ("sqlite:////var/lib/sark.db", "sqlite+aiosqlite:////var/lib/sark.db"),
    ],
)
def test_database_urls_are_normalised_to_async_drivers(
    tmp_path: Path, url: str, expected: str
) -> None:
    settings = load(tmp_path, {"SARK_DATABASE_URL": url})
    assert settings.database.url.reveal() == expected
    assert not settings.database.embedded


def test_unknown_database_scheme_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"^SARK_DATABASE_URL: unsupported database URL \(mysql\)"
    ):
        load(tmp_path, {"SARK_DATABASE_URL": "mysql://root:hunter2@db/sark"})


def test_bad_database_url_error_does_not_print_the_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, {"SARK_DATABASE_URL": "mysql://root:hunter2@db/sark"})
    assert "hunter2" not in str(caught.value)


def test_non_numeric_port_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SARK_PORT: expected an integer \(got 'abc'\)$"):
        load(tmp_path, {"SARK_PORT": "abc"})


def test_out_of_range_rollout_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SARK_RUST_OPA_ROLLOUT_PCT: must be at most 100"):
        load(tmp_path, {"SARK_RUST_OPA_ROLLOUT_PCT": "101"})


def test_bad_boolean_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="GATEWAY_ENABLED: expected true or false"):
        load(tmp_path, {"GATEWAY_ENABLED": "maybe"})


def test_discovery_networks_are_validated_and_canonical(tmp_path: Path) -> None:
    assert load(tmp_path, {}).discovery.allowed_networks == ""
    raw = "10.20.0.0/16, 127.0.0.1 ::1 192.168.1.7/24"
    settings = load(tmp_path, {"SARK_DISCOVERY_ALLOWED_NETWORKS": raw})
    assert settings.discovery.allowed_networks == "10.20.0.0/16,127.0.0.1/32,::1/128,192.168.1.0/24"
    with pytest.raises(ConfigError, match="SARK_DISCOVERY_ALLOWED_NETWORKS: expected networks"):
        load(tmp_path, {"SARK_DISCOVERY_ALLOWED_NETWORKS": "10.0.0.0/8,intranet"})


def test_a2a_without_gateway_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="A2A_ENABLED=true requires GATEWAY_ENABLED=true"):
        load(tmp_path, {"A2A_ENABLED": "true"})
    settings = load(tmp_path, {"A2A_ENABLED": "true", "GATEWAY_ENABLED": "1"})
    assert settings.features.a2a.enabled


def test_config_yaml_features_block_of_the_migration_guide(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        """
features:
  rust_opa:
    enabled: true
    rollout_percentage: 5
    fallback_on_error: true
  rust_cache:
    enabled: true
    rollout_percentage: 5
    max_size: 10000
    ttl_seconds: 300
    fallback_on_error: true
"""
    )
    settings = load(tmp_path)
    assert settings.config_file == str(tmp_path / "config.yaml")
    assert settings.features.rust_opa.enabled
    assert settings.features.rust_opa.rollout_percentage == 5
    assert settings.features.rust_cache.max_size == 10_000
    assert settings.features.rust_cache.ttl_seconds == 300


def test_environment_overrides_config_yaml(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "server:\n  port: 9000\nfeatures:\n  rust_opa:\n    rollout_percentage: 5\n"
    )
    settings = load(tmp_path, {"SARK_RUST_OPA_ROLLOUT_PCT": "25"})
    assert settings.server.port == 9000
    assert settings.features.rust_opa.rollout_percentage == 25


def test_sark_config_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "prod.yaml").write_text("log:\n  format: text\n")
    settings = load(tmp_path, {"SARK_CONFIG": "prod.yaml"})
    assert settings.log.format == "text"


def test_missing_sark_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SARK_CONFIG: no such file"):
        load(tmp_path, {"SARK_CONFIG": "nope.yaml"})


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server:\n  port: [1\n")
    with pytest.raises(ConfigError, match=r"^config.yaml: invalid YAML at line \d+"):
        load(tmp_path)


def test_yaml_value_of_wrong_type_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server:\n  port: eighty\n")
    with pytest.raises(ConfigError, match=r"^config.yaml: server.port: expected an integer"):
        load(tmp_path)


def test_yaml_mapping_where_a_value_belongs_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server:\n  port:\n    number: 1\n")
    with pytest.raises(ConfigError, match=r"server\.port: expected a single value"):
        load(tmp_path)


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load(tmp_path)


def test_unknown_keys_are_warnings_so_newer_configs_still_load(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("server:\n  prot: 1\nfuture_feature: true\n")
    settings = load(tmp_path)
    assert settings.warnings == (
        "config.yaml: server.prot: unknown setting, ignored",
        "config.yaml: future_feature: unknown setting, ignored",
    )


def test_secrets_never_show_in_repr(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        {
            "SARK_DATABASE_URL": "postgresql://sark:s3cr3t-pw@db/sark",
            "SARK_ADMIN_PASSWORD": "admin-pw-123",
            "SARK_JWT_SECRET": "jwt-secret-xyz",
            "GATEWAY_API_KEY": "gw-key-456",
        },
    )
    shown = repr(settings) + str(settings)
    for secret in ("s3cr3t-pw", "admin-pw-123", "jwt-secret-xyz", "gw-key-456"):
        assert secret not in shown
    assert settings.auth.admin_password is not None
    assert settings.auth.admin_password.reveal() == "admin-pw-123"


def test_secret_equality_and_truthiness() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert not Secret("")
    assert repr(Secret("x")) == "Secret('**********')"


def test_home_is_resolved_against_the_working_directory(tmp_path: Path) -> None:
    settings = load(tmp_path, {"SARK_HOME": "data"})
    assert settings.home == str(tmp_path / "data")
