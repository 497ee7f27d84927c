"""The design lives in the repository: nothing cites a document outside it, and every file of
`docs/` that the code, the tests, the profiles or the docs themselves point to exists."""

from __future__ import annotations

import importlib.util
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from minisplit.controller.cli import build_parser
from minisplit.hil.scenario import ScenarioError, load_scenario, shipped_scenarios

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
# in two halves so that this file does not cite it itself. An EnergyPlus weather file's second
# header line, "... CONDITIONS", is that format's own keyword, not a citation.
BRIEF_CITATION = re.compile(r"\b" + "DES" + r"IGN\b(?! CONDITIONS)")
DOCS_REFERENCE = re.compile(r"\bdocs/([\w.-]+\.md)\b")
# A Markdown link's target: [text](target) or [text](target#anchor).
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)\s]*)?\)")
# A repository path named in the docs, e.g. `minisplit/controller/core/zone.py` or
# `config/profiles/x.toml`.
REPO_PATH = re.compile(
    r"`((?:minisplit|config|systemd|tests|docs)/[\w/.-]+\.(?:py|toml|md|csv|service))`"
)
# A repository folder named in the docs, e.g. `minisplit/controller/core/`.
REPO_FOLDER = re.compile(r"`((?:minisplit|config|systemd|tests|docs)/(?:[\w.-]+/)*)`")


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


# A command line the README or a docs page shows for a reader to type: a line of a fenced block
# that starts with one of these programs (the architecture's diagrams, also fenced, are not).
COMMAND_LINE = re.compile(
    r"^\s*(?:sudo\s+)?(?:\S*/)?(?:minisplit|python3?|make|mosquitto\w*|mbpoll|socat)(?=\s|$).*$"
)
FENCED_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
# A relative file path in a command: what the reader's shell must find from the repository.
RELATIVE_FILE = re.compile(r"(?<![\w/.~$-])((?:[\w.-]+/)+[\w.-]+\.(?:py|toml|md|csv|service))\b")
PYTHON_MODULE = re.compile(r"\bpython3? -m ([\w.]+)")
SCENARIO_NAME = re.compile(r"--scenario ([\w-]+)(?:\s|$)")


def shown_commands(page: Path) -> list[str]:
    """The command lines in ``page``'s fenced blocks, without their trailing comments."""
    text = page.read_text(encoding="utf-8")
    return [
        line.split(" # ")[0]
        for block in FENCED_BLOCK.findall(text)
        for line in block.splitlines()
        if COMMAND_LINE.match(line)
    ]


def missing_in_command(command: str) -> list[str]:
    """What ``command`` names that a clone of the repository lacks: a relative file, a module
    for `python -m`, a shipped scenario for `--scenario NAME`."""
    shipped = {path.stem for path in shipped_scenarios()}
    missing = [path for path in RELATIVE_FILE.findall(command) if not (ROOT / path).exists()]
    for module in PYTHON_MODULE.findall(command):
        try:  # the repository's (pytest runs at its root) or the standard library's
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # its package is missing
            found = False
        if not found:
            missing.append(f"python -m {module}")
    missing += [
        f"--scenario {name}" for name in SCENARIO_NAME.findall(command) if name not in shipped
    ]
    return missing


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *docs_pages()], ids=lambda page: str(page.relative_to(ROOT))
)
def test_the_commands_a_page_shows_name_what_the_repository_has(page: Path) -> None:
    """A command copied from the README or docs/ into a shell at the clone's root finds every
    file, module and scenario it names (after a move, e.g. hil/ -> minisplit/hil/, it would
    not)."""
    broken = {command: missing_in_command(command) for command in shown_commands(page)}
    broken = {command: missing for command, missing in broken.items() if missing}
    assert not broken, f"{page.name} shows commands naming what does not exist: {broken}"


def minisplit_arguments(command: str) -> list[str] | None:
    """The arguments of the `minisplit` command a line runs first (after `sudo`, up to `&&`,
    `&` or `|`), or None when it runs another program."""
    words = shlex.split(command)
    words = words[1:] if words[:1] == ["sudo"] else words
    if not words or Path(words[0]).name != "minisplit":
        return None
    ends = [i for i, word in enumerate(words) if word in {"&&", "&", "|", ";"}]
    return words[1 : ends[0] if ends else len(words)]


def refusal(arguments: list[str]) -> str | None:
    """What `minisplit` says against ``arguments`` before it does anything: a usage error, or
    for `bench` a scenario that does not load with a shift it is given; else None."""
    try:
        args = build_parser().parse_args(arguments)
    except SystemExit:
        return "refused by the argument parser"
    if args.command != "bench":
        return None
    try:
        for path in args.scenario or shipped_scenarios():
            for weeks in args.shift_weeks or (0,):
                load_scenario(path, weeks)
    except ScenarioError as err:
        return f"{err.source}: {err.problems[0]}"
    return None


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *docs_pages()], ids=lambda page: str(page.relative_to(ROOT))
)
def test_the_minisplit_commands_a_page_shows_are_accepted(page: Path) -> None:
    """Each `minisplit ...` line is one the command line takes (no renamed or removed option),
    and a `bench` line's scenarios load with its --shift-weeks (the docs showed
    `--shift-weeks -2` over every scenario, which the January weeks refuse)."""
    refused = {}
    for command in shown_commands(page):
        arguments = minisplit_arguments(command)
        if arguments is not None and (why := refusal(arguments)) is not None:
            refused[command] = why
    assert not refused, f"{page.name} shows commands minisplit refuses: {refused}"


def test_the_command_check_sees_the_commands_and_what_they_lack() -> None:
    commands = shown_commands(ROOT / "README.md")
    assert any(command.startswith("minisplit bench --scenario") for command in commands)
    assert any(command.startswith("python -m tests.") for command in commands)
    stale = "python -m controller.cli sim -c config/demo.toml --scenario hil/scenarios/x.toml"
    assert missing_in_command(stale) == ["hil/scenarios/x.toml", "python -m controller.cli"]
    assert missing_in_command("minisplit bench --scenario renovated-janury") == [
        "--scenario renovated-janury"
    ]
    assert missing_in_command("minisplit check-config /etc/minisplit/minisplit.toml") == []
    assert minisplit_arguments("sudo /opt/venv/bin/minisplit install --dry-run && ls") == [
        "install",
        "--dry-run",
    ]
    assert refusal(["bench", "--scenrio", "mixed-april"]) == "refused by the argument parser"
    assert "leaves the weather year" in (refusal(["bench", "--shift-weeks", "-2"]) or "")
    assert refusal(["bench", "--scenario", "mixed-april", "--shift-weeks", "-2"]) is None


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *docs_pages()], ids=lambda page: str(page.relative_to(ROOT))
)
def test_the_links_and_paths_in_a_docs_page_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = [
        target
        for target in MARKDOWN_LINK.findall(text)
        if "://" not in target and not (page.parent / target).exists()
    ]
    broken += [path for path in REPO_PATH.findall(text) if not (ROOT / path).exists()]
    broken += [path for path in REPO_FOLDER.findall(text) if not (ROOT / path).is_dir()]
    assert not broken, f"{page.name} points to what the repository does not have: {broken}"


def test_the_design_pages_are_there() -> None:
    """The architecture, the reference unit's datasheet, the MQTT contract, the benchmark, and
    an index that links every one of them."""
    pages = {page.name for page in docs_pages()}
    expected = {"README.md", "architecture.md", "reference-unit.md", "mqtt.md", "benchmark.md"}
    assert expected <= pages
    index = (DOCS / "README.md").read_text(encoding="utf-8")
    assert all(f"({name})" in index for name in pages - {"README.md"})


# `systemctl <verb> [--now] NAME` and `journalctl -u NAME` as a page shows them.
SERVICE_NAMED = re.compile(
    r"\b(?:systemctl (?:enable|disable|start|stop|restart|status|edit)(?: --now)?|journalctl -u)"
    r" ([\w@.-]+)"
)


@pytest.mark.parametrize(
    "page", [ROOT / "README.md", *docs_pages()], ids=lambda page: str(page.relative_to(ROOT))
)
def test_the_service_a_page_names_is_the_one_install_creates(page: Path) -> None:
    """`systemctl` and `journalctl` lines name the unit `minisplit install` writes, and the
    install guide's config and state paths are the installed ones."""
    from minisplit.controller.service.install import CONFIG_FILE, STATE_DIR, UNIT_FILE

    text = page.read_text(encoding="utf-8")
    named = set(SERVICE_NAMED.findall(text))
    assert named <= {UNIT_FILE.stem, UNIT_FILE.name}, f"{page.name} names {named}"
    if page.name == "install.md":
        assert named and str(CONFIG_FILE) in text and str(STATE_DIR) in text
