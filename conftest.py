"""Shared fixtures for every test directory of the workspace."""

from importlib.util import find_spec

pytest_plugins = ["tests.support.services", "tests.support.secrets_scan"]
# tox's `core` env installs sark-core alone: the app fixtures need sark-api.
if find_spec("sark") is not None and find_spec("sark.api") is not None:
    pytest_plugins.append("tests.support.app")
