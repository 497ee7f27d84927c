"""Frost anticipation: the run-time count toward the next defrost, and the lift ahead of it."""

from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.core.compressor import UnitInput
from minisplit.controller.core.control import ControlState, ControlTuning, control_step
from minisplit.controller.core.frost import (
    IDLE_FROST,
    FrostState,
    FrostTuning,
    defrost_lift_k,
    resumed_frost,
    step_frost,
)
from minisplit.controller.core.settings import ZoneMode
from tests.controller.test_control import OBSERVATION, zone

TUNING = FrostTuning(lift_k=0.4, lead_s=1200.0, ramp_share=0.5)
STEP_S = 10.0


def run(state: FrostState, seconds: float, coil_below_freezing: bool | None = True) -> FrostState:
    for _ in range(round(seconds / STEP_S)):
        state = step_frost(state, STEP_S, True, False, coil_below_freezing, -2.0, TUNING)
    return state


def defrost(state: FrostState) -> FrostState:
    state = step_frost(state, STEP_S, False, True, True, -2.0, TUNING)
    return step_frost(state, STEP_S, False, True, True, -2.0, TUNING)  # still defrosting


def test_no_lift_until_an_interval_between_two_defrosts_was_seen():
    state = run(IDLE_FROST, 7200.0)
    assert defrost_lift_k(state, TUNING) == 0.0
    state = defrost(state)  # the first count did not start at a defrost: nothing learned
    assert state.interval_s is None and state.run_s == 0.0
    state = run(state, 6000.0)
    assert defrost_lift_k(state, TUNING) == 0.0
    state = defrost(state)
    assert state.interval_s == 6000.0


def test_the_lift_ramps_up_over_the_lead_and_ends_with_the_defrost():
    state = run(defrost(run(defrost(IDLE_FROST), 6000.0)), 4700.0)
    assert defrost_lift_k(state, TUNING) == 0.0  # 6000 − 1200 s lead not reached yet
    state = run(state, 400.0)  # 300 s into the lead, half its 600 s ramp
    assert abs(defrost_lift_k(state, TUNING) - 0.2) < 1e-9
    state = run(state, 900.0)
    assert defrost_lift_k(state, TUNING) == 0.4
    state = defrost(state)
    assert defrost_lift_k(state, TUNING) == 0.0 and state.defrosting
    assert state.interval_s == 6000.0  # 6000 learned, 6000 seen again


def test_after_a_restart_the_learned_interval_lifts_ahead_of_the_next_defrost():
    """Counting from the restart, the lift comes when the run since then reaches the lead: a
    defrost due earlier (the coil iced before the restart) comes before it, never after."""
    state = run(resumed_frost(6000.0), 5100.0)  # 300 s into the 1200 s lead
    assert abs(defrost_lift_k(state, TUNING) - 0.2) < 1e-9
    assert defrost_lift_k(run(IDLE_FROST, 5100.0), TUNING) == 0.0  # what a restart lost
    # The count did not start at a defrost: the first one teaches nothing, the next ones do.
    state = defrost(state)
    assert state.interval_s == 6000.0
    state = defrost(run(state, 5000.0))
    assert state.interval_s == 5500.0


def test_a_long_overdue_defrost_stops_the_lift():
    state = run(defrost(run(defrost(IDLE_FROST), 6000.0)), 6000.0)
    assert defrost_lift_k(state, TUNING) == 0.4
    state = run(state, 0.35 * 6000.0)
    assert defrost_lift_k(state, TUNING) == 0.0


def test_each_interval_moves_the_learned_one_halfway_within_half_of_it():
    state = defrost(run(defrost(IDLE_FROST), 6000.0))
    state = defrost(run(state, 5000.0))
    assert state.interval_s == 5500.0
    state = defrost(run(state, 60000.0))  # a mild idle day: taken as 1.5 × 5500
    assert state.interval_s == 5500.0 + (8250.0 - 5500.0) / 2


def test_a_coil_above_freezing_adds_no_frost_and_melts_the_count():
    state = run(defrost(IDLE_FROST), 3000.0)
    warm = run(state, 3600.0, coil_below_freezing=False)
    assert 0.0 < warm.run_s < state.run_s / 2 + 1.0  # about e^-1 of it after an hour


def test_without_a_coil_reading_the_outdoor_temperature_decides():
    state = defrost(IDLE_FROST)
    cold = step_frost(state, 60.0, True, False, None, 2.0, TUNING)
    mild = step_frost(state, 60.0, True, False, None, 9.0, TUNING)
    assert cold.run_s == 60.0 and mild.run_s == 0.0


def test_no_lift_at_low_load_and_less_on_the_way():
    state = run(defrost(run(defrost(IDLE_FROST), 6000.0)), 6000.0)
    half = TUNING.max_low_load / 2
    assert defrost_lift_k(state, TUNING, half) == TUNING.lift_k / 2
    assert defrost_lift_k(state, TUNING, TUNING.max_low_load) == 0.0


@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.booleans(),
            st.one_of(st.none(), st.booleans()),
            st.floats(-20, 20),
            st.floats(0, 1),
        ),
        max_size=300,
    )
)
def test_the_lift_stays_within_its_bounds_and_is_zero_while_defrosting(sequence):
    state = IDLE_FROST
    for heating, is_defrost, coil, outdoor, low_load in sequence:
        state = step_frost(state, 60.0, heating, is_defrost, coil, outdoor, TUNING)
        lift = defrost_lift_k(state, TUNING, low_load)
        assert 0.0 <= lift <= TUNING.lift_k
        assert state.run_s >= 0.0
        if is_defrost:
            assert lift == 0.0 and state.run_s == 0.0


def test_a_lift_raises_the_heating_aim_and_holds_the_integral():
    """A room just inside its aim is satisfied; ahead of an expected defrost it calls, and
    the integral it had does not move while it heats up for the defrost."""
    tuning = ControlTuning(frost=TUNING)
    unit = UnitInput(OBSERVATION, True, False, coil_below_freezing=True)
    aim = 21.0 - tuning.pi.band_offset_k
    # Just past the aim (by less than the lift can raise it: the aim never passes 21 °C).
    zones = {"a": zone(ZoneMode.HEAT, aim + 0.05, target=21.0)}
    quiet, out = control_step(ControlState(), zones, unit, 0.0, tuning)
    assert out.zones["a"].action == "idle"
    learned = FrostState(run_s=6000.0, interval_s=6000.0, defrosting=False, seen_defrost=True)
    base = quiet._replace(frost=learned)
    state, out = control_step(base, zones, unit, 10.0, tuning)
    assert out.zones["a"].action == "heating" and out.odu.mode == "heat"
    for i in range(2, 30):
        state, out = control_step(state, zones, unit, 10.0 * i, tuning)
    assert state.zones["a"].integral == base.zones["a"].integral
    assert state.frost.run_s > learned.run_s  # the heating run counts on
