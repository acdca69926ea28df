"""Old release -> current, on SQLite and PostgreSQL, with real old wheels and data checked.

Run with ``uv run tox -e migration-upgrade`` (or ``uv run pytest tests/migration/matrix -m
matrix -k upgrade``); the default test run deselects the ``matrix`` marker.
"""

from __future__ import annotations

import pytest
from tests.migration.matrix.scenario import Scenario

pytestmark = [pytest.mark.matrix, pytest.mark.migration]


def test_upgrade_keeps_data_and_old_code_runs_on_the_new_schema(scenario: Scenario) -> None:
    scenario.seed_old()
    scenario.upgrade_schema_under_old_code()
    scenario.install_current()
    scenario.check_current()
