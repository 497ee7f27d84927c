"""`minisplit bench --report DIR`: one HTML page with the bench's table and its plots, the
PNGs beside it in DIR (no scripts, no styles or images from elsewhere)."""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path

PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>minisplit bench</title></head>
<body>
<h1>minisplit bench</h1>
<p>The figures are defined in minisplit's docs/benchmark.md.</p>
<pre>{table}</pre>
{figures}
</body>
</html>
"""


def write_report(directory: Path, table: str, pictures: Sequence[Path]) -> Path:
    """``DIR/index.html``: ``table`` (the bench's text) and each of ``pictures`` (PNGs in
    ``directory``), one per scenario."""
    directory.mkdir(parents=True, exist_ok=True)
    figures = "\n".join(
        f"<h2>{html.escape(p.stem)}</h2>\n"
        f'<img src="{html.escape(p.name)}" alt="{html.escape(p.stem)}">'
        for p in pictures
    )
    path = directory / "index.html"
    path.write_text(PAGE.format(table=html.escape(table.strip("\n")), figures=figures))
    return path
