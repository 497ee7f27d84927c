"""The per-zone thermostat: a pure PI loop from room temperature error to heating/cooling demand.

No I/O and no clock: the caller passes the time step. The same code runs in the supervisor and
in the benchmark (docs/architecture.md, 'Pure core').

The loop aims a little inside the comfort band (setpoint ± 0.5 K) on the side toward the
outdoors (`band_offset_k`): every tenth of a kelvin less lift and less loss saves energy, and
the homeowner's band is kept. At low load (`low_load`, from the coordinator) it aims closer to
the band's edge (`low_load_band_offset_k`): the compressor's cycles then swing the room above
its aim anyway, and warmth stored in the room costs comfort once the sun comes out. Around
that aim a call latch with hysteresis says whether the zone wants refrigerant at all: while
the compressor's smallest output is more than the rooms need, the zones cycle between calling
and satisfied instead of asking for a trickle."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.drivers.vocabulary import OduMode

# Which way a zone wants refrigerant to work: the outdoor unit's mode it calls for, heat or
# cool, or `off` for neither. The coordinator then runs the unit in the direction that wins.
Direction = OduMode

# Members bound once: looking one up on its Enum class costs a metaclass call each time, and
# the loop runs for every zone on every tick.
HEAT = Direction.HEAT
COOL = Direction.COOL
NONE = Direction.OFF  # no direction
MODE_OFF = ZoneMode.OFF
MODE_HEAT = ZoneMode.HEAT
MODE_COOL = ZoneMode.COOL
MODE_HEAT_COOL = ZoneMode.HEAT_COOL
MODE_DRY = ZoneMode.DRY
MODE_FAN_ONLY = ZoneMode.FAN_ONLY


@dataclass(frozen=True, slots=True)
class PiTuning:
    kp: float = 2.0  # demand (share of the head's rated capacity) per kelvin of error
    # A head's coil takes more than its rating (at a higher condensing pressure, a worse
    # COP), and the unit caps its speed to what the open coils can take (its allowed maximum
    # frequency): a room far below its aim asks up to this much, to be back in its band sooner.
    max_demand: float = 1.4
    ti_s: float = 1800.0  # integral time
    # The loop aims this far inside the comfort band from the setpoint, toward the outdoors
    # (below it when heating, above it when cooling). Small enough that the rooms are, on
    # average, no colder (heating) or warmer (cooling) than a plain ±0.5 K thermostat keeps
    # them (docs/benchmark.md, 'mean offset'): a cooler house is the homeowner's choice (eco).
    band_offset_k: float = 0.15
    # The offset while the compressor cycles at low load (see `step_zone`'s ``low_load``):
    # the room then swings between the call and the satisfied side, mostly above the aim.
    low_load_band_offset_k: float = 0.4
    # Call latch around the aim: call at `call_k` short of it, satisfied `satisfied_k` past
    # it. While the compressor already runs in the zone's direction, a satisfied zone joins
    # again once it is `rejoin_k` short of the aim (negative: still past it): it takes its
    # share of a run that happens anyway, and more heads open make a better COP.
    call_k: float = 0.07
    satisfied_k: float = 0.15
    rejoin_k: float = -0.05
    # The coordinator may stretch the satisfied side to lengthen low-load cycles; never past
    # this far beyond the aim (keeps the upper swing inside the comfort band).
    max_satisfied_k: float = 0.6
    # Feed-forward from the outdoor temperature: demand per kelvin of setpoint − outdoor
    # (heating) or outdoor − setpoint (cooling), i.e. the room's heat-loss coefficient over
    # the head's capacity. 0 = off; the integral learns the load anyway.
    outdoor_feed_forward_per_k: float = 0.0
    # Back-calculation toward what the zone really got: while the compressor runs at its
    # minimum and delivers more than asked, a zone that is still short of its aim lifts its
    # integral toward the delivered share with this time constant (so that a growing load
    # raises the frequency at once instead of after the integral has crawled up to it).
    tracking_s: float = 600.0
    # The room temperature is smoothed with this time constant before the loop uses it: a
    # 0.1 K register step would otherwise jolt the demand by kp × 0.1.
    filter_s: float = 60.0
    dry_demand: float = 0.3  # fixed cooling demand while drying
    dry_band_k: float = 1.0  # drying stops this far below the setpoint


class ZoneLoopState(NamedTuple):
    """What the loop remembers between ticks, and what it gives this tick.

    A NamedTuple rather than a frozen dataclass: one is built per zone per tick, and the
    benchmark runs ten thousand ticks per wall second (tuples are built 3× faster)."""

    integral: float = 0.0
    direction: Direction = Direction.OFF
    calling: bool = False  # the zone wants refrigerant (the call latch)
    setpoint: float | None = None  # the setpoint the loop tracks now
    demand: float = 0.0  # share of the head's rated capacity, 0..max_demand
    error_k: float = 0.0  # aim − room (heating) or room − aim (cooling): > 0 wants more
    temperature: float | None = None  # the filtered room temperature the loop works on


IDLE_STATE = ZoneLoopState()


class SharedConditions(NamedTuple):
    """What the outdoor unit and the coordinator bring to every zone's loop alike on a tick
    (see `step_zone`)."""

    stretch: float = 1.0  # ≥ 1: widens the satisfied side of the call latch
    outdoor_temperature: float | None = None
    delivery: float = 1.0  # capacity delivered last tick over what the zones asked for
    low_load: float = 0.0  # 0..1: how much the compressor has been cycling at its minimum
    lift_k: float = 0.0  # heating aims raised this much ahead of a defrost


NO_CONDITIONS = SharedConditions()
# A reading exactly on a threshold counts as reaching it (float sums are never exact).
EPSILON_K = 1e-6


def _direction(
    mode: ZoneMode,
    temperature: float,
    previous: Direction,
    heat_setpoint: float,
    cool_setpoint: float,
    tuning: PiTuning,
    offset_k: float,
) -> Direction:
    if mode is MODE_HEAT:
        return HEAT
    if mode is MODE_COOL or mode is MODE_DRY:
        return COOL
    if mode is MODE_HEAT_COOL:
        # Switch only where the other side would call: the switching band is the whole
        # neutral band between the setpoints plus both aims and calls (the hysteresis).
        margin = offset_k + tuning.call_k
        if previous is COOL:
            return HEAT if temperature <= heat_setpoint - margin else COOL
        if previous is HEAT:
            return COOL if temperature >= cool_setpoint + margin else HEAT
        return HEAT if temperature < 0.5 * (heat_setpoint + cool_setpoint) else COOL
    return NONE


def step_zone(
    state: ZoneLoopState,
    settings: ZoneSettings,
    temperature: float | None,
    dt_s: float,
    tuning: PiTuning,
    frozen: bool = False,
    setpoints: tuple[float, float] | None = None,
    joining: bool = False,
    boost: bool = False,
    shared: SharedConditions = NO_CONDITIONS,
    aim_offset_k: float | None = None,
) -> ZoneLoopState:
    """Advance one zone's loop by ``dt_s`` seconds; the new state carries the demand.

    ``setpoints`` are the (heating, cooling) setpoints in effect (after the preset); without
    them the zone's own. ``frozen`` holds the integrator (defrost, or the zone got no
    refrigerant, so the error says nothing about its demand): the demand is still computed, so
    the loop resumes bumplessly. ``joining``: the compressor runs in this zone's direction, so
    a satisfied zone may join at ``rejoin_k``. ``boost`` asks for full capacity until the room
    reaches the setpoint itself. From ``shared``: ``stretch`` (≥ 1) widens the satisfied side
    of the latch; ``delivery`` is the capacity the unit delivered last tick over what the
    zones asked for (> 1 at the minimum frequency, < 1 at the frequency cap); ``low_load``
    (0..1) says how much of late the compressor has been cycling at its minimum: the aim moves
    from ``band_offset_k`` toward ``low_load_band_offset_k`` with it; ``lift_k`` raises a
    heating aim toward the setpoint (never past it) ahead of a defrost (`controller.core.frost`).
    ``aim_offset_k`` replaces the band offset (an early start aims nearer the new target:
    `controller.core.optimal_start`).

    A setpoint change and a mode change that keeps the direction keep the integral (bumpless);
    a new direction starts it from zero (it held the other direction's load)."""
    mode = settings.mode
    if temperature is None or mode is MODE_OFF or mode is MODE_FAN_ONLY:
        return IDLE_STATE
    stretch, outdoor_temperature, delivery, low_load, lift_k = shared
    previous_temperature = state.temperature
    if previous_temperature is not None and dt_s > 0:
        temperature = previous_temperature + (temperature - previous_temperature) * (
            dt_s / (tuning.filter_s + dt_s)
        )
    if setpoints is None:
        if mode is MODE_HEAT_COOL:
            heat_sp, cool_sp = settings.target_temperature_low, settings.target_temperature_high
        else:
            heat_sp = cool_sp = settings.target_temperature
    else:
        heat_sp, cool_sp = setpoints

    if aim_offset_k is not None:
        offset = aim_offset_k
    else:
        offset = tuning.band_offset_k
        if low_load:
            offset += (tuning.low_load_band_offset_k - offset) * low_load
    if mode is MODE_HEAT:
        direction = HEAT
    elif mode is MODE_COOL:
        direction = COOL
    else:
        direction = _direction(mode, temperature, state.direction, heat_sp, cool_sp, tuning, offset)
    if direction is HEAT:
        setpoint = heat_sp
        if lift_k:
            offset = offset - lift_k if offset > lift_k else 0.0
        error = setpoint - offset - temperature
    else:
        setpoint = cool_sp
        error = temperature - setpoint - offset
    same_direction = direction is state.direction

    if mode is MODE_DRY:
        # Drying is slow cooling at a fixed share, from half the dry band below the setpoint
        # down to the whole band below it.
        above = temperature - setpoint
        if state.calling and same_direction:
            calling = above > -tuning.dry_band_k
        else:
            calling = above >= -0.5 * tuning.dry_band_k
        demand = tuning.dry_demand if calling else 0.0
        return ZoneLoopState(0.0, direction, calling, setpoint, demand, above, temperature)

    # Boost: the head's whole capacity until the room is at the setpoint itself.
    boosting = boost and error + offset > EPSILON_K
    # The call latch.
    calling = state.calling and same_direction
    if boosting:
        calling = True
    elif calling:
        satisfied = tuning.satisfied_k * stretch
        top = tuning.max_satisfied_k
        if aim_offset_k is not None:
            # An aim nearer the setpoint leaves less of the band above it: the swing stops
            # where it stops from the usual aim (`max_satisfied_k` past `band_offset_k`).
            top += aim_offset_k - tuning.band_offset_k
        if satisfied > top:
            satisfied = top
        calling = error > EPSILON_K - satisfied
    else:
        calling = error >= (tuning.rejoin_k if joining else tuning.call_k) - EPSILON_K

    integral = state.integral if same_direction else 0.0
    if not calling:
        return ZoneLoopState(integral, direction, False, setpoint, 0.0, error, temperature)
    if boosting:
        # The integral is held, so that the loop takes over where it left off.
        return ZoneLoopState(integral, direction, True, setpoint, 1.0, error, temperature)

    kp = tuning.kp
    bias = kp * error
    ff = tuning.outdoor_feed_forward_per_k
    if ff and outdoor_temperature is not None:
        lift = (
            setpoint - outdoor_temperature if direction is HEAT else outdoor_temperature - setpoint
        )
        if lift > 0:
            bias += ff * lift
    if not frozen and dt_s > 0:
        integral = _integrate(integral, bias, error, dt_s, state.demand, delivery, tuning)
    demand = bias + integral
    top = tuning.max_demand
    demand = 0.0 if demand < 0.0 else top if demand > top else demand
    return ZoneLoopState(integral, direction, True, setpoint, demand, error, temperature)


def _integrate(
    integral: float,
    bias: float,
    error: float,
    dt_s: float,
    previous_demand: float,
    delivery: float,
    tuning: PiTuning,
) -> float:
    """The integral after ``dt_s``: PI integration with anti-windup against both the zone's
    own demand limits and what the compressor really delivered (``delivery`` times what the
    zone asked for last tick)."""
    if error > 0:
        if delivery > 1.0:
            # The compressor's minimum gives more than asked, yet the room is still short:
            # track the delivered share.
            applied = previous_demand * delivery
            output = bias + integral
            if applied > output:
                if applied > 1.0:
                    applied = 1.0
                integral += (applied - output) * dt_s / tuning.tracking_s
        elif delivery < 0.999:
            # The compressor's cap gives less than asked: asking for more changes nothing.
            return integral
    candidate = integral + tuning.kp * error * dt_s / tuning.ti_s
    unclamped = bias + candidate
    top = tuning.max_demand
    # Conditional integration: integrate only while the output is not saturated, or when
    # the error drives it back into range.
    if (
        (0.0 <= unclamped <= top)
        or (unclamped > top and error < 0)
        or (unclamped < 0.0 and error > 0)
    ):
        return -1.0 if candidate < -1.0 else top if candidate > top else candidate
    return integral
