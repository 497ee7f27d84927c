"""Frost anticipation (pure): when the outdoor unit's next defrost is due, and how much to lift
the heating zones' aim before it.

A reverse-cycle defrost (docs/benchmark.md) stops the heat 5–10 minutes, cools the rooms a little;
rooms held near the lower edge of their comfort band leave it every time. Nothing on the bus says
how much ice the outdoor coil carries (its temperature sinks by a kelvin or two over an interval,
less than it moves with the load), but the time between defrosts is regular: frost grows with
the compressor's heating run time in frosting weather, and from one interval to the next it
changes slowly with the weather. So the controller counts that run time since the last defrost,
learns the typical interval from the defrosts it has seen, and in the last `lead_s` before the
next one is due lifts the heating aims by up to `lift_k`: the rooms store a little heat that the
defrost then takes, instead of dropping out of their band. Until a first interval has been
seen, and once the expected defrost is well overdue, there is no lift."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class FrostTuning:
    # How far the heating zones' aim rises before an expected defrost (0: no anticipation). The
    # aim never goes past the setpoint: the lift is at most the band offset it takes away.
    lift_k: float = 0.4
    # The lift starts this long (of heating run time) before the defrost is due, rising to the
    # whole lift over the first `ramp_share` of it: a step would jolt the compressor up.
    lead_s: float = 2400.0
    ramp_share: float = 0.3
    # Frost grows only while the outdoor coil is below 0 °C. Where its temperature is not
    # known (a broken sensor), run time counts at outdoor temperatures up to this (the coil runs
    # some 7–10 K below the outdoor air in heating).
    max_outdoor_c: float = 5.0
    # Frost melts off a coil above 0 °C (a heating coil that is not that cold, an idle coil in
    # air above 0 °C); the count fades with this time constant.
    melt_tau_s: float = 3600.0
    # Each new interval moves the learned one this far toward it, within `max_change` of it
    # either way (an interval stretched by hours of mild, idle weather says little).
    learn_weight: float = 0.5
    max_change: float = 0.5
    # Overdue by more than this share of the interval: the guess was wrong, stop lifting.
    give_up_share: float = 0.3
    # No lift once the compressor's low-load indicator (`CompressorState.low_load`) reaches
    # this, less and less on the way: at low load a defrost costs the rooms little (they lose
    # heat slowly) and the cycles already swing them above their aims, so heat stored ahead of
    # a mistimed defrost is mostly lost to the afternoon sun.
    max_low_load: float = 0.3


class FrostState(NamedTuple):
    run_s: float = 0.0  # heating run time in frosting weather since the last defrost
    interval_s: float | None = None  # the learned such run time between two defrosts
    defrosting: bool = False
    seen_defrost: bool = False  # run_s counts from a defrost (the first count does not)


IDLE_FROST = FrostState()


def resumed_frost(interval_s: float | None) -> FrostState:
    """The count at a start, with the interval learned before the restart (None: none).

    Only the interval carries over. How much ice grew meanwhile is unknown (the unit may have
    heated, and defrosted, on its own logic while the controller was away), so the run time
    counts from the start: never more than the true run time since the last defrost, so a lift
    it starts comes late rather than early; and it teaches nothing at the next defrost, since it
    did not start at one (``seen_defrost`` stays False until then)."""
    return FrostState(interval_s=interval_s)


def step_frost(
    state: FrostState,
    dt_s: float,
    heating: bool,
    defrost: bool,
    coil_below_freezing: bool | None,
    outdoor_c: float | None,
    tuning: FrostTuning,
) -> FrostState:
    """Advance the count by ``dt_s`` seconds. ``heating``: the compressor ran in heat mode over
    them (not defrosting); ``defrost``: the unit defrosts now; ``coil_below_freezing``: the
    outdoor coil's reading is below 0 °C (None: no reading)."""
    run_s, interval_s, defrosting, seen = state
    if defrost:
        if defrosting:
            return state
        if seen:
            interval_s = _learn(interval_s, run_s, tuning)
        return FrostState(0.0, interval_s, True, True)
    if coil_below_freezing is None:
        cold = outdoor_c is None or outdoor_c <= tuning.max_outdoor_c
        melting = not heating and outdoor_c is not None and outdoor_c > 0.0
    else:
        cold = coil_below_freezing
        melting = not cold
    if heating and cold:
        return FrostState(run_s + dt_s, interval_s, False, seen)
    if run_s and melting:
        run_s -= run_s * dt_s / (tuning.melt_tau_s + dt_s)
        return FrostState(run_s, interval_s, False, seen)
    return state if not defrosting else FrostState(run_s, interval_s, False, seen)


def _learn(interval_s: float | None, sample_s: float, tuning: FrostTuning) -> float:
    if interval_s is None:
        return sample_s
    low, high = interval_s * (1.0 - tuning.max_change), interval_s * (1.0 + tuning.max_change)
    sample_s = low if sample_s < low else high if sample_s > high else sample_s
    return interval_s + (sample_s - interval_s) * tuning.learn_weight


def defrost_lift_k(state: FrostState, tuning: FrostTuning, low_load: float = 0.0) -> float:
    """How far to lift the heating aims now (K, 0 when no defrost is expected soon)."""
    interval_s = state.interval_s
    if interval_s is None or state.defrosting or low_load >= tuning.max_low_load:
        return 0.0
    lift = tuning.lift_k * (1.0 - low_load / tuning.max_low_load)
    if not lift:
        return 0.0
    lead = tuning.lead_s if tuning.lead_s < interval_s else interval_s
    into = state.run_s - (interval_s - lead)
    if into <= 0.0 or state.run_s > interval_s * (1.0 + tuning.give_up_share):
        return 0.0
    ramp = lead * tuning.ramp_share
    return lift if into >= ramp else lift * into / ramp
