"""The compressor coordinator: arbitration, feed-forward, and interlocks under random input."""

from hypothesis import given, settings
from hypothesis import strategies as st

from controller.compressor import (
    CompressorState,
    CoordinatorTuning,
    UnitObservation,
    ZoneRequest,
    capacity_factor,
    step_compressor,
)
from controller.interlocks import CompressorHistory, check_command
from controller.zone import Direction

UNIT = UnitObservation(7000.0, 6500.0, 20.0, 90.0, 90.0, 7.0)
TUNING = CoordinatorTuning()


def request(zone: str, direction: Direction, demand: float) -> ZoneRequest:
    return ZoneRequest(zone, direction, demand, 2500.0)


def test_no_demand_keeps_the_compressor_off():
    state, out = step_compressor(CompressorState(), [], UNIT, 0.0, 10.0, TUNING)
    assert out.command.frequency_hz == 0 and not state.running


def test_heat_demand_starts_at_minimum_and_ramps_to_feed_forward():
    requests = [request("a", Direction.HEAT, 1.0), request("b", Direction.HEAT, 1.0)]
    state, out = step_compressor(CompressorState(), requests, UNIT, 0.0, 10.0, TUNING)
    assert out.command.mode == "heat" and out.command.frequency_hz == 20.0
    for i in range(1, 200):
        state, out = step_compressor(state, requests, UNIT, i * 10.0, 10.0, TUNING)
    # 5000 W needed of 7000 W at 60 Hz (at +7 °C) → about 43 Hz
    assert abs(out.command.frequency_hz - 60 * 5000 / 7000) < 0.2
    assert out.shares_pct == {"a": 100.0, "b": 100.0}


def test_small_demand_runs_at_minimum_frequency():
    requests = [request("a", Direction.HEAT, 0.05)]
    state, out = step_compressor(CompressorState(), requests, UNIT, 0.0, 10.0, TUNING)
    for i in range(1, 50):
        state, out = step_compressor(state, requests, UNIT, i * 10.0, 10.0, TUNING)
    assert out.command.frequency_hz == 20.0


def test_first_policy_keeps_running_direction_and_flags_conflict():
    state, out = step_compressor(
        CompressorState(), [request("a", Direction.HEAT, 0.5)], UNIT, 0.0, 10.0, TUNING
    )
    both = [request("a", Direction.HEAT, 0.5), request("b", Direction.COOL, 0.9)]
    state, out = step_compressor(state, both, UNIT, 10.0, 10.0, TUNING)
    assert out.command.mode == "heat"
    assert out.conflicts == frozenset({"b"})
    assert "b" not in out.shares_pct


def test_capacity_derates_in_the_cold():
    assert capacity_factor("heat", 7.0) == 1.0
    assert abs(capacity_factor("heat", -15.0) - 0.6) < 1e-9
    assert capacity_factor("cool", 45.0) < 1.0


zone_step = st.tuples(
    st.sampled_from([Direction.NONE, Direction.HEAT, Direction.COOL]),
    st.floats(0.0, 1.0),
)
tick = st.tuples(
    st.lists(zone_step, min_size=3, max_size=3),
    st.floats(1.0, 120.0),  # time step
    st.floats(20.0, 90.0),  # the unit's allowed max now
    st.one_of(st.none(), st.floats(-20.0, 40.0)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(tick, min_size=1, max_size=150))
def test_no_interlock_is_ever_violated(ticks):
    """Random demand/mode sequences: every command passes the independent safety check,
    the frequency is 0 or within [min, allowed max], and ramps are respected."""
    state, history, now = CompressorState(), CompressorHistory(), 0.0
    previous_hz = 0.0
    for zones, dt, allowed_max, outdoor in ticks:
        now += dt
        unit = UnitObservation(7000.0, 6500.0, 20.0, 90.0, allowed_max, outdoor)
        requests = [request(f"z{i}", d, x) for i, (d, x) in enumerate(zones)]
        state, out = step_compressor(state, requests, unit, now, dt, TUNING)
        history = check_command(history, out.command, now, TUNING.limits)  # raises on violation
        hz = out.command.frequency_hz
        assert hz == 0 or 20.0 <= hz <= max(allowed_max, 20.0) + 1e-9
        if hz and previous_hz:
            # ramp-limited, except when the unit's own cap drops under us
            assert hz <= previous_hz + TUNING.ramp_hz_per_s * dt + 0.1  # 0.1 Hz resolution
            assert hz >= min(previous_hz - TUNING.ramp_hz_per_s * dt, allowed_max) - 0.1
        assert set(out.shares_pct).isdisjoint(out.conflicts)
        previous_hz = hz
