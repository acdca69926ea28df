"""Schemathesis over the whole OpenAPI document, as every role and with no credentials.

The app runs with the gateway plugin and A2A enabled (native engine), so the document has
every operation. For each caller, every operation gets a few generated requests
(deterministic: ``derandomize``); a response must never be a 5xx, its status must be one
the document declares and its body must match the declared schema. Failures are collected
over all operations and reported together.

Run alone with ``uv run pytest -m schemathesis``.
"""

from __future__ import annotations

import gc
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import (  # type: ignore[attr-defined]  # registered lazily
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi
from tests.compatibility.gateway_support import ENABLED, INSTALLED, gateway_settings
from tests.support.app import TEST_ADMIN_PASSWORD
from tests.support.identity import USER_PASSWORD
from tests.support.services import fresh_database

from sark.api import create_app
from sark.api.db import migrations

pytestmark = pytest.mark.schemathesis

MAX_EXAMPLES = 6
"""Generated requests per operation and caller: enough to hit each parameter's edge cases
once or twice while the whole suite stays around a minute per database."""
# Operations whose job is to call a peer the test does not run (the MCP Gateway Registry,
# an MCP server): their 502/503/504 is the documented "bad gateway" answer, not a bug.
PEER_ERRORS = {
    "gatewaySync": {"urn:sark:problem:dependency-unavailable"},
    "discoverServer": {"urn:sark:problem:discovery-failed", "urn:sark:problem:discovery-timeout"},
}


def not_a_server_error_but_peers(ctx: Any, response: Any, case: Any) -> bool | None:
    """``not_a_server_error``, except a documented peer failure of ``PEER_ERRORS``."""
    allowed = PEER_ERRORS.get(str(case.operation.definition.raw.get("operationId")), set())
    if response.status_code in (502, 503, 504) and allowed:
        problem = response.json()
        if isinstance(problem, dict) and problem.get("type") in allowed:
            return None
    return not_a_server_error(ctx, response, case)  # type: ignore[no-any-return]


CHECKS = [not_a_server_error_but_peers, status_code_conformance, response_schema_conformance]
CALLERS = ("anonymous", "admin", "team_lead", "developer", "viewer", "service_key")
# Operations that end the caller's own sessions.
SESSION_ENDING = frozenset({"logout", "logoutAll"})
UNLIMITED = {"SARK_RATE_LIMIT_USER_PER_MINUTE": "0", "SARK_RATE_LIMIT_API_KEY_PER_MINUTE": "0"}


@pytest.fixture(name="fuzz_database_url", scope="module", params=["sqlite", "postgresql"])
def fixture_fuzz_database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A database for the fuzzed app, kept for the whole module (one app per backend)."""
    if request.param == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'fuzz.db'}"
        return
    server_url: str = request.getfixturevalue("postgres_server_url")
    with fresh_database(server_url, "sark_fuzz") as url:
        yield url


@pytest.fixture(name="fuzz_app", scope="module")
def fixture_fuzz_app(fuzz_database_url: str) -> Iterator[Any]:
    """The app with every plugin on, migrated; its lifespan runs in schemathesis's loop."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**ENABLED, **UNLIMITED, "SARK_DATABASE_URL": fuzz_database_url}
        settings = gateway_settings(Path(tmp), fuzz_database_url, env)
        migrations.upgrade(settings)
        app = create_app(settings, plugins=INSTALLED)
        yield app
        asgi.shutdown_lifespans()
        # connections of requests the fuzzer abandoned are only finalised by the collector
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            gc.collect()


def _post(client: Any, path: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    response = client.post(path, json=body, headers=headers)
    assert response.status_code in (200, 201), f"{path}: {response.status_code} {response.text}"
    return response.json()


def _login(client: Any, username: str, password: str) -> dict[str, str]:
    body = _post(client, "/api/v1/auth/login", {"username": username, "password": password}, {})
    return {"Authorization": f"Bearer {body['access_token']}"}


@pytest.fixture(name="callers", scope="module")
def fixture_callers(fuzz_app: Any) -> dict[str, dict[str, str]]:
    """Headers of each caller: one user per role, an API key of a service user, nobody."""
    with asgi.get_client(fuzz_app) as client:
        admin = _login(client, "admin", TEST_ADMIN_PASSWORD)
        _post(client, "/api/v1/teams", {"name": "payments"}, admin)
        callers: dict[str, dict[str, str]] = {"anonymous": {}, "admin": admin}
        for role in ("team_lead", "developer", "viewer", "service"):
            user = {"username": f"fuzz-{role.replace('_', '-')}", "password": USER_PASSWORD,
                    "role": role, "teams": ["payments"]}  # fmt: skip
            _post(client, "/api/v1/users", user, admin)
            callers[role] = _login(client, user["username"], USER_PASSWORD)
        key = _post(
            client,
            "/api/v1/api-keys",
            {"name": "fuzz-key", "scopes": ["policy:evaluate", "server:read", "gateway"]},
            callers.pop("service"),
        )
        callers["service_key"] = {"Authorization": f"Bearer {key['key']}"}
        _post(
            client,
            "/api/v1/servers",
            {"name": "pg", "transport": "http", "endpoint": "http://127.0.0.1:9/mcp",
             "sensitivity_level": "medium", "team": "payments",
             "tools": [{"name": "run_query", "sensitivity_level": "low"}]},
            admin,
        )  # fmt: skip
    return callers


def _fuzz_operation(operation: Any, headers: dict[str, str]) -> str | None:
    """Run the generated cases of ``operation``; the first failure found, or None."""

    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy())
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # checks failed: report with the others
        return f"{operation.label}: {exc}"
    return None


def _operation_id(operation: Any) -> str:
    return str(operation.definition.raw.get("operationId", ""))


@pytest.mark.parametrize("caller", CALLERS)
def test_every_operation_conforms(
    fuzz_app: Any, callers: dict[str, dict[str, str]], caller: str
) -> None:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", fuzz_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    # the operations ending the caller's sessions run last, so the others run logged in
    operations.sort(key=lambda op: _operation_id(op) in SESSION_ENDING)
    assert len(operations) >= 60, f"the document lost operations: only {len(operations)}"
    failures = [
        failure
        for operation in operations
        if (failure := _fuzz_operation(operation, callers[caller])) is not None
    ]
    assert not failures, f"{len(failures)} operation(s) failed:\n\n" + "\n\n".join(failures)
