"""SARK service: the Litestar application and the ``sark`` command."""

from __future__ import annotations

from sark.api.app import create_app

__all__ = ["create_app"]
