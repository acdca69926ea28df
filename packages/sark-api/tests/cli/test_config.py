from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sark.api.cli.config import reference_markdown
from sark.core import OPTIONS

REPO = Path(__file__).resolve().parents[4]
SARK = str(Path(sys.executable).parent / "sark")


def test_configuration_doc_is_generated_from_the_options_table() -> None:
    documented = (REPO / "docs" / "configuration.md").read_text()
    assert documented == reference_markdown(), (
        "run: uv run sark config reference > docs/configuration.md"
    )


def test_every_option_is_in_the_reference() -> None:
    text = reference_markdown()
    for option in OPTIONS:
        assert f"`{option.key}`" in text


def test_config_show_masks_secrets(tmp_path: Path) -> None:
    env = {
        "SARK_DATABASE_URL": "postgresql://sark:pw-xyz@db/sark",
        "SARK_JWT_SECRET": "jwt-abc",
        "PATH": "",
    }
    result = subprocess.run(
        [SARK, "config", "show", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    shown = json.loads(result.stdout)
    assert shown["database"]["url"] == "**********"
    assert shown["auth"]["jwt"]["secret"] == "**********"
    assert "pw-xyz" not in result.stdout
    assert "jwt-abc" not in result.stdout
