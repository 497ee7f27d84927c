"""The soak's watch on setpoint heads (tests/soak_heads.py): what it flags and what it lets
pass, on a head whose registers are set by hand."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from minisplit.controller.core.head_setpoint import SetpointTuning
from minisplit.hil.modbus_units import IndoorHead
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import tcp_config
from tests.soak_heads import SetpointWatch

TUNING = SetpointTuning()


@pytest.fixture
def head(tmp_path: Path) -> IndoorHead:
    simulator = Simulator(tcp_config(5020, tmp_path / "state.json", demo="demo-intesis"))
    return simulator.head("living")


def _watch(
    user_at: float = -math.inf, defrost_at: float = -math.inf, unreachable: bool = False
) -> SetpointWatch:
    return SetpointWatch(
        TUNING, 2.0, lambda _z: user_at, lambda: defrost_at, lambda _z, _a, _b: unreachable
    )


def _set(head: IndoorHead, power: int, setpoint: float) -> None:
    head.write("power", power)
    head.write("display_setpoint", setpoint)


def test_a_setpoint_changed_within_the_interval_is_flagged(head: IndoorHead) -> None:
    watch = _watch()
    _set(head, 1, 22.0)
    watch.written("living", head, 0.0)
    _set(head, 1, 22.5)
    watch.written("living", head, 700.0)  # past the interval: fine
    _set(head, 1, 23.0)
    watch.written("living", head, 800.0)
    assert watch.setpoint_changes == 2
    assert len(watch.violations) == 1 and "after 100 s" in watch.violations[0]


@pytest.mark.parametrize(
    "watch",
    [_watch(user_at=790.0), _watch(defrost_at=500.0), _watch(unreachable=True)],
    ids=["homeowner", "defrost", "late write"],
)
def test_a_quick_setpoint_change_the_strategy_allows_is_excused(
    head: IndoorHead, watch: SetpointWatch
) -> None:
    _set(head, 1, 22.0)
    watch.written("living", head, 0.0)
    _set(head, 1, 22.5)
    watch.written("living", head, 700.0)
    _set(head, 1, 23.0)
    watch.written("living", head, 800.0)
    assert watch.violations == [] and watch.quick_changes_excused == 1


def test_short_runs_and_short_stops_are_flagged(head: IndoorHead) -> None:
    watch = _watch()
    _set(head, 1, 22.0)
    watch.written("living", head, 0.0)
    head.write("power", 0)
    watch.written("living", head, 100.0)  # on for 100 s < min_on_s
    head.write("power", 1)
    watch.written("living", head, 200.0)  # off for 100 s < min_off_s
    assert [v.split(": ", 1)[1].split(" ")[1] for v in watch.violations] == ["switched", "on"]
    # A homeowner's off is at once.
    homeowner = _watch(user_at=1000.0)
    homeowner.written("living", head, 900.0)
    head.write("power", 0)
    homeowner.written("living", head, 1000.0)
    assert homeowner.violations == [] and homeowner.homeowner_stops == 1
