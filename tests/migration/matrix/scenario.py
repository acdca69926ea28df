"""One upgrade/downgrade path: an old release -> the current tree -> back, on one database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from tests.migration.matrix.dataset import (
    Seeded,
    assert_credentials_work,
    assert_preserved,
    check,
    evaluate,
    seed,
    snapshot,
)
from tests.migration.matrix.environment import SarkEnvironment
from tests.migration.matrix.releases import PACKAGES, Build, Release

NEW_PACKAGES = ("sark-native",)
"""Packages an upgrade adds to what the old release installed (the new in-process engine)."""


@dataclass
class Scenario:
    """The old release's venv (upgraded in place) and a current venv for migration jobs."""

    release: Release
    old_build: Build
    current_build: Build
    current_version: str
    current_heads: set[str]
    env: SarkEnvironment
    """The operator's environment: old wheels first, then current, then old again."""
    job: SarkEnvironment
    """Current code in a separate venv, like a migration job run before a rolling update."""
    seeded: Seeded | None = None
    before: dict[str, Any] | None = None

    @property
    def gateway(self) -> bool:
        """Whether the old release ships the gateway plugin (then it is switched on)."""
        return "sark-gateway" in self.release.packages

    def serve_env(self) -> dict[str, str]:
        """Configuration of every ``sark serve`` of the scenario."""
        return {"GATEWAY_ENABLED": "true"} if self.gateway else {}

    @contextmanager
    def serving(self) -> Iterator[httpx.Client]:
        """``sark serve`` of the operator's environment, as an HTTP client."""
        with (
            self.env.serve(self.serve_env()) as base,
            httpx.Client(base_url=base, timeout=30) as client,
        ):
            yield client

    # ----------------------------------------------------------------- steps

    def install_old(self) -> None:
        """Install the old wheels (dropping packages the old release did not ship)."""
        extra = [p for p in PACKAGES if p not in self.release.packages]
        self.env.install(self.old_build, remove=extra)
        assert self.env.installed() == dict.fromkeys(self.release.packages, self.release.version)
        assert self.env.version() == self.release.version

    def seed_old(self) -> None:
        """Old code migrates an empty database and is filled through its API."""
        self.install_old()
        self.env.sark("db", "upgrade")
        assert self.env.heads() == self.release.heads
        with self.serving() as client:
            self.seeded = seed(client, gateway=self.gateway)
            self.before = snapshot(client, self.seeded)
        assert len(self.before["servers"]) == 2
        assert len(self.before["tools"]) == 5
        assert any(event["kind"] == "decision" for event in self.before["audit"].values())

    def upgrade_schema_under_old_code(self) -> None:
        """Zero downtime: the new migrations run while old code serves, and old code restarts."""
        with self.serving() as client:
            self.job.sark("db", "upgrade")
            assert self.job.heads() == self.current_heads
            self.check_old_code_serves(client, "created-during-upgrade")
        with self.serving() as client:
            self.check_old_code_serves(client, "created-by-old-on-new-schema")

    def install_current(self) -> None:
        """Reinstall the environment with the current wheels and migrate (nothing left)."""
        packages = (*self.release.packages, *NEW_PACKAGES)
        wheels = tuple(w for w in self.current_build.wheels if _package(w.name) in packages)
        self.env.install(Build(wheels=wheels, constraints=self.current_build.constraints))
        assert self.env.installed() == dict.fromkeys(packages, self.current_version)
        assert self.env.version() == self.current_version
        self.env.sark("db", "upgrade")
        assert self.env.heads() == self.current_heads

    def check_current(self) -> None:
        """The current release serves every old object and its new features work."""
        assert self.seeded is not None
        with self.serving() as client:
            self.check_preserved(client)
            version = check(client.get("/api/v1/version"), 200)
            assert version["version"] == self.current_version
            root = self.seeded.headers(client, "admin")
            # the native engine, new in 1.4, takes all traffic once rolled out to 100 %
            check(client.post("/admin/rollout/update", headers=root,
                              json={"feature": "rust_opa", "percentage": 100}), 200)  # fmt: skip
            decision = evaluate(client, root, "list_tables", context={"request_id": "native"})
            assert decision["engine"] == "native", decision
            gateway = client.post("/api/v1/gateway/authorize", headers=root,
                                  json={"action": "gateway:server:list"})  # fmt: skip
            if self.gateway:
                assert gateway.status_code == 200, gateway.text
                self.check_gateway(client)
            else:  # not installed: absent, exactly as before the upgrade
                assert gateway.status_code == 404, gateway.text
            team = {"name": "created-by-current"}
            check(client.post("/api/v1/teams", json=team, headers=root), 201)

    def downgrade(self) -> None:
        """Current code reverts the schema to the old heads; the old wheels go back in."""
        for head in sorted(self.release.heads - self.current_heads):
            self.env.sark("db", "downgrade", head)
        status = json.loads(self.env.sark("db", "current", "--json"))
        assert set(status["current"]) == self.release.heads
        self.install_old()
        assert self.env.heads() == self.release.heads
        assert self.seeded is not None
        with self.serving() as client:
            self.check_old_code_serves(client, "created-after-rollback")
            teams = {t["name"] for t in check(client.get(
                "/api/v1/teams", params={"limit": "100"},
                headers=self.seeded.headers(client, "admin")), 200)["items"]}  # fmt: skip
            assert "created-by-current" in teams  # written by the new release, read by the old

    # ----------------------------------------------------------------- checks

    def check_preserved(self, client: httpx.Client) -> None:
        """Every object of the seeding reads back unchanged; old credentials authenticate."""
        assert self.seeded is not None
        assert self.before is not None
        assert_preserved(self.before, snapshot(client, self.seeded))
        assert_credentials_work(client, self.seeded)

    def check_old_code_serves(self, client: httpx.Client, team: str) -> None:
        """Old code reads, writes and decides correctly on the database as it is now."""
        self.check_preserved(client)
        assert self.seeded is not None
        root = self.seeded.headers(client, "admin")
        check(client.post("/api/v1/teams", json={"name": team}, headers=root), 201)
        developer = self.seeded.headers(client, "dana-dev")
        allowed = evaluate(client, developer, "list_tables")
        assert (allowed["allow"], allowed["reason"]) == (True, "allowed_by_role"), allowed
        denied = evaluate(client, developer, "rotate_master_key")
        assert denied["allow"] is False, denied
        if self.gateway:
            self.check_gateway(client)

    def check_gateway(self, client: httpx.Client) -> None:
        """The gateway plugin authorizes with the old gateway key and the old catalog."""
        assert self.seeded is not None
        headers = {"Authorization": f"Bearer {self.seeded.api_keys['gateway']}"}
        body = {"action": "gateway:tool:invoke", "server_name": "search-index",
                "tool_name": "search", "parameters": {"q": "refund"}}  # fmt: skip
        answer = check(client.post("/api/v1/gateway/authorize", json=body, headers=headers), 200)
        assert set(answer) >= {"allow", "reason", "audit_id", "policy_revision"}, answer


def _package(wheel: str) -> str:
    return wheel.split("-", 1)[0].replace("_", "-")
