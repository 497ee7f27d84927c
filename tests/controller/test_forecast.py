"""The weather forecast's use (`controller.core.forecast`): a heated room that the coming sun
will take above its band anyway is held at the band's bottom; what the room shows of the sun
is learned."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.core.compressor import UnitInput, UnitObservation
from minisplit.controller.core.control import ControlState, ControlTuning, ZoneInput, control_step
from minisplit.controller.core.forecast import (
    Forecast,
    ForecastTuning,
    learn_sun,
    passes_band,
    solar_kw,
    value_at,
)
from minisplit.controller.core.optimal_start import (
    DRIFTING,
    RoomRates,
    StartTuning,
    ZoneLookahead,
    learn,
)
from minisplit.controller.core.room_sensor import SensorSource
from minisplit.controller.core.settings import UnitSettings, ZoneMode, ZoneSettings
from minisplit.drivers.vocabulary import ZoneAction

HOUR = 3600.0
TUNING = ForecastTuning()


def hourly(outdoor: Sequence[float], solar: Sequence[float], start: float = 0.0) -> Forecast:
    times = tuple(start + i * HOUR for i in range(len(outdoor)))
    return Forecast(times, tuple(outdoor), tuple(solar))


# A mild spring day from midnight: 8 °C at night to 18 °C, sun from 07:00 to 18:00.
SUN = [0, 0, 0, 0, 0, 0, 0, 50, 200, 400, 600, 750, 800, 750, 600, 400, 200, 50, 0, 0, 0, 0, 0, 0]
MILD = [8, 8, 8, 8, 8, 8, 8, 9, 10, 12, 14, 16, 17, 18, 18, 17, 16, 14, 12, 11, 10, 9, 9, 8]
SUNNY_DAY = hourly([float(t) for t in MILD], [float(s) for s in SUN])
GREY_DAY = hourly([float(t) for t in MILD], [0.0] * 24)


def test_a_value_between_two_points_is_interpolated_and_none_outside_them():
    times, values = (0.0, 3600.0, 7200.0), (10.0, 20.0, None)
    assert value_at(times, values, 1800.0) == 15.0
    assert value_at(times, values, 0.0) == 10.0
    assert value_at(times, values, -1.0) is None  # before the first point
    assert value_at(times, values, 5000.0) is None  # toward a point not given
    assert value_at((0.0, 3600.0), (1.0, 2.0), 3600.0) == 2.0  # the last point itself
    assert value_at((0.0, 3600.0), (1.0, 2.0), 3601.0) is None  # past the last
    assert solar_kw(SUNNY_DAY, 12 * HOUR) == 0.8
    assert solar_kw(None, 0.0) is None


def test_the_sun_is_learned_from_what_the_loss_does_not_explain():
    # A room 5 K above the outdoors losing 3 %/h that rose 0.45 K/h under 0.6 kW/m²: the sun
    # gave 0.45 + 0.15 = 0.6 K/h, 1 K/h per kW/m².
    assert learn_sun(0.0, 0.03, 0.45, 5.0, 0.6, TUNING) == pytest.approx(TUNING.learn_weight)
    # A response seen lower than the estimate moves it only slowly (the room's mass lags the
    # sun in the afternoon: a falling room under the sun is its past, not the sun's weakness).
    assert learn_sun(1.0, 0.03, -0.15, 5.0, 0.6, TUNING) == pytest.approx(1.0 - TUNING.fall_weight)
    # Too little sun to tell it from the gains: nothing learned.
    assert learn_sun(1.0, 0.03, 2.0, 5.0, 0.1, TUNING) == 1.0
    # Kept within bounds.
    assert learn_sun(0.0, 0.03, 100.0, 5.0, 0.2, TUNING) <= TUNING.max_sun


def test_a_drift_under_the_sun_teaches_the_sun_and_leaves_the_loss():
    start = StartTuning()
    look = ZoneLookahead(RoomRates(2.0, 2.0, 0.03, sun=0.0))
    look = learn(look, DRIFTING, 20.0, 10.0, 0.0, start, 0.6, TUNING)
    look = learn(look, DRIFTING, 20.5, 10.0, start.window_s, start, 0.6, TUNING)
    assert look.rates.loss == 0.03  # the sun made it rise: no loss is told from that
    assert look.rates.sun > 0.0
    # Without a forecast the same window teaches the loss, as before (clamped at its floor).
    look = ZoneLookahead(RoomRates(2.0, 2.0, 0.03, sun=0.0))
    look = learn(look, DRIFTING, 20.0, 10.0, 0.0, start)
    look = learn(look, DRIFTING, 20.5, 10.0, start.window_s, start)
    assert look.rates.sun == 0.0 and look.rates.loss < 0.03


def overheats(
    room: float, setpoint: float, forecast: Forecast, now: float, sun: float = 1.5, loss=0.03
) -> bool:
    return passes_band(room, ((now, setpoint),), True, loss, sun, forecast, now, TUNING)


def test_a_sunny_morning_ahead_holds_the_room_and_a_grey_one_does_not():
    # At 06:00, a room that warms 1.5 K/h per kW/m² of sun: held at 20.6 it still passes 21.5
    # before 14:00 on the sunny day; on the grey day it falls back to the floor.
    assert overheats(20.8, 21.0, SUNNY_DAY, 6 * HOUR)
    assert not overheats(20.8, 21.0, GREY_DAY, 6 * HOUR)
    # A room that shows no response to the sun (north, or nothing learned) is never held.
    assert not overheats(20.8, 21.0, SUNNY_DAY, 6 * HOUR, sun=0.0)
    # The sun still 9 hours off at 22:00 (the horizon is 8): no hold yet.
    night = hourly([float(t) for t in MILD * 2], [float(s) for s in SUN * 2])
    assert not overheats(20.8, 21.0, night, 22 * HOUR)


def test_a_forecast_that_ends_before_the_horizon_holds_nothing():
    short = hourly([8.0, 9.0, 10.0], [800.0, 800.0, 800.0], start=6 * HOUR)
    # Under that sun the room would pass the band within the three hours... but the forecast
    # says nothing of the hours after: the rule does not guess them, and holds nothing.
    assert not overheats(20.8, 21.0, short, 6 * HOUR, sun=0.3)
    assert overheats(20.8, 21.0, short, 6 * HOUR, sun=3.0)  # passed before the forecast ends


def test_the_next_switch_points_setpoint_counts_from_its_moment():
    # At 05:00 with 19 °C in effect and 21 °C from 07:00: the room passes 19.5 easily, but
    # not 21.5 — the top of the band in effect when the sun comes.
    floors = ((5 * HOUR, 19.0), (7 * HOUR, 21.0))
    assert passes_band(19.0, floors[:1], True, 0.03, 0.5, SUNNY_DAY, 5 * HOUR, TUNING)
    assert not passes_band(19.0, floors, True, 0.03, 0.5, SUNNY_DAY, 5 * HOUR, TUNING)


@given(
    room=st.floats(10.0, 30.0),
    setpoint=st.floats(16.0, 26.0),
    sun=st.floats(0.0, 6.0),
    loss=st.floats(0.005, 0.5),
    now_h=st.floats(0.0, 23.0),
    more_sun=st.floats(0.0, 300.0),
)
def test_more_sun_never_releases_a_hold(room, setpoint, sun, loss, now_h, more_sun):
    brighter = hourly(MILD * 2, [s + more_sun for s in SUN * 2])
    base = hourly(MILD * 2, SUN * 2)
    now = now_h * HOUR
    held = passes_band(room, ((now, setpoint),), True, loss, sun, base, now, TUNING)
    if held:
        assert passes_band(room, ((now, setpoint),), True, loss, sun, brighter, now, TUNING)


# ---- in the control tick -------------------------------------------------------------------

UNIT = UnitInput(
    UnitObservation(7000.0, 6500.0, 20.0, 90.0, 90.0, 8.0),
    available=True,
    defrost=False,
    settings=UnitSettings(),
)
HEAT_21 = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)


def sunny_room(room: float) -> dict[str, ZoneInput]:
    return {"a": ZoneInput(HEAT_21, room, True, 2500.0, sensor=SensorSource.REMOTE)}


def test_a_room_the_sun_will_overheat_waits_at_the_bottom_of_its_band():
    # 06:00 before the sunny day, the room at 20.7: 0.3 K below the setpoint, inside the band.
    # With the sunny forecast it is held (aim 20.6): it does not heat; without a forecast, or
    # with the forecast's use switched off, or under a grey sky, it heats toward 21.
    now = 6 * HOUR
    tuning = ControlTuning()
    _, out = control_step(ControlState(), sunny_room(20.7), UNIT, now, tuning, SUNNY_DAY)
    assert out.zones["a"].action is ZoneAction.IDLE
    _, out = control_step(ControlState(), sunny_room(20.7), UNIT, now, tuning)
    assert out.zones["a"].action is ZoneAction.HEATING
    _, out = control_step(ControlState(), sunny_room(20.7), UNIT, now, tuning, GREY_DAY)
    assert out.zones["a"].action is ZoneAction.HEATING
    off = ControlTuning(forecast=ForecastTuning(enabled=False))
    _, out = control_step(ControlState(), sunny_room(20.7), UNIT, now, off, SUNNY_DAY)
    assert out.zones["a"].action is ZoneAction.HEATING
    # Below the band's bottom it heats even on the sunny day.
    _, out = control_step(ControlState(), sunny_room(20.3), UNIT, now, tuning, SUNNY_DAY)
    assert out.zones["a"].action is ZoneAction.HEATING


def test_the_hold_is_worked_out_again_only_every_recheck():
    tuning = ControlTuning()
    state, _ = control_step(ControlState(), sunny_room(20.7), UNIT, 6 * HOUR, tuning, SUNNY_DAY)
    assert state.lookahead["a"].held and state.lookahead["a"].held_at == 6 * HOUR
    later = 6 * HOUR + 10.0
    state, _ = control_step(state, sunny_room(20.7), UNIT, later, tuning, GREY_DAY)
    assert state.lookahead["a"].held  # not yet worked out again
    later = 6 * HOUR + TUNING.recheck_s
    state, _ = control_step(state, sunny_room(20.7), UNIT, later, tuning, GREY_DAY)
    assert not state.lookahead["a"].held


# A summer evening from 18:00: 27 °C falling to 15 °C by 02:00, no sun.
COOL_NIGHT = hourly([27.0, 25.0, 23.0, 21.0, 19.0, 17.0, 16.0, 15.0, 15.0, 15.0], [0.0] * 10)
WARM_NIGHT = hourly([30.0, 29.0, 28.0, 28.0, 27.0, 27.0, 27.0, 27.0, 27.0, 27.0], [0.0] * 10)


def test_a_cool_night_ahead_holds_a_cooled_room_at_the_top_of_its_band():
    # Cooling at 24: held at 24.4 the room still falls below 23.5 in the night, so the room
    # is not cooled below 24.4 in the evening; on a warm night it is cooled as usual.
    assert passes_band(24.5, ((0.0, 24.0),), False, 0.2, 0.0, COOL_NIGHT, 0.0, TUNING)
    assert not passes_band(24.5, ((0.0, 24.0),), False, 0.2, 0.0, WARM_NIGHT, 0.0, TUNING)
    cool_24 = ZoneSettings(mode=ZoneMode.COOL, target_temperature=24.0)
    zones = {"a": ZoneInput(cool_24, 24.3, True, 2500.0, sensor=SensorSource.REMOTE)}
    look = ZoneLookahead(RoomRates(2.0, 2.0, 0.2))
    state = ControlState(lookahead={"a": look})
    tuning = ControlTuning()
    _, out = control_step(state, zones, UNIT, 0.0, tuning, COOL_NIGHT)
    assert out.zones["a"].action is ZoneAction.IDLE
    _, out = control_step(state, zones, UNIT, 0.0, tuning, WARM_NIGHT)
    assert out.zones["a"].action is ZoneAction.COOLING
    _, out = control_step(state, zones, UNIT, 0.0, tuning)
    assert out.zones["a"].action is ZoneAction.COOLING
