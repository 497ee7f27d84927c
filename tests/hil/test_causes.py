"""The discomfort split by cause, from hand-made steps."""

import pytest

from minisplit.hil.causes import CAUSES, NO_UNIT, DiscomfortCauses, UnitState
from minisplit.hil.metrics import MetricsRecorder, ZoneTarget

HEAT_21 = ZoneTarget(True, 21.0, 21.0, heats=True, cools=False)
COOL_24 = ZoneTarget(True, 24.0, 24.0, heats=False, cools=True)
HEAT_COOL = ZoneTarget(True, 20.0, 24.0)
HEATING = UnitState(running=True, heating=True)
COOLING = UnitState(running=True, heating=False)


def one_hour(causes, air, target, unit, start_s=0.0):
    """An hour of one-minute steps, one zone."""
    for minute in range(60):
        causes.record(start_s + 60.0 * minute, 60.0, [air], [target], unit)


@pytest.mark.parametrize(
    ("air", "target", "unit", "cause"),
    [
        (22.5, HEAT_21, HEATING, "warm_in_heat_mode"),  # the sun in a heated room
        (22.5, COOL_24, COOLING, "cold_in_cool_mode"),
        (19.5, HEAT_21, UnitState(running=True, heating=True, defrosting=True), "defrost"),
        (19.5, HEAT_21, NO_UNIT, "compressor_off"),
        (18.5, HEAT_COOL, COOLING, "other_direction"),  # a heat_cool room while the unit cools
        (19.5, HEAT_21, UnitState(True, True, False, True), "full_capacity"),
        (19.5, HEAT_21, HEATING, "control"),
    ],
)
def test_each_hour_outside_the_band_goes_to_its_cause(air, target, unit, cause):
    causes = DiscomfortCauses(["a"])
    one_hour(causes, air, target, unit)
    outside = 1.0  # every case is 1 K outside its band, for an hour
    summary = causes.summary()
    assert summary[cause] == pytest.approx(outside)
    assert sum(summary.values()) == pytest.approx(outside)


def test_a_defrost_is_to_blame_for_half_an_hour_after_it_ends():
    causes = DiscomfortCauses(["a"])
    causes.record(0.0, 60.0, [20.5], [HEAT_21], UnitState(True, True, True))  # in the band
    for minute in range(1, 61):  # the defrost ended at 60 s; the room 1 K below its band
        causes.record(60.0 * minute, 60.0, [19.5], [HEAT_21], HEATING)
    summary = causes.summary()
    assert summary["defrost"] == pytest.approx(0.5)
    assert summary["control"] == pytest.approx(0.5)


def test_a_setpoint_change_is_to_blame_for_three_hours():
    causes = DiscomfortCauses(["a"])
    raised = ZoneTarget(True, 22.0, 22.0, heats=True, cools=False)
    causes.record(0.0, 60.0, [21.0], [HEAT_21], HEATING)
    for hour in range(4):  # 1 K below the raised band for four hours
        one_hour(causes, 20.5, raised, HEATING, start_s=60.0 + 3600.0 * hour)
    summary = causes.summary()
    assert summary["setpoint_change"] == pytest.approx(3.0, abs=0.02)
    assert summary["control"] == pytest.approx(1.0, abs=0.02)


def test_the_causes_add_up_to_the_discomfort_and_zones_off_count_nothing():
    steps = [
        (19.0, HEAT_21, NO_UNIT),
        (23.0, HEAT_21, HEATING),
        (25.5, HEAT_COOL, HEATING),
        (19.0, ZoneTarget(False, 21.0, 21.0), HEATING),
    ]
    causes = DiscomfortCauses(["a", "b"])
    metrics = MetricsRecorder(["a", "b"])
    for i, (air, target, unit) in enumerate(steps):
        causes.record(60.0 * i, 60.0, [air, 21.0], [target, HEAT_21], unit)
        metrics.record(60.0 * i, 60.0, [air, 21.0], [target, HEAT_21], 0.0, 0.0, unit.running)
    total = sum(causes.summary().values())
    assert total == pytest.approx(metrics.summary(1.0)["discomfort_kh_per_zone"], abs=1e-3)
    assert set(causes.summary()) == set(CAUSES)


def test_one_reading_and_target_per_zone():
    with pytest.raises(ValueError, match="per zone"):
        DiscomfortCauses(["a", "b"]).record(0.0, 60.0, [20.0], [HEAT_21], NO_UNIT)
