"""The compressor coordinator: one ODU mode and frequency from all zones' demands (pure).

Mode arbitration (a multi-split heats or cools, never both), feed-forward frequency through the
unit's capacity map, the minimum on/off and mode-change interlocks, ramp limits, and the share of
capacity each head requests. No I/O, no clock: the caller passes ``now``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from controller.interlocks import InterlockLimits
from controller.zone import Direction
from drivers.devices import OduCommand, OduMode

RATED_FREQUENCY_HZ = 60.0  # capacities on the datasheet are given at 60 Hz (DESIGN §5)
HOLD_SHARE = 0.1  # refrigerant share per head while a minimum on time is held without demand


@dataclass(frozen=True)
class CoordinatorTuning:
    limits: InterlockLimits = field(default_factory=InterlockLimits)
    ramp_hz_per_s: float = 0.5


@dataclass(frozen=True)
class ZoneRequest:
    zone_id: str
    direction: Direction
    demand: float  # 0..1 of this head's capacity
    rated_capacity_w: float


@dataclass(frozen=True)
class UnitObservation:
    """What the coordinator knows of the outdoor unit this tick."""

    rated_heating_w: float
    rated_cooling_w: float
    min_frequency_hz: float
    max_frequency_hz: float
    allowed_max_frequency_hz: float
    outdoor_temperature: float | None


@dataclass(frozen=True)
class CompressorState:
    mode: OduMode = "off"  # the mode of the current or last run
    running: bool = False
    frequency_hz: float = 0.0
    started_at: float | None = None
    stopped_at: float | None = None


@dataclass(frozen=True)
class CoordinatorOutput:
    command: OduCommand
    active: Direction  # the direction refrigerant works in now (NONE when stopped)
    shares_pct: dict[str, float]  # capacity_request per zone, % of the head's rating
    conflicts: frozenset[str]  # zones that want the other direction and wait


def capacity_factor(mode: OduMode, outdoor_temperature: float | None) -> float:
    """The controller's estimate of capacity derating with outdoor temperature.

    Heating loses capacity as it gets colder (≈0.6 at −15 °C, DESIGN §8), cooling mildly as it
    gets hotter. Only a feed-forward estimate: the zone loops correct what it misses."""
    if outdoor_temperature is None:
        return 1.0
    t = outdoor_temperature
    if mode == "heat":
        return min(1.0, max(0.5, 1.0 - 0.4 * (7.0 - t) / 22.0))
    if mode == "cool":
        return min(1.0, max(0.8, 1.0 - 0.01 * (t - 35.0)))
    return 1.0


def _arbitrate(state: CompressorState, requests: Sequence[ZoneRequest]) -> Direction:
    """`first` policy: the direction in use keeps winning while anyone calls for it."""
    heat = sum(r.demand for r in requests if r.direction is Direction.HEAT)
    cool = sum(r.demand for r in requests if r.direction is Direction.COOL)
    current = Direction(state.mode) if state.mode != "off" else Direction.NONE
    if current is Direction.HEAT and heat > 0:
        return Direction.HEAT
    if current is Direction.COOL and cool > 0:
        return Direction.COOL
    if heat == 0 and cool == 0:
        return Direction.NONE
    return Direction.HEAT if heat >= cool else Direction.COOL


def _may_start(state: CompressorState, mode: OduMode, now: float, limits: InterlockLimits) -> bool:
    if state.stopped_at is None:
        return True
    wait = limits.min_off_s
    if state.mode not in ("off", mode):
        wait = max(wait, limits.mode_change_wait_s)
    return now - state.stopped_at >= wait


def _may_stop(state: CompressorState, now: float, limits: InterlockLimits) -> bool:
    started = state.started_at if state.started_at is not None else now
    return now - started >= limits.min_on_s


def step_compressor(
    state: CompressorState,
    requests: Sequence[ZoneRequest],
    unit: UnitObservation,
    now: float,
    dt_s: float,
    tuning: CoordinatorTuning,
) -> tuple[CompressorState, CoordinatorOutput]:
    limits = tuning.limits
    wanted = _arbitrate(state, requests)
    wanted_mode: OduMode = "off" if wanted is Direction.NONE else wanted.value  # type: ignore[assignment]

    if state.running:
        must_change = wanted_mode != state.mode
        run_mode = state.mode
        keep = not must_change or not _may_stop(state, now, limits)
    else:
        run_mode = wanted_mode
        keep = wanted_mode != "off" and _may_start(state, wanted_mode, now, limits)

    if not keep:
        new_state = CompressorState(
            mode=state.mode,
            running=False,
            frequency_hz=0.0,
            started_at=state.started_at,
            stopped_at=now if state.running else state.stopped_at,
        )
        conflicts = frozenset(
            r.zone_id for r in requests if r.demand > 0 and r.direction is not wanted
        )
        command = OduCommand(mode=state.mode, frequency_hz=0.0)
        return new_state, CoordinatorOutput(command, Direction.NONE, {}, conflicts)

    active = Direction(run_mode)
    in_mode = [r for r in requests if r.direction is active]
    needed_w = sum(r.demand * r.rated_capacity_w for r in in_mode)
    rated = unit.rated_heating_w if run_mode == "heat" else unit.rated_cooling_w
    per_hz = rated * capacity_factor(run_mode, unit.outdoor_temperature) / RATED_FREQUENCY_HZ
    cap = min(unit.max_frequency_hz, max(unit.allowed_max_frequency_hz, unit.min_frequency_hz))
    # Below the minimum frequency's output the compressor still runs at the minimum: long
    # low-frequency cycles instead of many short ones.
    target = min(max(needed_w / per_hz, unit.min_frequency_hz), cap)
    if state.running:
        step = tuning.ramp_hz_per_s * dt_s
        frequency = min(max(target, state.frequency_hz - step), state.frequency_hz + step)
        frequency = min(max(frequency, unit.min_frequency_hz), cap)
        started_at = state.started_at
    else:
        frequency = unit.min_frequency_hz
        started_at = now
    # The register holds 0.1 Hz: round down so that the cap is never exceeded.
    frequency = max(math.floor(frequency * 10 + 1e-6) / 10, unit.min_frequency_hz)

    if needed_w > 0:
        shares = {r.zone_id: round(100.0 * r.demand, 1) for r in in_mode if r.demand > 0}
    else:
        # Held on by the minimum on time with no demand left: spread a little refrigerant
        # over the heads of this direction so that the coil is never starved.
        shares = {r.zone_id: 100.0 * HOLD_SHARE for r in in_mode}
    conflicts = frozenset(r.zone_id for r in requests if r.demand > 0 and r.direction is not active)
    new_state = CompressorState(run_mode, True, frequency, started_at, state.stopped_at)
    command = OduCommand(mode=run_mode, frequency_hz=frequency)
    return new_state, CoordinatorOutput(command, active, shares, conflicts)
