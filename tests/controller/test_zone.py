"""The zone loop: aim inside the band, call latch, PI with anti-windup, bumpless changes."""

from dataclasses import replace

import pytest

from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.controller.core.zone import (
    Direction,
    PiTuning,
    SharedConditions,
    ZoneLoopState,
    step_zone,
)

# No measurement filter here, so that a reading's effect shows at once.
TUNING = PiTuning(kp=0.5, ti_s=1800.0, band_offset_k=0.4, call_k=0.1, satisfied_k=0.2, filter_s=0.0)
HEAT_21 = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)


def run(settings, temperature, seconds, state=None, **kw):
    state = state or ZoneLoopState()
    for _ in range(int(seconds // 10)):
        state = step_zone(state, settings, temperature, 10.0, TUNING, **kw)
    return state


def test_heat_aims_inside_the_band_below_the_setpoint():
    # Aim 20.6 (setpoint − 0.4): at 20.0 the error is 0.6 K, P = 0.3.
    state = step_zone(ZoneLoopState(), HEAT_21, 20.0, 10.0, TUNING)
    assert state.direction is Direction.HEAT and state.calling
    assert state.setpoint == 21.0
    assert state.error_k == pytest.approx(0.6)
    assert state.demand == pytest.approx(0.3, abs=0.01)
    later = run(HEAT_21, 20.0, 600, state)
    assert later.demand > state.demand  # the integral grows while the error stays


def test_cool_aims_above_the_setpoint():
    settings = ZoneSettings(mode=ZoneMode.COOL, target_temperature=24.0)
    state = step_zone(ZoneLoopState(), settings, 25.0, 10.0, TUNING)
    assert state.direction is Direction.COOL and state.calling
    assert state.error_k == pytest.approx(0.6)  # 25 − (24 + 0.4)


def test_off_and_fan_only_demand_nothing_and_reset():
    for mode in (ZoneMode.OFF, ZoneMode.FAN_ONLY):
        held = ZoneLoopState(integral=0.4, direction=Direction.HEAT, calling=True)
        state = step_zone(held, ZoneSettings(mode=mode), 15.0, 10.0, TUNING)
        assert state == ZoneLoopState()
        assert state.demand == 0 and state.direction is Direction.OFF


def test_missing_temperature_demands_nothing():
    state = step_zone(ZoneLoopState(), HEAT_21, None, 10, TUNING)
    assert state.demand == 0 and not state.calling


def test_call_latch_has_hysteresis_around_the_aim():
    # Aim 20.6: calls at ≤ 20.5 (call_k 0.1), satisfied at ≥ 20.8 (satisfied_k 0.2).
    state = step_zone(ZoneLoopState(), HEAT_21, 20.55, 10, TUNING)
    assert not state.calling and state.demand == 0
    state = step_zone(state, HEAT_21, 20.5, 10, TUNING)
    assert state.calling and state.demand > 0
    state = step_zone(state, HEAT_21, 20.75, 10, TUNING)
    assert state.calling  # still short of the satisfied side
    state = step_zone(state, HEAT_21, 20.8, 10, TUNING)
    assert not state.calling and state.demand == 0
    state = step_zone(state, HEAT_21, 20.6, 10, TUNING)
    assert not state.calling  # back at the aim, but no call until 20.5


def test_a_satisfied_zone_rejoins_a_running_compressor_earlier():
    calling = ZoneLoopState(0.1, Direction.HEAT, calling=True)
    satisfied = step_zone(calling, HEAT_21, 20.8, 10, TUNING)
    assert not satisfied.calling
    alone = step_zone(satisfied, HEAT_21, 20.6, 10, TUNING)
    joined = step_zone(satisfied, HEAT_21, 20.6, 10, TUNING, joining=True)
    assert not alone.calling and joined.calling  # rejoin_k 0: at the aim


def test_stretch_widens_the_satisfied_side_up_to_its_limit():
    calling = step_zone(ZoneLoopState(), HEAT_21, 20.4, 10, TUNING)
    assert not step_zone(calling, HEAT_21, 20.8, 10, TUNING).calling
    assert step_zone(
        calling, HEAT_21, 20.8, 10, TUNING, shared=SharedConditions(stretch=2.0)
    ).calling
    assert not step_zone(
        calling, HEAT_21, 21.0, 10, TUNING, shared=SharedConditions(stretch=2.0)
    ).calling
    # max_satisfied_k (0.6) caps any stretch: satisfied at 21.2 at the latest
    assert not step_zone(
        calling, HEAT_21, 21.2, 10, TUNING, shared=SharedConditions(stretch=10.0)
    ).calling


def test_anti_windup_bounds_the_integral_while_saturated():
    state = run(HEAT_21, 10.0, 24 * 3600)
    assert state.demand == TUNING.max_demand
    assert state.integral <= TUNING.max_demand
    # Once the room is at the aim the demand comes off at once instead of staying saturated
    # for hours (what a wound-up integral would do).
    after = step_zone(state, HEAT_21, 20.7, 10.0, TUNING)
    assert after.demand < 1.0


def test_a_room_far_below_its_aim_asks_beyond_its_heads_rating_up_to_the_limit():
    # Within the head's rating near the aim; far below it, more, but never past max_demand.
    near = step_zone(ZoneLoopState(), HEAT_21, 20.4, 10.0, TUNING)
    far = step_zone(ZoneLoopState(), HEAT_21, 17.0, 10.0, TUNING)
    assert near.demand < 1.0
    assert 1.0 < far.demand == TUNING.max_demand
    within = PiTuning(kp=0.5, max_demand=1.0, filter_s=0.0)
    assert step_zone(ZoneLoopState(), HEAT_21, 17.0, 10.0, within).demand == 1.0


def test_at_low_load_the_aim_moves_toward_the_low_load_offset():
    tuning = PiTuning(kp=0.5, band_offset_k=0.3, low_load_band_offset_k=0.5, filter_s=0.0)
    cool = ZoneSettings(mode=ZoneMode.COOL, target_temperature=24.0)
    for settings, room, sign in ((HEAT_21, 20.5, 1.0), (cool, 24.5, -1.0)):
        high = step_zone(ZoneLoopState(), settings, room, 10.0, tuning)
        half = step_zone(
            ZoneLoopState(), settings, room, 10.0, tuning, shared=SharedConditions(low_load=0.5)
        )
        low = step_zone(
            ZoneLoopState(), settings, room, 10.0, tuning, shared=SharedConditions(low_load=1.0)
        )
        # The aim is 0.3 K inside the band at high load, 0.5 K at low load, toward outdoors.
        assert high.error_k == pytest.approx(
            sign * (settings.target_temperature - 0.3 * sign - room)
        )
        assert low.error_k == pytest.approx(
            sign * (settings.target_temperature - 0.5 * sign - room)
        )
        assert half.error_k == pytest.approx((high.error_k + low.error_k) / 2)
        assert low.demand < high.demand


def test_setpoint_change_is_bumpless_for_the_integral():
    state = run(HEAT_21, 20.3, 1200)
    moved = step_zone(state, replace(HEAT_21, target_temperature=22.0), 20.3, 0.0, TUNING)
    assert moved.integral == pytest.approx(state.integral)


def test_mode_change_that_keeps_the_direction_keeps_the_integral():
    state = run(HEAT_21, 20.3, 1200)
    heat_cool = replace(
        HEAT_21, mode=ZoneMode.HEAT_COOL, target_temperature_low=21.0, target_temperature_high=24.0
    )
    moved = step_zone(state, heat_cool, 20.3, 0.0, TUNING)
    assert moved.direction is Direction.HEAT
    assert moved.integral == pytest.approx(state.integral)
    assert moved.demand == pytest.approx(state.demand, abs=1e-6)


def test_a_new_direction_starts_the_integral_from_zero():
    state = run(HEAT_21, 20.3, 1200)
    cool = step_zone(state, replace(HEAT_21, mode=ZoneMode.COOL), 25.0, 0.0, TUNING)
    assert cool.direction is Direction.COOL and cool.integral == 0.0


def test_frozen_holds_the_integral():
    state = run(HEAT_21, 20.0, 600)
    held = run(HEAT_21, 20.0, 600, state, frozen=True)
    assert held.integral == pytest.approx(state.integral)
    assert held.demand == pytest.approx(state.demand)  # resumes where it was


def test_heat_cool_picks_direction_with_hysteresis():
    settings = ZoneSettings(
        mode=ZoneMode.HEAT_COOL, target_temperature_low=20.0, target_temperature_high=24.0
    )
    state = step_zone(ZoneLoopState(), settings, 25.0, 10, TUNING)
    assert state.direction is Direction.COOL and state.setpoint == 24.0 and state.calling
    # Inside the band the direction is kept and nothing is asked for.
    state = step_zone(state, settings, 22.0, 10, TUNING)
    assert state.direction is Direction.COOL and not state.calling
    # Heating only once the heating side would call: 20 − 0.4 − 0.1.
    state = step_zone(state, settings, 19.55, 10, TUNING)
    assert state.direction is Direction.COOL
    state = step_zone(state, settings, 19.5, 10, TUNING)
    assert state.direction is Direction.HEAT and state.setpoint == 20.0 and state.calling
    state = step_zone(state, settings, 24.45, 10, TUNING)
    assert state.direction is Direction.HEAT
    state = step_zone(state, settings, 24.5, 10, TUNING)
    assert state.direction is Direction.COOL


def test_dry_asks_for_a_fixed_cooling_share_down_to_the_dry_band():
    settings = ZoneSettings(mode=ZoneMode.DRY, target_temperature=22.0)
    state = step_zone(ZoneLoopState(), settings, 24.0, 10, TUNING)
    assert state.direction is Direction.COOL and state.calling
    assert state.demand == TUNING.dry_demand
    state = step_zone(state, settings, 21.1, 10, TUNING)
    assert state.calling
    state = step_zone(state, settings, 21.0, 10, TUNING)
    assert not state.calling and state.demand == 0


def test_preset_setpoints_replace_the_zone_setpoint():
    state = step_zone(ZoneLoopState(), HEAT_21, 19.0, 10, TUNING, setpoints=(19.0, 23.0))
    assert state.setpoint == 19.0 and state.error_k == pytest.approx(-0.4)


def test_boost_asks_for_everything_until_the_setpoint_and_holds_the_integral():
    state = run(HEAT_21, 20.5, 600)
    boosted = step_zone(state, HEAT_21, 20.9, 10, TUNING, boost=True)
    assert boosted.calling and boosted.demand == 1.0
    assert boosted.integral == state.integral
    at_setpoint = step_zone(boosted, HEAT_21, 21.0, 10, TUNING, boost=True)
    assert at_setpoint.demand < 1.0


def test_outdoor_feed_forward_biases_the_demand_with_the_lift():
    tuning = PiTuning(
        outdoor_feed_forward_per_k=0.01, kp=0.5, band_offset_k=0.4, call_k=0.1, filter_s=0.0
    )
    without = step_zone(ZoneLoopState(), HEAT_21, 20.4, 10, tuning)
    cold = step_zone(
        ZoneLoopState(), HEAT_21, 20.4, 10, tuning, shared=SharedConditions(outdoor_temperature=1.0)
    )
    mild = step_zone(
        ZoneLoopState(),
        HEAT_21,
        20.4,
        10,
        tuning,
        shared=SharedConditions(outdoor_temperature=11.0),
    )
    assert cold.demand == pytest.approx(without.demand + 0.2, abs=1e-3)
    assert mild.demand == pytest.approx(without.demand + 0.1, abs=1e-3)
    assert PiTuning().outdoor_feed_forward_per_k == 0.0  # off unless configured


def test_a_zone_short_of_its_aim_tracks_what_the_compressor_minimum_delivers():
    state = step_zone(ZoneLoopState(), HEAT_21, 20.45, 10, TUNING)
    assert state.demand < 0.2
    # The compressor's minimum gave twice what the zone asked for, yet the room is still
    # short: the integral climbs toward the delivered share, not at the slow PI pace.
    tracked = run(HEAT_21, 20.45, 600, state, shared=SharedConditions(delivery=2.0))
    plain = run(HEAT_21, 20.45, 600, state)
    assert tracked.demand > plain.demand + 0.05


def test_at_the_compressor_cap_asking_for_more_changes_nothing():
    state = run(HEAT_21, 20.0, 600)
    capped = run(HEAT_21, 20.0, 600, state, shared=SharedConditions(delivery=0.5))
    assert capped.integral == pytest.approx(state.integral)


def test_the_room_temperature_is_smoothed_before_the_loop_uses_it():
    tuning = PiTuning(filter_s=60.0)
    state = step_zone(ZoneLoopState(), HEAT_21, 20.5, 10.0, tuning)
    assert state.temperature == 20.5  # the first reading is taken as it is
    state = step_zone(state, HEAT_21, 20.4, 10.0, tuning)
    assert state.temperature == pytest.approx(20.5 - 0.1 * 10 / 70)
    for _ in range(60):
        state = step_zone(state, HEAT_21, 20.4, 10.0, tuning)
    assert state.temperature == pytest.approx(20.4, abs=1e-3)
