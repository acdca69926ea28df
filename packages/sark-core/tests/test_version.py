from __future__ import annotations

import contextlib

import pytest

from sark.core import VERSION, VersionInfo


@pytest.mark.parametrize(
    ("text", "parts"),
    [("1.4.0", (1, 4, 0)), ("1.0.0.dev0", (1, 0, 0)), ("1.1.0rc1", (1, 1, 0)), ("2.3", (2, 3, 0))],
)
def test_parse(text: str, parts: tuple[int, int, int]) -> None:
    info = VersionInfo.parse(text)
    assert (info.major, info.minor, info.patch) == parts
    assert info.version == text


def test_installed_version_is_the_distribution_version() -> None:
    from importlib.metadata import PackageNotFoundError, version

    assert VERSION.version == version("sark-core")
    with contextlib.suppress(PackageNotFoundError):  # sark-core alone: tox env `core`
        assert version("sark-api") == VERSION.version
    assert VERSION.max_compatible == f"{VERSION.major}.x.x"
