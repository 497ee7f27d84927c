"""The compressor coordinator: feed-forward and trim, interlocks, low-load cycling, caps."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minisplit.controller.core.arbitration import ModePolicy
from minisplit.controller.core.capacity import capacity_factor, demand_limit_cap_hz
from minisplit.controller.core.compressor import (
    CompressorState,
    CoordinatorTuning,
    UnitInput,
    UnitObservation,
    ZoneRequest,
    frequency_cap_hz,
    odu_command,
    step_compressor,
)
from minisplit.controller.core.interlocks import CompressorHistory, check_command
from minisplit.controller.core.settings import UnitSettings
from minisplit.controller.core.zone import Direction
from minisplit.drivers.records import OduCommand
from minisplit.drivers.vocabulary import OduMode

HEAT, COOL, NONE = Direction.HEAT, Direction.COOL, Direction.OFF
OBSERVATION = UnitObservation(7000.0, 6500.0, 20.0, 90.0, 90.0, 7.0)
TUNING = CoordinatorTuning()


def unit_input(
    observation=OBSERVATION, available=True, defrost=False, quiet=False, demand_limit_pct=100
):
    """The unit as the coordinator sees it this tick."""
    return UnitInput(observation, available, defrost, UnitSettings(quiet, demand_limit_pct))


UNIT = unit_input()


def request(zone, direction, demand, calling=True, error=0.0):
    return ZoneRequest(zone, direction, demand, 2500.0, calling, error)


def run(requests, seconds, state=None, start=0.0, dt=10.0, unit=UNIT, tuning=TUNING):
    """Tick every ``dt`` from ``start`` for ``seconds``; return the last state, output, time."""
    state = state or CompressorState()
    now, out = start, None
    for i in range(int(seconds // dt) + 1):
        now = start + i * dt
        state, out = step_compressor(state, requests, unit, now, dt, tuning)
    return state, out, now


def test_no_demand_keeps_the_compressor_off():
    state, out = step_compressor(CompressorState(), [], UNIT, 0.0, 10.0, TUNING)
    assert out.command.frequency_hz == 0 and not state.running


def test_heat_demand_starts_at_minimum_and_ramps_to_feed_forward():
    requests = [request("a", HEAT, 1.0), request("b", HEAT, 1.0)]
    state, out = step_compressor(CompressorState(), requests, UNIT, 0.0, 10.0, TUNING)
    assert out.command.mode == "heat" and out.command.frequency_hz == 20.0
    state, out, _ = run(requests, 2000, state, start=10.0)
    # 5000 W asked of 7000 W at 60 Hz (at +7 °C) → about 43 Hz
    assert out.command.frequency_hz == pytest.approx(60 * 5000 / 7000, abs=0.2)
    assert out.shares_pct == {"a": 100.0, "b": 100.0}
    assert state.delivery == pytest.approx(1.0, abs=0.01)


def test_the_ramp_limits_each_step():
    requests = [request("a", HEAT, 1.0), request("b", HEAT, 1.0)]
    state, out = step_compressor(CompressorState(), requests, UNIT, 0.0, 10.0, TUNING)
    state, out = step_compressor(state, requests, UNIT, 10.0, 10.0, TUNING)
    assert out.command.frequency_hz == 25.0  # 0.5 Hz/s × 10 s


def test_small_demand_runs_at_minimum_and_reports_the_oversupply():
    state, out, _ = run([request("a", HEAT, 0.05)], 500)
    assert out.command.frequency_hz == 20.0
    # 20 Hz gives 2333 W where 125 W was asked for.
    assert state.delivery == pytest.approx(2333.3 / 125, rel=0.01)


def test_shares_follow_demand_with_a_floor_for_calling_zones():
    requests = [request("a", HEAT, 0.42), request("b", HEAT, 0.0), request("c", COOL, 0.3)]
    _, out = step_compressor(CompressorState(), requests, UNIT, 0.0, 10.0, TUNING)
    assert out.shares_pct == {"a": 42.0, "b": 1.0}
    assert out.conflicts == frozenset({"c"})


def test_a_demand_beyond_a_heads_rating_scales_the_shares_and_raises_the_frequency():
    recovering = [request("a", HEAT, 1.4), request("b", HEAT, 0.7)]
    _, out, _ = run(recovering, 300)
    # The register holds at most 100 %: the shares keep the demands' proportion.
    assert out.shares_pct == {"a": 100.0, "b": 50.0}
    within = [request("a", HEAT, 1.0), request("b", HEAT, 0.5)]
    _, plain, _ = run(within, 300)
    assert out.command.frequency_hz > plain.command.frequency_hz


def test_low_load_grows_while_cycles_end_satisfied_and_fades_while_running_on():
    tuning = CoordinatorTuning(low_load_tau_s=600.0)
    calling = [request("a", HEAT, 0.1)]
    satisfied = [request("a", HEAT, 0.0, calling=False)]
    state, now = CompressorState(), 0.0
    for _ in range(6):  # low-load cycles: run the minimum on time, then every zone satisfied
        state, _, now = run(calling, 180, state, start=now, tuning=tuning)
        state, _, now = run(satisfied, 1000, state, start=now + 10, tuning=tuning)
    assert state.cycled and state.low_load > 0.9
    held = state.low_load
    # A run shorter than a low-load cycle does not lower it; a long one is not low load.
    state, _, now = run([request("a", HEAT, 0.8)], 600, state, start=now + 10, tuning=tuning)
    assert state.running and state.low_load >= held
    state, _, now = run([request("a", HEAT, 0.8)], 7200, state, start=now + 10, tuning=tuning)
    assert state.low_load < 0.1


def test_a_lone_small_head_gets_company_so_the_coils_take_the_minimum_output():
    # 20 Hz at +7 °C gives 2333 W; a 1500 W head alone cannot take it.
    small = [
        ZoneRequest("small", HEAT, 0.3, 1500.0, True, 0.1),
        ZoneRequest("near", HEAT, 0.0, 1500.0, False, 0.05),
        ZoneRequest("far", HEAT, 0.0, 1500.0, False, -0.1),
        ZoneRequest("cooling", COOL, 0.0, 2500.0, False, 0.0),
    ]
    _, out = step_compressor(CompressorState(), small, UNIT, 0.0, 10.0, TUNING)
    assert out.shares_pct == {"small": 30.0, "near": TUNING.hold_share_pct}


def test_a_low_load_cycle_ends_when_every_zone_is_satisfied_after_the_minimum_on_time():
    calling = [request("a", HEAT, 0.1), request("b", HEAT, 0.1)]
    satisfied = [request("a", HEAT, 0.0, calling=False), request("b", HEAT, 0.0, False)]
    state, out, now = run(calling, 60)
    # Satisfied after 70 s: held on (little refrigerant to every head) until 180 s.
    state, out, now = run(satisfied, 100, state, start=now + 10)
    assert state.running and out.command.frequency_hz == 20.0
    assert out.shares_pct == {"a": 10.0, "b": 10.0}
    state, out = step_compressor(state, satisfied, UNIT, 180.0, 10.0, TUNING)
    assert not state.running and out.command.frequency_hz == 0 and not out.forced_stop
    assert state.cycled and state.stopped_at == 180.0


def test_minimum_off_time_before_a_restart():
    calling = [request("a", HEAT, 0.3)]
    state = CompressorState(mode=OduMode.HEAT, running=False, stopped_at=1000.0, started_at=0.0)
    _, out = step_compressor(state, calling, UNIT, 1179.0, 10.0, TUNING)
    assert out.command.frequency_hz == 0
    state, out = step_compressor(state, calling, UNIT, 1180.0, 10.0, TUNING)
    assert out.command.frequency_hz == 20.0 and state.started_at == 1180.0


def test_heat_to_cool_goes_through_stop_and_wait():
    limits = TUNING.limits.__class__(mode_change_wait_s=300.0)
    tuning = CoordinatorTuning(limits=limits)
    state, out, now = run([request("a", HEAT, 0.5)], 600, tuning=tuning)
    assert out.command.mode == "heat"
    cool = [request("a", COOL, 0.5)]
    state, out = step_compressor(state, cool, UNIT, now + 10, 10.0, tuning)
    assert not state.running and out.command.mode == "heat" and out.command.frequency_hz == 0
    stopped = now + 10
    state, out, _ = run(cool, 280, state, start=stopped + 10, tuning=tuning)
    assert out.command.frequency_hz == 0  # 290 s after the stop: still waiting
    state, out = step_compressor(state, cool, UNIT, stopped + 300, 10.0, tuning)
    assert out.command.mode == "cool" and out.command.frequency_hz == 20.0


def test_first_policy_keeps_running_direction_and_flags_conflict():
    state, out = step_compressor(
        CompressorState(), [request("a", HEAT, 0.5)], UNIT, 0.0, 10.0, TUNING
    )
    both = [request("a", HEAT, 0.5), request("b", COOL, 0.9)]
    state, out = step_compressor(state, both, UNIT, 10.0, 10.0, TUNING)
    assert out.command.mode == "heat"
    assert out.conflicts == frozenset({"b"})
    assert "b" not in out.shares_pct


def test_demand_policy_switches_to_the_larger_demand_after_the_hold():
    tuning = CoordinatorTuning(mode_policy=ModePolicy.DEMAND, mode_hold_s=1200.0)
    state, _, _ = run([request("a", HEAT, 0.3)], 600, tuning=tuning)
    both = [request("a", HEAT, 0.3), request("b", COOL, 0.9), request("c", COOL, 0.9)]
    state, out = step_compressor(state, both, UNIT, 1000.0, 10.0, tuning)
    assert out.command.mode == "heat" and state.arbitrated is HEAT
    state, out = step_compressor(state, both, UNIT, 1200.0, 10.0, tuning)
    assert state.arbitrated is COOL and not state.running  # stops to change over
    assert out.conflicts == frozenset({"a"})  # now the heating zone waits


def test_priority_policy_serves_the_priority_zone_first():
    tuning = CoordinatorTuning(mode_policy=ModePolicy.PRIORITY, priority_zone="b")
    state, _, _ = run([request("a", HEAT, 0.9)], 600, tuning=tuning)
    both = [request("a", HEAT, 0.9), request("b", COOL, 0.1)]
    state, _ = step_compressor(state, both, UNIT, 700.0, 10.0, tuning, priority=COOL)
    assert state.arbitrated is COOL and not state.running


def test_at_most_three_starts_in_any_sixty_minutes():
    calling = [request("a", HEAT, 0.1)]
    idle = [request("a", HEAT, 0.0, calling=False)]
    state, starts, now = CompressorState(), [], 1800.0  # half past: no calendar alignment
    while now < 4 * 3600:
        wanted = calling if (now // 400) % 2 == 0 else idle  # a call every 800 s
        before = state.running
        state, _ = step_compressor(state, wanted, UNIT, now, 10.0, TUNING)
        if state.running and not before:
            starts.append(now)
        now += 10.0
    assert all(later - earlier >= 3600 for earlier, later in zip(starts, starts[3:], strict=False))
    # The calls at 4000 s and 4800 s come within 60 minutes of the first start (1800 s) and
    # wait; the one at 5600 s does not (an hour-of-the-clock budget would have served 4000 s).
    assert starts[:4] == [1800.0, 2400.0, 3200.0, 5600.0]


def test_short_cycles_stretch_the_satisfied_side_and_long_ones_relax_it():
    state = CompressorState(mode=OduMode.HEAT, started_at=0.0, stopped_at=400.0, cycled=True)
    state, _ = step_compressor(state, [request("a", HEAT, 0.1)], UNIT, 750.0, 10.0, TUNING)
    assert state.stretch == pytest.approx(2.0)  # a 750 s cycle against a 1500 s target
    long_cycle = state._replace(running=False, stopped_at=2000.0, cycled=True)
    state, _ = step_compressor(long_cycle, [request("a", HEAT, 0.1)], UNIT, 4000.0, 10.0, TUNING)
    assert state.stretch == pytest.approx(1.0)
    assert TUNING.max_stretch >= 2.0


def test_quiet_and_demand_limit_cap_the_frequency():
    assert frequency_cap_hz(OBSERVATION, TUNING, False, 100) == 90.0
    assert frequency_cap_hz(OBSERVATION, TUNING, True, 100) == 50.0
    assert frequency_cap_hz(OBSERVATION, TUNING, False, 50) == pytest.approx(60 * 0.5 ** (1 / 1.5))
    requests = [request(z, HEAT, 1.0) for z in "abcd"]
    _, out, _ = run(requests, 1200, unit=unit_input(quiet=True))
    assert out.command.frequency_hz == 50.0 and out.command.quiet
    _, out, _ = run(requests, 1200, unit=unit_input(quiet=True, demand_limit_pct=70))
    assert out.command.frequency_hz == pytest.approx(60 * 0.7 ** (1 / 1.5), abs=0.1)
    assert out.command.demand_limit_pct == 70


def test_unit_cap_below_minimum_or_unavailable_unit_stops_at_once():
    requests = [request("a", HEAT, 1.0)]
    state, out, now = run(requests, 60)
    low = unit_input(UnitObservation(7000.0, 6500.0, 20.0, 90.0, 15.0, 7.0))
    stopped, out = step_compressor(state, requests, low, now + 10, 10.0, TUNING)
    assert out.command.frequency_hz == 0 and out.forced_stop and not stopped.running
    stopped, out = step_compressor(
        state, requests, unit_input(available=False), now + 10, 10.0, TUNING
    )
    assert out.forced_stop and not stopped.running
    assert demand_limit_cap_hz(15) < 20.0  # such a demand limit leaves nothing to run


def test_no_head_left_in_the_running_direction_stops():
    state, out, now = run([request("a", HEAT, 1.0)], 60)
    state, out = step_compressor(
        state, [request("a", NONE, 0.0, False)], UNIT, now + 10, 10, TUNING
    )
    assert not state.running and out.forced_stop


def test_defrost_holds_the_compressor_as_it_is():
    requests = [request("a", HEAT, 0.6), request("b", HEAT, 0.6)]
    state, out, now = run(requests, 600)
    held = out.command.frequency_hz
    satisfied = [request("a", HEAT, 0.0, False), request("b", HEAT, 0.0, False)]
    state, out, now = run(satisfied, 600, state, start=now + 10, unit=unit_input(defrost=True))
    assert state.running and out.command.frequency_hz == held


def test_trim_learns_while_modulating_and_stays_bounded():
    short = [request(z, HEAT, 0.6, error=0.5) for z in "ab"]
    state, _, _ = run(short, 4 * 3600)
    assert state.trim < 1.0
    assert state.trim >= 1.0 - TUNING.trim_limit
    low = [request(z, HEAT, 0.05, error=0.5) for z in "ab"]  # at the minimum: no learning
    state2, _, _ = run(low, 3600)
    assert state2.trim == 1.0


def test_capacity_derates_in_the_cold():
    assert capacity_factor(OduMode.HEAT, 7.0) == 1.0
    assert capacity_factor(OduMode.HEAT, -15.0) == pytest.approx(0.6)
    assert capacity_factor(OduMode.HEAT, 20.0) <= 1.15
    assert capacity_factor(OduMode.COOL, 45.0) < 1.0
    assert capacity_factor(OduMode.HEAT, None) == 1.0


zone_step = st.tuples(
    st.sampled_from([NONE, HEAT, COOL]),
    st.floats(0.0, 1.0),
    st.booleans(),  # calling
)
tick = st.tuples(
    st.lists(zone_step, min_size=3, max_size=3),
    st.floats(1.0, 120.0),  # time step
    st.floats(0.0, 90.0),  # the unit's allowed max now
    st.one_of(st.none(), st.floats(-20.0, 40.0)),
    st.booleans(),  # quiet
    st.integers(0, 100),  # demand limit
    st.booleans(),  # unit available
    st.booleans(),  # defrost
)


@settings(max_examples=300, deadline=None)
@given(st.floats(0.0, 1e7), st.lists(tick, min_size=1, max_size=150))
def test_no_interlock_is_ever_violated(start, ticks):
    """Random demand/mode/fault sequences. Every command passes the independent safety check
    (with the coordinator's forced-stop flag); the frequency is 0 or within [min, cap];
    ramps are respected (cap drops aside); at most 3 starts in any 60 minutes."""
    state, history, now = CompressorState(), CompressorHistory(), start
    previous_hz = 0.0
    starts: list[float] = []
    for zones, dt, allowed_max, outdoor, quiet, limit, available, defrost in ticks:
        now += dt
        observation = UnitObservation(7000.0, 6500.0, 20.0, 90.0, allowed_max, outdoor)
        unit = unit_input(observation, available, defrost, quiet, limit)
        requests = [request(f"z{i}", d, x, c) for i, (d, x, c) in enumerate(zones)]
        state, out = step_compressor(state, requests, unit, now, dt, TUNING)
        history = check_command(
            history, out.command, now, TUNING.limits, forced_stop=out.forced_stop
        )
        hz = out.command.frequency_hz
        cap = frequency_cap_hz(observation, TUNING, quiet, limit)
        assert hz == 0 or 20.0 <= hz <= cap + 1e-9
        if hz and previous_hz:
            assert hz <= previous_hz + TUNING.ramp_hz_per_s * dt + 1e-9
            assert hz >= min(previous_hz - TUNING.ramp_hz_per_s * dt, cap) - 0.1
        if hz and not previous_hz:
            starts.append(now)
            assert hz == 20.0  # a start begins at the minimum
        assert set(out.shares_pct).isdisjoint(out.conflicts)
        previous_hz = hz
    most = TUNING.max_starts_per_hour
    assert all(
        later - earlier >= 3600 for earlier, later in zip(starts, starts[most:], strict=False)
    )


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["off", "heat", "cool"]),
    st.sampled_from([0.0, 20.0]),  # frequency
    st.sampled_from([1.0, 1.3]),  # delivery
    st.floats(0.0, 1.0),  # low_load
    st.booleans(),  # cycled
    st.sampled_from([NONE, HEAT, COOL]),  # arbitrated
    st.lists(st.tuples(st.sampled_from([HEAT, COOL]), st.booleans()), max_size=3),
)
def test_a_compressor_that_stays_off_has_the_state_building_it_afresh_gives(
    mode, frequency, delivery, low_load, cycled, arbitrated, calls
):
    """Staying off reuses last tick's state when nothing in it moves; whichever way, the
    state must be the one built field by field."""
    requests = [request(f"z{i}", d, 0.5, calling) for i, (d, calling) in enumerate(calls)]
    state = CompressorState(
        mode,
        False,
        frequency,
        0.0,
        5.0,
        arbitrated,
        5.0,
        (0.0,),
        1.1,
        1.5,
        cycled,
        delivery,
        low_load,
    )
    for now in (10.0, 20.0, 30.0):  # inside the minimum off time: it cannot start
        new, out = step_compressor(state, requests, UNIT, now, 10.0, TUNING)
        built = CompressorState(
            mode,
            False,
            0.0,
            state.started_at,
            state.stopped_at,
            new.arbitrated,
            new.arbitrated_since,
            state.recent_starts,
            state.trim,
            state.stretch,
            state.cycled,
            1.0,
            new.low_load,
        )
        assert new == built and [type(v) for v in new] == [type(v) for v in built]
        assert out.command == OduCommand(mode, 0.0) and out.active is NONE
        state = new


def test_equal_commands_are_one_value_and_20_hz_is_not_20_0():
    assert odu_command(OduMode.HEAT, 42.5, False, 100) is odu_command(
        OduMode.HEAT, 42.5, False, 100
    )
    assert odu_command(OduMode.HEAT, 42.5, True, 100) == OduCommand(OduMode.HEAT, 42.5, True, 100)
    assert repr(odu_command(OduMode.HEAT, 20, False, 100)) == repr(
        OduCommand(OduMode.HEAT, 20, False, 100)
    )
    assert repr(odu_command("heat", 20.0, False, 100)).count("20.0") == 1
