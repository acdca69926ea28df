"""The ``sark`` command."""

from __future__ import annotations

import click

from sark.api.cli._common import clean_errors, emit, json_option
from sark.api.cli.config import config
from sark.api.cli.db import db
from sark.api.cli.flags import flags
from sark.api.cli.ops import diagnostics, health_check
from sark.api.cli.policy import test_policy
from sark.api.cli.serve import serve
from sark.api.cli.users import users
from sark.core.version import VERSION


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(VERSION.version, prog_name="sark")
def main() -> None:
    """SARK: governance and authorization for MCP servers and tools."""


@main.command()
@json_option
@clean_errors
def version(as_json: bool) -> None:
    """Print the release of this installation."""
    payload = {
        "version": VERSION.version,
        "major": VERSION.major,
        "minor": VERSION.minor,
        "patch": VERSION.patch,
    }
    emit(payload, as_json, lambda: click.echo(f"sark {VERSION.version}"))


main.add_command(serve)
main.add_command(db)
main.add_command(users)
main.add_command(test_policy)
main.add_command(config)
main.add_command(flags)
main.add_command(health_check)
main.add_command(diagnostics)

__all__ = ["main"]
