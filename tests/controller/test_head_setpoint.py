"""The setpoint strategy for heads whose only levers are power, mode and setpoint."""

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from minisplit.controller.core.head_setpoint import (
    HeadLevers,
    HeadSetting,
    HeadZoneInput,
    SetpointStrategy,
    SetpointTuning,
)
from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.drivers.vocabulary import HeadMode

HEAT_21 = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0)
COOL_24 = ZoneSettings(mode=ZoneMode.COOL, target_temperature=24.0)
PERIOD_S = 10.0


def run(
    strategy: SetpointStrategy,
    zones: dict[str, tuple[ZoneSettings, float]],
    seconds: float,
    start: float = 0.0,
    remote: bool = True,
) -> dict[str, HeadSetting]:
    """Step ``strategy`` every 10 s for ``seconds`` with each zone's settings and room
    temperature held (given as the remote sensor's reading, or as the head's)."""
    out: dict[str, HeadSetting] = {}
    t = start
    while t < start + seconds:
        out = strategy.step(
            {
                name: HeadZoneInput(s, None if remote else room, room if remote else None)
                for name, (s, room) in zones.items()
            },
            t,
        )
        t += PERIOD_S
    return out


def test_the_written_setpoint_corrects_the_head_sensors_bias_in_heating():
    # The head's own sensor reads ~1.5 K warm while it heats: to hold the room at its aim
    # the head is given more than the target.
    out = run(SetpointStrategy(), {"a": (HEAT_21, 20.0)}, 60.0)["a"]
    assert out.power and out.mode is HeadMode.HEAT
    # 21 − 0.45 (aim) + 1.5 (bias) + 0.5 × 0.55 (P), to the unit's 0.5 K step
    assert out.setpoint == 22.5
    assert out.external_temperature is None


def test_with_an_external_register_the_room_temperature_is_written_and_no_bias_is_fed():
    tuning = SetpointTuning(levers=HeadLevers(external_temperature=True))
    out = run(SetpointStrategy(tuning), {"a": (HEAT_21, 20.5)}, 60.0)["a"]
    assert out.external_temperature == 20.5
    # The aim (20.55) + the lead that makes the head start at once (0.25) + 0.5 × 0.05 (P)
    assert out.setpoint == 21.0


def test_a_room_that_stays_cold_pushes_the_setpoint_up_to_the_units_range_and_no_further():
    strategy = SetpointStrategy()
    first = run(strategy, {"a": (HEAT_21, 19.0)}, 60.0)["a"]
    later = run(strategy, {"a": (HEAT_21, 19.0)}, 12 * 3600.0, start=60.0)["a"]
    assert later.setpoint > first.setpoint
    assert later.setpoint <= 31.0
    # Far beyond its range, the setpoint stops at the unit's maximum.
    pinned = SetpointStrategy(SetpointTuning(levers=HeadLevers(heat_range_c=(16.0, 23.0))))
    assert run(pinned, {"a": (HEAT_21, 15.0)}, 6 * 3600.0)["a"].setpoint == 23.0


def test_setpoints_come_in_the_units_steps_and_range():
    levers = HeadLevers(setpoint_step_c=1.0, cool_range_c=(18.0, 30.0))
    assert levers.setpoint(21.4, heating=True) == 21.0
    assert levers.setpoint(21.6, heating=True) == 22.0
    assert levers.setpoint(12.0, heating=False) == 18.0
    assert levers.setpoint(35.0, heating=False) == 30.0


def test_a_new_setpoint_is_written_no_sooner_than_the_write_interval():
    tuning = SetpointTuning(setpoint_write_interval_s=600.0, ti_s=60.0)
    strategy = SetpointStrategy(tuning)
    written = [run(strategy, {"a": (HEAT_21, 20.0)}, PERIOD_S)["a"].setpoint]
    times = [0.0]
    t = PERIOD_S
    while t < 3600.0:
        out = strategy.step({"a": HeadZoneInput(HEAT_21, None, 20.0)}, t)["a"]
        if out.setpoint != written[-1]:
            written.append(out.setpoint)
            times.append(t)
        t += PERIOD_S
    assert len(written) > 1  # the integral moved it
    assert all(b - a >= 600.0 for a, b in itertools.pairwise(times))


def test_a_new_target_is_written_at_once():
    strategy = SetpointStrategy()
    before = run(strategy, {"a": (HEAT_21, 20.7)}, 60.0)["a"].setpoint
    warmer = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=23.0)
    after = strategy.step({"a": HeadZoneInput(warmer, None, 20.7)}, 70.0)["a"].setpoint
    assert after >= before + 2.0


def test_the_homeowners_target_is_not_what_the_head_is_given_in_cooling():
    out = run(SetpointStrategy(), {"a": (COOL_24, 25.0)}, 60.0)["a"]
    assert out.mode is HeadMode.COOL
    # The head's sensor reads 0.5 K cool while it cools: its setpoint goes below the aim
    # (24.45 − 0.5 − 0.5 × 0.55).
    assert out.setpoint == 23.5


def test_a_room_past_its_target_switches_the_head_off_and_on_again_short_of_its_aim():
    strategy = SetpointStrategy(SetpointTuning(min_on_s=600.0, min_off_s=600.0))
    assert run(strategy, {"a": (HEAT_21, 20.5)}, 60.0)["a"].power
    # Warm, but within the minimum on time: it stays on.
    assert run(strategy, {"a": (HEAT_21, 21.6)}, 300.0, start=60.0)["a"].power
    assert not run(strategy, {"a": (HEAT_21, 21.6)}, 400.0, start=360.0)["a"].power
    # Cold again at once: it stays off for its minimum off time.
    assert not run(strategy, {"a": (HEAT_21, 20.0)}, 300.0, start=760.0)["a"].power
    assert run(strategy, {"a": (HEAT_21, 20.0)}, 400.0, start=1060.0)["a"].power


def test_the_homeowners_off_switches_the_head_off_at_once():
    strategy = SetpointStrategy()
    assert run(strategy, {"a": (HEAT_21, 20.5)}, 20.0)["a"].power
    off = ZoneSettings(mode=ZoneMode.OFF, target_temperature=21.0)
    assert not strategy.step({"a": HeadZoneInput(off, None, 20.5)}, 20.0)["a"].power


def test_heads_of_one_outdoor_unit_heat_or_cool_never_both():
    strategy = SetpointStrategy(SetpointTuning(min_on_s=0.0, min_off_s=0.0))
    out = run(strategy, {"north": (HEAT_21, 19.5), "south": (COOL_24, 25.5)}, 60.0)
    north, south = out["north"], out["south"]
    assert north.power and north.mode is HeadMode.HEAT and not north.mode_conflict
    # The first call holds the unit: the cooling room stands by and says why.
    assert south.mode_conflict and not (south.power and south.mode is HeadMode.COOL)
    # Once the heating room is content, the cooling one gets the unit.
    out = run(strategy, {"north": (HEAT_21, 21.7), "south": (COOL_24, 25.5)}, 120.0, start=60.0)
    assert not out["north"].power or out["north"].mode is not HeadMode.HEAT
    assert out["south"].power and out["south"].mode is HeadMode.COOL


def test_the_unit_is_not_turned_round_while_a_heads_call_is_young():
    """Heads read by their own sensors (no remote): the heating head's thermostat calls from
    the first tick. When its room is content 60 s later and another room calls for cooling,
    the unit keeps heating, and the content head stays on, until the call is `call_hold_s`
    old: switching it off or standing it by sooner could end the compressor run its call
    started before the run's minimum."""
    strategy = SetpointStrategy(SetpointTuning(min_on_s=0.0, min_off_s=0.0))
    wait = strategy.tuning.call_hold_s
    run(strategy, {"north": (HEAT_21, 19.5), "south": (COOL_24, 23.0)}, 60.0, remote=False)
    turned = None
    for t in range(60, int(wait) + 120, 10):
        out = run(
            strategy, {"north": (HEAT_21, 21.7), "south": (COOL_24, 25.5)}, 10.0, t, remote=False
        )
        if out["south"].power and out["south"].mode is HeadMode.COOL:
            turned = t
            break
    assert turned is not None and turned >= wait


def test_a_heat_cool_room_turns_round_only_past_the_other_setpoints_band():
    strategy = SetpointStrategy()
    s = ZoneSettings(
        mode=ZoneMode.HEAT_COOL, target_temperature_low=20.0, target_temperature_high=24.0
    )
    assert run(strategy, {"a": (s, 19.0)}, 60.0)["a"].mode is HeadMode.HEAT
    assert run(strategy, {"a": (s, 24.3)}, 60.0, start=60.0)["a"].mode is HeadMode.HEAT
    assert run(strategy, {"a": (s, 24.7)}, 1200.0, start=120.0)["a"].mode is HeadMode.COOL


def test_the_head_reading_has_its_estimated_bias_taken_off_while_the_head_heats():
    # No remote sensor: the loop follows the head's thermostat (setpoint well above the
    # reading: thermo-on) and takes the bias it builds up off the reading.
    strategy = SetpointStrategy()
    out = run(strategy, {"a": (HEAT_21, 20.4)}, 1800.0, remote=False)["a"]
    assert out.power
    assert out.temperature is not None and out.temperature < 19.1


ZONE_MODES = st.sampled_from([ZoneMode.HEAT, ZoneMode.COOL, ZoneMode.HEAT_COOL, ZoneMode.OFF])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=10.0, max_value=600.0),  # seconds to the next step
            ZONE_MODES,
            st.floats(min_value=15.0, max_value=30.0),  # the room
            st.floats(min_value=17.0, max_value=26.0),  # the target
            st.booleans(),  # remote sensor or head reading
        ),
        min_size=2,
        max_size=120,
    ),
    st.floats(min_value=60.0, max_value=1800.0),
    st.floats(min_value=60.0, max_value=1800.0),
)
def test_no_head_cycle_is_shorter_than_its_minimum(steps, min_on_s, min_off_s):
    """Over any sequence of rooms and settings, a head is never switched on less than
    `min_off_s` after it went off, and never switched off by the strategy less than `min_on_s`
    after it came on (the homeowner's off is obeyed at once)."""
    strategy = SetpointStrategy(SetpointTuning(min_on_s=min_on_s, min_off_s=min_off_s))
    t = 0.0
    powered = False
    since = -1e9
    for gap, mode, room, target, remote in steps:
        s = ZoneSettings(
            mode=mode,
            target_temperature=target,
            target_temperature_low=target - 2.0,
            target_temperature_high=target + 2.0,
        )
        reading = HeadZoneInput(s, None if remote else room, room if remote else None)
        out = strategy.step({"a": reading, "b": HeadZoneInput(HEAT_21, room)}, t)["a"]
        if out.power != powered:
            if out.power:
                assert t - since >= min_off_s
            elif mode is not ZoneMode.OFF:
                assert t - since >= min_on_s
            powered, since = out.power, t
        t += gap


def test_a_room_that_floats_warm_while_the_head_idles_does_not_wind_the_setpoint_down():
    # 20.9 °C: above the aim (20.55), not yet past the target by the off margin, so the head
    # stays on. While its thermostat works, the offset comes down; while it is satisfied
    # (the room is warm on its own: sun, gains) there is nothing a lower setpoint would change.
    def after(thermo_on: bool) -> float:
        strategy = SetpointStrategy()
        out = strategy.step({"a": HeadZoneInput(HEAT_21, None, 20.0)}, 0.0)["a"]  # on
        for step in range(1, int(8 * 3600 / PERIOD_S)):
            given = HeadZoneInput(HEAT_21, None, 20.9, thermo_on=thermo_on)
            out = strategy.step({"a": given}, step * PERIOD_S)["a"]
        assert out is not None and out.power
        return out.setpoint

    assert after(thermo_on=True) < after(thermo_on=False)


def test_a_head_that_is_off_gets_no_new_trims():
    strategy = SetpointStrategy(SetpointTuning(min_on_s=0.0, ti_s=600.0))
    on = run(strategy, {"a": (HEAT_21, 20.0)}, 60.0)["a"]
    assert on.power
    # Past the target: off, and however long the room stays warm its setpoint stays put.
    off = run(strategy, {"a": (HEAT_21, 21.3)}, 6 * 3600.0, start=60.0)["a"]
    assert not off.power
    assert off.setpoint == on.setpoint


def _warm_up(strategy: SetpointStrategy) -> HeadSetting:
    """Half an hour of a room at 20.4 °C whose head, switched on, blows warm: its sensor's
    reading rises to 1.5 K above the room with a 5-minute time constant."""
    rising = [round(21.9 - 1.5 * math.exp(-k * PERIOD_S / 300.0), 1) for k in range(180)]
    return _heat_on_head_readings(strategy, rising)[-1]


# Ten minutes of the reading of a head whose fan stopped, falling from 1.5 K above a room at
# 20.4 °C toward the room's with the sensor's 5-minute time constant.
FAN_STOPS = [round(20.4 + 1.5 * math.exp(-k * PERIOD_S / 300.0), 1) for k in range(1, 61)]


def _heat_on_head_readings(
    strategy: SetpointStrategy, readings: list[float], start: float = 0.0
) -> list[HeadSetting]:
    """Step ``strategy`` every 10 s on the head's readings (a head that reports thermo-on)."""
    return [
        strategy.step({"a": HeadZoneInput(HEAT_21, r, thermo_on=True)}, start + i * PERIOD_S)["a"]
        for i, r in enumerate(readings)
    ]


def test_a_defrost_that_stops_the_heads_fan_is_not_taken_for_a_cold_room():
    # The room holds 20.4 °C; the head's sensor reads 1.5 K warm while it blows, and its fan
    # stops for a defrost: the reading falls toward the room's with the same 5-minute time
    # constant, and comes back as the fan blows again.
    strategy = SetpointStrategy()
    steady = _warm_up(strategy)
    assert steady.power
    assert steady.temperature is not None and abs(steady.temperature - 20.4) < 0.1
    during = _heat_on_head_readings(strategy, FAN_STOPS, start=1800.0)
    # The loop does not read the 1.5 K fall as the room cooling by more than a little ...
    assert all(out.temperature is not None and out.temperature > 19.9 for out in during)
    # ... nor chase it with a higher setpoint: the head is given 1 K less at once, so that its
    # own thermostat does not wind up on the fall and race the compressor once the heat is back.
    assert max(out.setpoint for out in during) == steady.setpoint
    assert during[-1].setpoint == steady.setpoint - 1.0
    back = [round(21.9 - 1.5 * math.exp(-k * PERIOD_S / 300.0), 1) for k in range(1, 91)]
    after = _heat_on_head_readings(strategy, back, start=2400.0)
    assert after[-1].setpoint == steady.setpoint
    assert after[-1].temperature is not None and abs(after[-1].temperature - 20.4) < 0.2


def test_a_room_that_cools_as_fast_as_rooms_do_is_followed_as_it_is():
    # A reading that falls 0.4 K in 10 minutes is the room cooling: the loop reads it so.
    strategy = SetpointStrategy()
    assert _warm_up(strategy).power
    cooling = [round(21.9 - 0.4 * k / 60, 1) for k in range(1, 61)]
    out = _heat_on_head_readings(strategy, cooling, start=1800.0)[-1]
    assert out.temperature is not None and out.temperature < 20.1


def test_a_reading_that_stays_down_is_taken_for_the_room_again_after_the_longest_defrost():
    # The reading falls as in a defrost but does not come back (a window opened under the
    # head, say): after `defrost_max_s` the loop follows the head's thermostat as before, the
    # bias builds up again in its estimate, and the head is given its full setpoint.
    tuning = SetpointTuning(defrost_max_s=1200.0)
    strategy = SetpointStrategy(tuning)
    steady = _warm_up(strategy)
    during = _heat_on_head_readings(strategy, FAN_STOPS, start=1800.0)[-1]
    assert during.setpoint < steady.setpoint
    later = _heat_on_head_readings(strategy, [20.4] * 180, start=2400.0)[-1]
    assert later.setpoint >= steady.setpoint
    assert later.temperature is not None and later.temperature < 19.5


def test_with_an_external_register_a_defrost_does_not_lower_the_room_temperature_written():
    strategy = SetpointStrategy(SetpointTuning(levers=HeadLevers(external_temperature=True)))
    steady = _warm_up(strategy)
    during = _heat_on_head_readings(strategy, FAN_STOPS, start=1800.0)
    assert all(o.external_temperature is not None for o in during)
    assert min(o.external_temperature or 0.0 for o in during) >= 19.9
    # The head regulates on that temperature, not on its sensor: its setpoint stays.
    assert all(o.setpoint == steady.setpoint for o in during)
