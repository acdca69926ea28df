"""Current -> old release (rollback), on SQLite and PostgreSQL, with data checked.

Run with ``uv run tox -e migration-downgrade`` (or ``uv run pytest tests/migration/matrix -m
matrix -k downgrade``). Each case first takes the upgrade path, then rolls it back.
"""

from __future__ import annotations

import pytest
from tests.migration.matrix.scenario import Scenario

pytestmark = [pytest.mark.matrix, pytest.mark.migration]


def test_downgrade_to_the_old_heads_and_wheels_keeps_data(scenario: Scenario) -> None:
    scenario.seed_old()
    scenario.upgrade_schema_under_old_code()
    scenario.install_current()
    scenario.check_current()
    scenario.downgrade()
