"""MkDocs hooks: publish the repository's README and CHANGELOG inside the site.

Both live at the repository root (where GitHub and packagers look for them), outside
``docs/``. The hook adds them as generated pages (``readme.md``, ``changelog.md``) and
rewrites the links between them and the docs, so strict mode still validates every link.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = {"README.md": "readme.md", "CHANGELOG.md": "changelog.md"}
_LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def on_files(files: Files, config: Any) -> Files:
    """Add the root documents as pages of the site."""
    for source, page in PUBLISHED.items():
        text = (ROOT / source).read_text(encoding="utf-8")
        files.append(File.generated(config, page, content=text))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    """Point links at the published copies, wherever they are written from."""
    docs = Path(config["docs_dir"]).resolve()
    page_dir = (docs / page.file.src_uri).parent
    from_root = page.file.src_uri in PUBLISHED.values()

    def fix(match: re.Match[str]) -> str:
        target = match.group("target")
        if "://" in target or target.startswith(("#", "mailto:")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        base = ROOT if from_root else page_dir
        resolved = (base / path).resolve()
        if resolved.is_relative_to(docs) and not from_root:
            return match.group(0)
        relative = resolved.relative_to(ROOT).as_posix() if resolved.is_relative_to(ROOT) else ""
        if relative in PUBLISHED:
            new = PUBLISHED[relative]
        elif resolved.is_relative_to(docs):
            new = resolved.relative_to(docs).as_posix()
        else:
            return match.group(0)  # left for strict mode to report
        new = _relative(new, page.file.src_uri)
        return f"]({new}{'#' + anchor if anchor else ''})"

    return _LINK.sub(fix, markdown)


def _relative(target: str, from_page: str) -> str:
    depth = from_page.count("/")
    return "../" * depth + target
