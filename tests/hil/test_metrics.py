"""The benchmark's figures from hand-made traces."""

import pytest

from minisplit.hil.metrics import (
    MetricsRecorder,
    ZoneTarget,
    deviations,
    outside_band,
    tracking_error,
)

HEAT_21 = ZoneTarget(True, 21.0, 21.0)
OFF = ZoneTarget(False, 21.0, 21.0)


def test_band_and_outside():
    assert HEAT_21.band == (20.5, 21.5)
    assert outside_band(20.0, HEAT_21) == pytest.approx(0.5)
    assert outside_band(21.2, HEAT_21) == 0.0
    assert outside_band(25.0, ZoneTarget(True, 20.0, 24.0)) == pytest.approx(0.5)


def run(steps):
    recorder = MetricsRecorder(["a", "b"])
    t = 0.0
    for air_a, target_a, power, heat, running in steps:
        recorder.record(t, 60.0, [air_a, 21.0], [target_a, OFF], power, heat, running)
        t += 60.0
    return recorder


def test_discomfort_counts_only_while_on_and_is_per_zone():
    # one hour 1 K below the band in zone a, zone b off (not counted) → 1 K·h / 2 zones
    recorder = run([(19.5, HEAT_21, 0.0, 0.0, False)] * 60 + [(15.0, OFF, 0.0, 0.0, False)] * 60)
    assert recorder.summary(1.0)["discomfort_kh_per_zone"] == pytest.approx(0.5)


def test_discomfort_says_how_much_of_it_was_too_warm():
    # an hour 1 K below the band, then half an hour 2 K above it (sun in a heated room)
    steps = [(19.5, HEAT_21, 0.0, 0.0, False)] * 60 + [(23.5, HEAT_21, 0.0, 0.0, False)] * 30
    summary = run(steps).summary(1.0)
    assert summary["discomfort_kh_per_zone"] == pytest.approx((1.0 + 1.0) / 2)
    assert summary["discomfort_above_kh_per_zone"] == pytest.approx(1.0 / 2)


def test_energy_peak_and_cop():
    # 15 min at 2 kW then 45 min at 1 kW delivering 3 kW of heat throughout
    steps = [(21.0, HEAT_21, 2000.0, 3000.0, True)] * 15 + [
        (21.0, HEAT_21, 1000.0, 3000.0, True)
    ] * 45
    summary = run(steps).summary(10.0)
    assert summary["energy_kwh"] == pytest.approx(0.5 + 0.75)
    assert summary["peak_power_kw"] == pytest.approx(2.0)
    assert summary["mean_cop"] == pytest.approx(3.0 / 1.25)
    assert summary["speed_ratio"] == 360


def test_starts_per_calendar_hour_and_shortest_run():
    on, off = (21.0, HEAT_21, 500.0, 1500.0, True), (21.0, HEAT_21, 0.0, 0.0, False)
    # hour 0: runs of 5 min and 10 min; hour 1: one run of 20 min
    steps = [on] * 5 + [off] * 10 + [on] * 10 + [off] * 35 + [on] * 20 + [off] * 40
    summary = run(steps).summary(1.0)
    assert summary["compressor_starts"] == 3
    assert summary["starts_per_hour"] == 2
    assert summary["shortest_run_s"] == 300


def test_rms_error_is_signed_tracking_of_the_setpoint():
    summary = run(
        [(20.0, HEAT_21, 0, 0, False)] * 30 + [(22.0, HEAT_21, 0, 0, False)] * 30
    ).summary(1)
    assert summary["rms_error_k"] == pytest.approx(1.0)


def test_held_band_follows_the_mode():
    import math

    heat = ZoneTarget(True, 21.0, 21.0, heats=True, cools=False)
    cool = ZoneTarget(True, 24.0, 24.0, heats=False, cools=True)
    assert heat.held_band == (20.5, math.inf)
    assert cool.held_band == (-math.inf, 24.5)
    assert ZoneTarget(True, 20.0, 24.0).held_band == (19.5, 24.5)


def test_deviations_are_outside_band_and_tracking_error():
    heat_cool = ZoneTarget(True, 20.0, 24.0)
    for air in (18.0, 19.6, 20.0, 22.0, 24.4, 26.0):
        for target in (HEAT_21, heat_cool):
            assert deviations(air, target) == (
                outside_band(air, target),
                tracking_error(air, target),
            )
    assert tracking_error(22.0, heat_cool) == 0.0
    assert tracking_error(25.0, heat_cool) == pytest.approx(1.0)
    assert tracking_error(20.5, HEAT_21) == pytest.approx(-0.5)


def test_a_step_needs_one_air_temperature_and_target_per_zone():
    recorder = MetricsRecorder(["a", "b"])
    with pytest.raises(ValueError, match="per zone"):
        recorder.record(0.0, 60.0, [21.0], [HEAT_21, OFF], 0.0, 0.0, False)
    assert recorder.duration_s == 0.0


def test_discomfort_is_reported_by_zone():
    recorder = run([(19.5, HEAT_21, 0.0, 0.0, False)] * 60)
    assert recorder.discomfort_ks == pytest.approx({"a": 3600.0, "b": 0.0})


def test_mean_offset_from_the_setpoint_is_kept_apart_for_heating_and_cooling():
    """An hour 0.4 K under 21 °C heating and half an hour 0.7 K over it, 20 minutes 1.0 K
    over 25 °C cooling; heat_cool, fan-only and off time count in neither."""
    heat = ZoneTarget(True, 21.0, 21.0, heats=True, cools=False)
    cool = ZoneTarget(True, 25.0, 25.0, heats=False, cools=True)
    heat_cool = ZoneTarget(True, 20.0, 24.0)
    fan = ZoneTarget(True, 21.0, 21.0, heats=False, cools=False)
    steps = (
        [(20.6, heat, 0.0, 0.0, False)] * 60
        + [(21.7, heat, 0.0, 0.0, False)] * 30
        + [(26.0, cool, 0.0, 0.0, False)] * 20
        + [(18.0, heat_cool, 0.0, 0.0, False)] * 30
        + [(30.0, fan, 0.0, 0.0, False)] * 10
        + [(10.0, OFF, 0.0, 0.0, False)] * 10
    )
    summary = run(steps).summary(1.0)
    assert summary["mean_offset_heat_k"] == pytest.approx((60 * -0.4 + 30 * 0.7) / 90, abs=1e-3)
    assert summary["mean_offset_cool_k"] == pytest.approx(1.0, abs=1e-3)


def test_without_time_in_a_mode_its_mean_offset_is_none():
    summary = run([(20.0, ZoneTarget(True, 21.0, 21.0, cools=False), 0.0, 0.0, False)]).summary(1)
    assert summary["mean_offset_heat_k"] == pytest.approx(-1.0)
    assert summary["mean_offset_cool_k"] is None


def test_recoveries_are_scheduled_raises_and_on_time_when_the_room_is_already_there():
    """Heating 17 → 21 at minute 60 with the room at 20.8 (on time), 21 → 21.5 (too small to
    count), off → heat 20 with the room at 18 (late); cooling 27 → 24 with the room at 24.2
    (on time); a setback (21 → 17) is no recovery."""

    def heat(celsius: float) -> ZoneTarget:
        return ZoneTarget(True, celsius, celsius, heats=True, cools=False)

    cool = ZoneTarget(True, 27.0, 27.0, heats=False, cools=True)
    steps = (
        [(17.0, heat(17.0), 0.0, 0.0, False)] * 60
        + [(20.8, heat(21.0), 0.0, 0.0, False)] * 10
        + [(21.0, heat(21.5), 0.0, 0.0, False)] * 10
        + [(21.0, heat(17.0), 0.0, 0.0, False)] * 10
        + [(18.0, OFF, 0.0, 0.0, False)] * 10
        + [(18.0, heat(20.0), 0.0, 0.0, False)] * 10
        + [(26.0, cool, 0.0, 0.0, False)] * 10
        + [(24.2, ZoneTarget(True, 24.0, 24.0, heats=False, cools=True), 0.0, 0.0, False)]
    )
    recorder = run(steps)
    summary = recorder.summary(1.0)
    # 17 → 21, off → heat 20, heat 20 → cool 27 (switched to cooling: no earlier cooling
    # target), cool 27 → 24
    assert summary["recoveries"] == 4
    assert recorder.recoveries_on_time == 3  # 20.8 for 21, 26 for 27, 24.2 for 24
    assert summary["recoveries_on_time_pct"] == 75.0


def test_no_scheduled_raise_gives_no_recovery_figure():
    summary = run([(21.0, HEAT_21, 0.0, 0.0, False)] * 10).summary(1.0)
    assert summary["recoveries"] == 0 and summary["recoveries_on_time_pct"] is None


def test_a_room_on_its_way_to_a_coming_raise_is_in_comfort():
    """Before a raise (heating 20 → 21, cooling 26 → 24) the band reaches to the new band's far
    edge: a room pre-heated to 21.4 (pre-cooled to 23.6) is not above (below) it; a setback,
    a change of mode or heat_cool leaves the band as it is."""
    heat_20 = ZoneTarget(True, 20.0, 20.0, cools=False)
    heat_21 = ZoneTarget(True, 21.0, 21.0, cools=False)
    cool_26 = ZoneTarget(True, 26.0, 26.0, heats=False)
    cool_24 = ZoneTarget(True, 24.0, 24.0, heats=False)
    assert heat_20.ahead(heat_21).band == (19.5, 21.5)
    assert outside_band(21.4, heat_20.ahead(heat_21)) == 0.0
    assert outside_band(21.4, heat_20) == pytest.approx(0.9)
    assert outside_band(19.0, heat_20.ahead(heat_21)) == pytest.approx(0.5)  # still cold
    assert cool_26.ahead(cool_24).band == (23.5, 26.5)
    assert heat_21.ahead(heat_20) is heat_21  # a setback
    assert heat_20.ahead(cool_24) is heat_20  # another mode
    assert OFF.ahead(heat_21) is OFF and heat_20.ahead(OFF) is heat_20
    both = ZoneTarget(True, 20.0, 24.0)
    assert both.ahead(ZoneTarget(True, 21.0, 24.0)) is both
