"""What `pip install .` (not editable) puts into site-packages: the wheel holds every module of
`minisplit/` and the data the installed commands read through importlib.resources (profiles,
demo and example configs, scenarios, weather, the systemd unit), under three top-level names
only. A package added to the tree but not to pyproject's `packages`, or data not listed in its
`package-data`, works in the editable checkout and is missing once installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# What the build reads; copied so that the build leaves nothing (build/, *.egg-info) in the tree.
SOURCES = ("pyproject.toml", "README.md", "minisplit", "config", "systemd")
TOP_LEVEL = {"minisplit", "minisplit_data", "minisplit_systemd"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tree = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(source, tree / name, ignore=ignore)
        else:
            shutil.copy2(source, tree / name)
    out = tmp_path_factory.mktemp("wheel")
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(tree)]
    subprocess.run(build, check=True, capture_output=True, timeout=120)
    (wheel,) = out.glob("minisplit-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def repository_files(folder: str, pattern: str) -> set[str]:
    return {str(path.relative_to(ROOT)) for path in (ROOT / folder).rglob(pattern)}


def test_the_wheel_installs_three_top_level_names_only(wheel_names):
    top = {name.split("/")[0] for name in wheel_names}
    assert {name for name in top if not name.endswith(".dist-info")} == TOP_LEVEL


def test_the_wheel_holds_every_module_of_the_package(wheel_names):
    modules = {name for name in repository_files("minisplit", "*.py") if "__pycache__" not in name}
    assert modules - wheel_names == set()


def test_the_wheel_holds_the_data_the_installed_commands_read(wheel_names):
    scenarios = repository_files("minisplit/hil/scenarios", "*.toml")
    weather = repository_files("minisplit/hil/weather", "*.csv")
    assert scenarios and weather
    assert scenarios | weather <= wheel_names
    shipped = {
        "minisplit_data/demo.toml",
        "minisplit_data/demo-faults.toml",
        "minisplit_data/example.toml",
        "minisplit_systemd/minisplit.service",
    }
    profiles = {
        f"minisplit_data/profiles/{path.name}"
        for path in (ROOT / "config" / "profiles").glob("*.toml")
    }
    assert profiles
    assert shipped | profiles <= wheel_names


def test_the_wheel_registers_the_kits_pytest_plugin(wheel: Path):
    """pytest finds the kit (docs/testing.md) through the installed package's entry point."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/entry_points.txt"))
        entry_points = archive.read(name).decode()
    section = entry_points.split("[pytest11]", 1)[1].split("[", 1)[0]
    assert section.split() == ["minisplit", "=", "minisplit.testing.plugin"]
