"""Shared fixtures for every test directory of the workspace."""

pytest_plugins = ["tests.support.services", "tests.support.app"]
