"""The worker entry point ``sark serve`` runs (``sark.api.asgi``)."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient
from tests.support.app import make_settings, migrate, settings_env

from sark.api import asgi


async def test_a_worker_freezes_what_its_start_up_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"SARK_DATABASE_URL": f"sqlite:///{tmp_path / 'sark.db'}"}
    await migrate(make_settings(tmp_path, env))
    for name, value in settings_env(tmp_path, env).items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    gc.unfreeze()
    try:
        app = asgi.build(plugins={})
        assert gc.get_freeze_count() == 0
        async with AsyncTestClient(app=app) as client:
            # frozen during start-up, before the first request
            assert gc.get_freeze_count() > 1000
            assert (await client.get("/health/live")).status_code == 200
    finally:
        gc.unfreeze()
