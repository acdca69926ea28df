"""What every ``sark`` command shares: loading settings, failing cleanly, printing."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, ParamSpec, TypeVar

import click

from sark.core.errors import SarkError
from sark.core.settings import Settings

P = ParamSpec("P")
R = TypeVar("R")

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print one line naming the problem and exit non-zero (no traceback)."""
    click.echo(f"sark: error: {message}", err=True)
    sys.exit(code)


def clean_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn SARK's own errors into one line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except SarkError as exc:
            fail(exc.detail)

    return wrapper


def load_settings() -> Settings:
    """Settings from the environment (and config.yaml), warnings printed once."""
    settings = Settings.from_env(os.environ)
    for warning in settings.warnings:
        click.echo(f"sark: warning: {warning}", err=True)
    return settings


def emit(payload: Any, as_json: bool, human: Callable[[], None]) -> None:
    """Print ``payload`` as JSON, or call ``human`` to print it for people."""
    if as_json:
        click.echo(json.dumps(payload, indent=2, default=str))
    else:
        human()
