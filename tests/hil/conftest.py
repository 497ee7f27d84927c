"""Fixtures for the simulator tests."""

from __future__ import annotations

import pytest

from minisplit.hil.bench import CONTROLLERS, bench_scenario
from minisplit.hil.scenario import parse_scenario, shipped_scenarios
from minisplit.hil.simulator import Simulator
from tests.hil.house import house

SHIPPED_SCENARIOS = {p.name: p for p in shipped_scenarios()}


@pytest.fixture
def sim() -> Simulator:
    """A fresh simulator of the test house (not running: drive it with `step`)."""
    return Simulator(house())


@pytest.fixture(scope="session")
def january_day(tmp_path_factory):
    """The unrenovated house's first 12 hours of its January week (−9…−1 °C)."""
    text = (
        SHIPPED_SCENARIOS["unrenovated-january.toml"]
        .read_text()
        .replace("duration_days = 7", "duration_hours = 12")
    )
    path = tmp_path_factory.mktemp("scenario") / "short.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="session")
def results(january_day):
    """The four direct-unit controllers through `january_day`, with traces."""
    scenario = parse_scenario(january_day.read_text(), str(january_day))
    return bench_scenario(scenario, CONTROLLERS, traces=True)
