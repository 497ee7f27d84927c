"""The design lives in the repository: nothing cites a document outside it, and every file of
`docs/` that the code, the tests, the profiles or the docs themselves point to exists."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
# What .gitignore keeps out of the repository (virtualenv, caches, build output).
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".venv",
        "__pycache__",
        ".pytest_cache",
        ".ruff_cache",
        ".mypy_cache",
        ".import_linter_cache",
        ".hypothesis",
        "build",
        "dist",
        "state",
    }
)
# The founding brief that stays outside the repository, by the name its citations used. Spelt
# in two halves so that this file does not cite it itself.
BRIEF_CITATION = re.compile(r"\b" + "DES" + r"IGN\b")
DOCS_REFERENCE = re.compile(r"\bdocs/([\w.-]+\.md)\b")
# A Markdown link's target: [text](target) or [text](target#anchor).
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")
# A repository path named in the docs, e.g. `minisplit/controller/core/zone.py` or
# `config/profiles/x.toml`.
REPO_PATH = re.compile(
    r"`((?:minisplit|config|systemd|tests|docs)/[\w/.-]+\.(?:py|toml|md|csv|service))`"
)


def repository_texts() -> Iterator[tuple[Path, str]]:
    """Every text file of the repository (binary files are skipped), with its text."""
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in relative.parts):
            continue
        if not path.is_file():
            continue
        try:
            yield relative, path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue


def test_nothing_cites_a_design_document_outside_the_repository() -> None:
    citing = [
        f"{path}:{number}: {line.strip()}"
        for path, text in repository_texts()
        for number, line in enumerate(text.splitlines(), start=1)
        if BRIEF_CITATION.search(line)
    ]
    assert not citing, "cite docs/ instead:\n" + "\n".join(citing)


def test_every_docs_file_that_is_cited_exists() -> None:
    cited: dict[str, list[str]] = {}
    for path, text in repository_texts():
        for name in DOCS_REFERENCE.findall(text):
            cited.setdefault(name, []).append(str(path))
    assert cited, "nothing cites docs/: the scan finds no citation at all"
    missing = {name: where for name, where in cited.items() if not (DOCS / name).is_file()}
    assert not missing, f"cited but not in docs/: {missing}"


def docs_pages() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


@pytest.mark.parametrize("page", docs_pages(), ids=lambda page: page.name)
def test_the_links_and_paths_in_a_docs_page_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = [
        target
        for target in MARKDOWN_LINK.findall(text)
        if "://" not in target and not (page.parent / target).exists()
    ]
    broken += [path for path in REPO_PATH.findall(text) if not (ROOT / path).exists()]
    assert not broken, f"{page.name} points to what the repository does not have: {broken}"


def test_the_design_pages_are_there() -> None:
    """The architecture, the reference unit's datasheet, the MQTT contract, the benchmark, and
    an index that links every one of them."""
    pages = {page.name for page in docs_pages()}
    expected = {"README.md", "architecture.md", "reference-unit.md", "mqtt.md", "benchmark.md"}
    assert expected <= pages
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert all(f"({name})" in index for name in pages - {"README.md"})
