"""The compressor coordinator: one ODU mode and frequency from all zones' demands (pure).

- Mode: `controller.core.arbitration` picks heat or cool; a change goes through stop + wait.
- Frequency: the capacity the calling zones ask for, through the unit's capacity map
  (feed-forward), scaled by a slow bounded trim learned from the zones' remaining error
  (feedback); within [min, cap], ramp-limited, where cap is the least of the unit's allowed
  maximum, the quiet cap and the demand-limit cap.
- Low load: when even the minimum frequency delivers more than the zones ask for, it runs at the
  minimum until every zone is satisfied (a small overshoot), then stays off until one calls
  again: long low-frequency cycles. At most `max_starts_per_hour` starts in any 60 minutes (a
  rolling hour, so every calendar hour holds whatever the clock's alignment: UTC or a local
  time with a half-hour offset); when cycles come out shorter than `cycle_target_s` the zones'
  satisfied threshold is stretched (within the comfort band) so that the next ones are longer.
- Interlocks: minimum on and off time, and the heat↔cool wait (see `controller.core.interlocks`).
- Heads: each calling zone of the active direction gets a capacity request equal to its
  demand; the unit shares its refrigerant in that proportion. When the calling heads' coils
  are too small for the minimum speed's output, idle heads of that direction are opened a
  little (nearest to calling first), as multi-splits do, rather than let the unit stop.

No I/O, no clock: the caller passes ``now`` (seconds, monotonic)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from math import floor
from typing import NamedTuple

from minisplit.controller.core.arbitration import ModePolicy, arbitrate
from minisplit.controller.core.capacity import demand_limit_cap_hz, watts_per_hz
from minisplit.controller.core.interlocks import InterlockLimits
from minisplit.controller.core.settings import UnitSettings
from minisplit.controller.core.zone import Direction
from minisplit.drivers.records import OduCommand
from minisplit.drivers.vocabulary import OduMode

HEAT = Direction.HEAT
COOL = Direction.COOL
NONE = Direction.OFF  # no direction, or the unit off
HOUR_S = 3600.0
# A calling zone always asks for at least this much (% of its head): a head that asks for
# nothing takes no refrigerant, and with none open the unit would stop by itself.
MIN_SHARE_PCT = 1.0
NO_CONFLICTS: frozenset[str] = frozenset()
# Commands are values, each made once: the unit is told the same one tick after tick (a stop,
# a frequency held by the deadband), and building one costs more than finding it here. `typed`
# keeps 20 and 20.0 Hz apart (equal, but they print differently).
odu_command = lru_cache(maxsize=4096, typed=True)(OduCommand)


@dataclass(frozen=True, slots=True)
class CoordinatorTuning:
    limits: InterlockLimits = field(default_factory=InterlockLimits)
    ramp_hz_per_s: float = 0.5
    mode_policy: ModePolicy = ModePolicy.FIRST
    priority_zone: str | None = None
    mode_hold_s: float = 1200.0  # `demand` policy: a chosen direction stands this long
    max_starts_per_hour: int = 3
    # Low-load cycles (start to start) shorter than this stretch the zones' satisfied side,
    # up to `max_stretch` times; longer ones relax it back.
    cycle_target_s: float = 1500.0
    max_stretch: float = 3.0
    quiet_max_frequency_hz: float = 50.0
    # Feedback trim of the capacity map: fractional change per kelvin-second of the
    # demand-weighted zone error, bounded to ±trim_limit, learned only while modulating.
    trim_per_k_s: float = 1.0 / 14400.0
    trim_limit: float = 0.2
    trim_settle_s: float = 600.0  # after a start (start-up ramp), before the trim learns
    hold_share_pct: float = 10.0  # per head while a minimum on time is held without calls
    # How fast the low-load indicator (`CompressorState.low_load`) follows the compressor's
    # regime: cycling at its minimum, or modulating above it.
    low_load_tau_s: float = 3600.0
    # A frequency change smaller than this is not made (each one is a write to the unit);
    # reaching the minimum or the cap always is.
    frequency_deadband_hz: float = 0.5


# The per-tick records below are NamedTuples rather than frozen dataclasses: several are built
# every tick and the benchmark runs ten thousand ticks per wall second. The hot paths read many
# fields at once by unpacking (a field read by name is a slow lookup on Python 3.11).


class ZoneRequest(NamedTuple):
    zone_id: str
    direction: Direction
    demand: float  # of this head's rated capacity: 0..1, beyond 1 while it recovers
    rated_capacity_w: float
    calling: bool = True  # the zone wants refrigerant (its call latch)
    error_k: float = 0.0  # how far the room is short of its aim (> 0: wants more)


@dataclass(frozen=True, slots=True)
class UnitObservation:
    """What the coordinator knows of the outdoor unit this tick."""

    rated_heating_w: float
    rated_cooling_w: float
    min_frequency_hz: float
    max_frequency_hz: float
    allowed_max_frequency_hz: float
    outdoor_temperature: float | None


@dataclass(frozen=True, slots=True)
class UnitInput:
    """What the control knows of the outdoor unit this tick: what the coordinator works with
    (`step_compressor`), and what the tick reads besides (its compressor running, its coil)."""

    observation: UnitObservation
    available: bool
    defrost: bool
    settings: UnitSettings = field(default_factory=UnitSettings)
    # The unit reports a fault. It protects itself (and keeps running with, say, a broken
    # outdoor sensor), so the coordinator keeps asking, but learns nothing from the response.
    fault: bool = False
    # Whether its compressor runs (status b0); None where nobody reads it (the benchmark's
    # unit always answers). It matters when the unit answers again after being lost.
    compressor_running: bool | None = None
    # The outdoor coil is below 0 °C (frost grows on it while heating); None: not known.
    coil_below_freezing: bool | None = None


class CompressorState(NamedTuple):
    mode: OduMode = OduMode.OFF  # the mode of the current or last run
    running: bool = False
    frequency_hz: float = 0.0
    started_at: float | None = None
    stopped_at: float | None = None
    arbitrated: Direction = NONE  # the direction arbitration chose
    arbitrated_since: float | None = None
    # Start times of the last 60 minutes, oldest first (at most `max_starts_per_hour`).
    recent_starts: tuple[float, ...] = ()
    trim: float = 1.0  # capacity-map correction (actual / estimated capacity)
    stretch: float = 1.0  # widening of the zones' satisfied side, ≥ 1
    cycled: bool = False  # the last stop ended a low-load cycle (every zone satisfied)
    # Capacity at the commanded frequency over what the calling zones asked for (> 1 at the
    # minimum frequency, < 1 at the cap): the zone loops' anti-windup uses it.
    delivery: float = 1.0
    # 1 while the compressor keeps stopping with every zone satisfied (its minimum gives more
    # than they need), 0 while it runs on; a first-order lag: what the load is of late.
    low_load: float = 0.0


class CoordinatorOutput(NamedTuple):
    command: OduCommand
    active: Direction  # the direction refrigerant works in now (NONE when stopped)
    shares_pct: dict[str, float]  # capacity_request per zone, % of the head's rating
    conflicts: frozenset[str]  # zones that call for the other direction and wait
    forced_stop: bool = False  # stopped before the minimum on time: the unit cannot run


def frequency_cap_hz(
    unit: UnitObservation, tuning: CoordinatorTuning, quiet: bool, demand_limit_pct: float
) -> float:
    """The highest frequency the coordinator may ask for now (below the minimum: none)."""
    cap = unit.max_frequency_hz
    if unit.allowed_max_frequency_hz < cap:
        cap = unit.allowed_max_frequency_hz
    if quiet and tuning.quiet_max_frequency_hz < cap:
        cap = tuning.quiet_max_frequency_hz
    if demand_limit_pct < 100:
        cap = min(cap, demand_limit_cap_hz(demand_limit_pct))
    return cap


def _may_start(state: CompressorState, mode: OduMode, now: float, limits: InterlockLimits) -> bool:
    if state.stopped_at is None:
        return True
    wait = limits.min_off_s
    if state.mode != NONE and state.mode != mode:
        wait = max(wait, limits.mode_change_wait_s)
    return now - state.stopped_at >= wait


def _low_load(state: CompressorState, now: float, dt_s: float, tuning: CoordinatorTuning) -> float:
    """The low-load indicator after ``dt_s``: toward 1 while stopped after a low-load cycle
    (every zone satisfied), toward 0 while a run lasts longer than a low-load cycle would;
    held otherwise."""
    if state.running:
        started = state.started_at if state.started_at is not None else now
        if now - started < tuning.cycle_target_s:
            return state.low_load
        target = 0.0
    elif state.cycled:
        target = 1.0
    else:
        return state.low_load
    return state.low_load + (target - state.low_load) * dt_s / (tuning.low_load_tau_s + dt_s)


def step_compressor(
    state: CompressorState,
    requests: Sequence[ZoneRequest],
    unit: UnitInput,
    now: float,
    dt_s: float,
    tuning: CoordinatorTuning,
    priority: Direction = NONE,
) -> tuple[CompressorState, CoordinatorOutput]:
    """One coordinator tick. From ``unit``: not ``available`` (no answer, or a unit fault)
    stops the compressor at once; ``defrost`` holds a running compressor as it is; with a
    ``fault`` the capacity-map trim learns nothing (the unit may be protecting itself); the
    settings' ``quiet`` and ``demand_limit_pct`` cap the frequency and go out with the command.
    ``priority`` is the direction the priority zone calls for (policy `priority`)."""
    limits = tuning.limits
    observation = unit.observation
    available, defrost, fault = unit.available, unit.defrost, unit.fault
    settings = unit.settings
    quiet, demand_limit_pct = settings.quiet, settings.demand_limit_pct
    # One pass over the zones: per direction, the zones that could take refrigerant, those
    # that call, their requested capacity and its error-weighted sum (for the trim).
    heat_w = cool_w = heat_error = cool_error = heat_coil_w = cool_coil_w = 0.0
    heat_most = cool_most = 1.0  # the largest demand (at least 1): shares are scaled by it
    heat_zones = cool_zones = heat_calls = cool_calls = 0
    for _, direction, demand, rated_w, calling, error_k in requests:
        if direction is HEAT:
            heat_zones += 1
            if calling:
                heat_calls += 1
                heat_coil_w += rated_w
                w = demand * rated_w
                heat_w += w
                heat_error += w * error_k
                if demand > heat_most:
                    heat_most = demand
        elif direction is COOL:
            cool_zones += 1
            if calling:
                cool_calls += 1
                cool_coil_w += rated_w
                w = demand * rated_w
                cool_w += w
                cool_error += w * error_k
                if demand > cool_most:
                    cool_most = demand
    if heat_calls and cool_calls:
        wanted = arbitrate(
            tuning.mode_policy,
            state.arbitrated,
            state.arbitrated_since,
            now,
            heat_w,
            cool_w,
            True,
            True,
            priority=priority,
            hold_s=tuning.mode_hold_s,
        )
    else:  # one direction or none calls: no policy has anything to decide
        wanted = HEAT if heat_calls else COOL if cool_calls else state.arbitrated
    since = state.arbitrated_since if wanted is state.arbitrated else now
    cap = frequency_cap_hz(observation, tuning, quiet, demand_limit_pct)
    min_hz = observation.min_frequency_hz
    can_run = available and cap >= min_hz
    low_load = _low_load(state, now, dt_s, tuning)
    # What every way of stopping (or staying stopped) below passes on.
    stop = (state, now, requests, wanted, since, quiet, demand_limit_pct, low_load)

    if state.running:
        run_mode = state.mode
        active = run_mode
        zones, calls = (heat_zones, heat_calls) if active is HEAT else (cool_zones, cool_calls)
        on_for = now - state.started_at if state.started_at is not None else 0.0
        on_long_enough = on_for >= limits.min_on_s
        if not can_run or not zones:
            # Nothing can take refrigerant in this mode (the heads are off or turned the
            # other way), or the unit cannot run: it stops whatever we ask.
            forced = not on_long_enough
            return _stopped(*stop, forced=forced)
        if not defrost and on_long_enough and (wanted is not active or not calls):
            cycled = not calls and wanted is active  # a low-load cycle ends
            return _stopped(*stop, cycled=cycled)
        started_at: float = state.started_at if state.started_at is not None else now
        recent_starts = state.recent_starts
        stretch = state.stretch
        previous_hz = state.frequency_hz
    else:
        if wanted is NONE or not can_run or defrost:
            return _stopped(*stop)
        active = wanted
        run_mode = active
        calls = heat_calls if active is HEAT else cool_calls
        recent_starts = tuple(t for t in state.recent_starts if now - t < HOUR_S)
        if (
            not calls
            or len(recent_starts) >= tuning.max_starts_per_hour
            or not _may_start(state, run_mode, now, limits)
        ):
            return _stopped(*stop)
        recent_starts += (now,)
        started_at = now
        stretch = state.stretch
        if state.cycled and state.started_at is not None:
            # The last run ended a low-load cycle: size the next one from its period.
            period = now - state.started_at
            ratio = tuning.cycle_target_s / period if period > 0 else 2.0
            ratio = 0.5 if ratio < 0.5 else 2.0 if ratio > 2.0 else ratio
            stretch = min(max(stretch * ratio, 1.0), tuning.max_stretch)
        previous_hz = 0.0

    # Frequency: the requested capacity through the capacity map (feed-forward), trimmed.
    if active is HEAT:
        rated, needed_w, weighted_error = observation.rated_heating_w, heat_w, heat_error
        coil_w = heat_coil_w
    else:
        rated, needed_w, weighted_error = observation.rated_cooling_w, cool_w, cool_error
        coil_w = cool_coil_w
    trim = state.trim
    per_hz = watts_per_hz(rated, run_mode, observation.outdoor_temperature) * trim
    # A unit that reports no rating (0 W) gets its minimum: the zone loops still close the loop.
    wanted_hz = needed_w / per_hz if per_hz > 0 else min_hz
    if previous_hz == 0.0:
        frequency = min_hz  # a start: the unit ramps up from its minimum anyway
    elif defrost:
        frequency = previous_hz if previous_hz <= cap else cap  # hold through the defrost
    else:
        target = min_hz if wanted_hz < min_hz else cap if wanted_hz > cap else wanted_hz
        step = tuning.ramp_hz_per_s * dt_s
        lowest, highest = previous_hz - step, previous_hz + step
        frequency = lowest if lowest > target else target
        if highest < frequency:
            frequency = highest
        frequency = min_hz if frequency < min_hz else cap if frequency > cap else frequency
        if (
            not fault
            and needed_w > 0
            and min_hz < wanted_hz < cap
            and now - started_at >= tuning.trim_settle_s
        ):
            # Rooms still short while modulating: the unit delivers less per hertz than the
            # map says (trim < 1), and the other way round.
            trim -= tuning.trim_per_k_s * dt_s * weighted_error / needed_w
            low, high = 1.0 - tuning.trim_limit, 1.0 + tuning.trim_limit
            trim = low if trim < low else high if trim > high else trim
    # The register holds 0.1 Hz: round down so that the cap is never exceeded.
    frequency = floor(frequency * 10.0 + 1e-6) / 10.0
    if frequency < min_hz:
        frequency = min_hz
    if (
        previous_hz
        and -tuning.frequency_deadband_hz < frequency - previous_hz < tuning.frequency_deadband_hz
        and frequency != min_hz
        and frequency != cap
        and previous_hz <= cap
    ):
        frequency = previous_hz
    delivery = frequency * per_hz / needed_w if needed_w > 0 and per_hz > 0 else 1.0

    # Capacity requests: each calling zone of this direction its demand (the unit shares the
    # refrigerant in that proportion; a demand beyond a head's rating scales them all down,
    # the register holding at most 100 %). Held on by the minimum on time with no call left, a
    # little to every head of this direction, so that the coil is never starved.
    shares: dict[str, float] = {}
    waiting: list[str] = []
    per_demand = 1000.0 / (heat_most if active is HEAT else cool_most)
    hold = tuning.hold_share_pct
    for zone_id, direction, demand, _, calling, _ in requests:
        if direction is active:
            if not calls:
                shares[zone_id] = hold
            elif calling:
                share = floor(per_demand * demand + 0.5) / 10.0  # 0.1 % steps, as the register
                shares[zone_id] = share if share > MIN_SHARE_PCT else MIN_SHARE_PCT
        elif calling:
            waiting.append(zone_id)
    if calls and coil_w < min_hz * per_hz:
        _open_more_coil(shares, requests, active, min_hz * per_hz - coil_w, hold)
    new_state = CompressorState(
        run_mode,
        True,
        frequency,
        started_at,
        state.stopped_at,
        wanted,
        since,
        recent_starts,
        trim,
        stretch,
        False,
        delivery,
        low_load,
    )
    command = odu_command(run_mode, frequency, quiet, demand_limit_pct)
    conflicts = frozenset(waiting) if waiting else NO_CONFLICTS
    return new_state, CoordinatorOutput(command, active, shares, conflicts, False)


def _stopped(
    state: CompressorState,
    now: float,
    requests: Sequence[ZoneRequest],
    arbitrated: Direction,
    since: float | None,
    quiet: bool,
    demand_limit_pct: int,
    low_load: float,
    *,
    cycled: bool = False,
    forced: bool = False,
) -> tuple[CompressorState, CoordinatorOutput]:
    """The compressor is (or stays) off this tick; ``cycled``: a low-load cycle ends here."""
    if (
        not state.running
        and arbitrated is state.arbitrated
        and since is state.arbitrated_since
        and low_load is state.low_load
        and state.frequency_hz == 0.0
        and state.delivery == 1.0
    ):
        new_state = state  # it stays off as it was (most ticks at low load)
    else:
        running = state.running
        new_state = CompressorState(
            state.mode,
            False,
            0.0,
            state.started_at,
            now if running else state.stopped_at,
            arbitrated,
            since,
            state.recent_starts,
            state.trim,
            state.stretch,
            cycled if running else state.cycled,
            1.0,
            low_load,
        )
    command = odu_command(state.mode, 0.0, quiet, demand_limit_pct)
    conflicts = _conflicts(requests, arbitrated)
    return new_state, CoordinatorOutput(command, NONE, {}, conflicts, forced)


def _conflicts(requests: Sequence[ZoneRequest], served: Direction) -> frozenset[str]:
    """The zones that call for the direction not being served."""
    waiting: list[str] | None = None
    for zone_id, direction, _, _, calling, _ in requests:
        if calling and direction is not served:
            if waiting is None:
                waiting = [zone_id]
            else:
                waiting.append(zone_id)
    return NO_CONFLICTS if waiting is None else frozenset(waiting)


def _open_more_coil(
    shares: dict[str, float],
    requests: Sequence[ZoneRequest],
    active: Direction,
    missing_w: float,
    share_pct: float,
) -> None:
    """Open heads of this direction that do not call, nearest to calling first, until the
    open coils can take what the compressor gives at its minimum speed: a lone small head
    cannot (a unit then caps itself below its minimum and stops)."""
    idle = sorted(
        (r for r in requests if r.direction is active and r.zone_id not in shares),
        key=lambda r: -r.error_k,
    )
    for zone_id, _, _, rated_w, _, _ in idle:
        if missing_w <= 0:
            return
        shares[zone_id] = share_pct
        missing_w -= rated_w
