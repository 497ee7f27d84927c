"""The zone PI loop: direction, demand, anti-windup, bumpless changes, freezing."""

import pytest

from controller.settings import ZoneMode, ZoneSettings
from controller.zone import Direction, PiTuning, ZoneLoopState, step_zone

TUNING = PiTuning(kp=0.5, ti_s=1800.0)


def run(settings: ZoneSettings, temperature: float, seconds: int, state=None, frozen=False):
    state = state or ZoneLoopState()
    demand = None
    for _ in range(seconds // 10):
        state, demand = step_zone(state, settings, temperature, 10.0, TUNING, frozen=frozen)
    return state, demand


def test_heat_below_setpoint_demands_and_integrates():
    settings = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
    state, first = step_zone(ZoneLoopState(), settings, 20.0, 10.0, TUNING)
    assert first.direction is Direction.HEAT
    assert first.demand == pytest.approx(0.5, abs=0.01)
    _, later = run(settings, 20.0, 600, state)
    assert later.demand > first.demand  # the integral grows while the error stays


def test_cool_above_setpoint_demands_cooling():
    settings = ZoneSettings(mode=ZoneMode.COOL, target_temperature=24.0)
    _, demand = step_zone(ZoneLoopState(), settings, 25.0, 10.0, TUNING)
    assert demand.direction is Direction.COOL
    assert demand.demand > 0


def test_off_and_fan_only_demand_nothing_and_reset():
    for mode in (ZoneMode.OFF, ZoneMode.FAN_ONLY):
        state, demand = step_zone(
            ZoneLoopState(integral=0.4, direction=Direction.HEAT),
            ZoneSettings(mode=mode),
            15.0,
            10.0,
            TUNING,
        )
        assert demand.demand == 0 and demand.direction is Direction.NONE
        assert state.integral == 0


def test_missing_temperature_demands_nothing():
    _, demand = step_zone(ZoneLoopState(), ZoneSettings(mode=ZoneMode.HEAT), None, 10, TUNING)
    assert demand.demand == 0


def test_anti_windup_bounds_the_integral_while_saturated():
    settings = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
    state, demand = run(settings, 10.0, 24 * 3600)
    assert demand.demand == 1.0
    assert state.integral <= 1.0
    # Once the room is at the setpoint the demand comes off at once instead of staying
    # saturated for hours (what a wound-up integral would do).
    _, after = step_zone(state, settings, 21.5, 10.0, TUNING)
    assert after.demand < 1.0


def test_setpoint_change_is_bumpless_for_the_integral():
    settings = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
    state, _ = run(settings, 20.5, 1200)
    moved, _ = step_zone(state, settings.with_changes(target_temperature=22.0), 20.5, 0.0, TUNING)
    assert moved.integral == pytest.approx(state.integral)


def test_frozen_holds_the_integral():
    settings = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
    state, _ = run(settings, 20.0, 600)
    held, _ = run(settings, 20.0, 600, state, frozen=True)
    assert held.integral == pytest.approx(state.integral)


def test_heat_cool_picks_direction_with_hysteresis():
    settings = ZoneSettings(
        mode=ZoneMode.HEAT_COOL, target_temperature_low=20.0, target_temperature_high=24.0
    )
    state, demand = step_zone(ZoneLoopState(), settings, 25.0, 10, TUNING)
    assert demand.direction is Direction.COOL and demand.setpoint == 24.0
    # Inside the band the direction is kept (no flapping between heat and cool).
    state, demand = step_zone(state, settings, 22.0, 10, TUNING)
    assert demand.direction is Direction.COOL
    state, demand = step_zone(state, settings, 19.0, 10, TUNING)
    assert demand.direction is Direction.HEAT and demand.setpoint == 20.0


def test_dry_asks_for_a_fixed_cooling_share():
    settings = ZoneSettings(mode=ZoneMode.DRY, target_temperature=22.0)
    _, demand = step_zone(ZoneLoopState(), settings, 24.0, 10, TUNING)
    assert demand.direction is Direction.COOL
    assert demand.demand == TUNING.dry_demand
