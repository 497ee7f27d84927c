"""The per-zone thermostat: a pure PI loop from room temperature error to heating/cooling demand.

No I/O and no clock: the caller passes the time step. The same code runs in the supervisor and
in the benchmark (DESIGN §3.1)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from controller.settings import ZoneMode, ZoneSettings


class Direction(StrEnum):
    """Which way a zone wants refrigerant to work."""

    NONE = "none"
    HEAT = "heat"
    COOL = "cool"


@dataclass(frozen=True)
class PiTuning:
    kp: float = 0.5  # demand (0..1) per kelvin of error
    ti_s: float = 1800.0  # integral time
    heat_cool_deadband_k: float = 0.5  # heat_cool switches direction only this far past a setpoint
    dry_demand: float = 0.3  # fixed cooling demand while drying


@dataclass(frozen=True)
class ZoneLoopState:
    """What the loop remembers between ticks."""

    integral: float = 0.0
    direction: Direction = Direction.NONE
    setpoint: float | None = None


@dataclass(frozen=True)
class ZoneDemand:
    direction: Direction
    demand: float  # 0..1 of the head's capacity
    setpoint: float | None  # the setpoint the loop is tracking now


def tracked_setpoint(settings: ZoneSettings, direction: Direction) -> float:
    """The setpoint that applies in the current direction (heat_cool has two)."""
    if settings.mode is ZoneMode.HEAT_COOL:
        if direction is Direction.COOL:
            return settings.target_temperature_high
        return settings.target_temperature_low
    return settings.target_temperature


def _direction(
    settings: ZoneSettings, temperature: float, previous: Direction, tuning: PiTuning
) -> Direction:
    mode = settings.mode
    if mode is ZoneMode.HEAT:
        return Direction.HEAT
    if mode in (ZoneMode.COOL, ZoneMode.DRY):
        return Direction.COOL
    if mode is ZoneMode.HEAT_COOL:
        band = tuning.heat_cool_deadband_k
        if temperature > settings.target_temperature_high + band:
            return Direction.COOL
        if temperature < settings.target_temperature_low - band:
            return Direction.HEAT
        # inside the band keep the direction we had; start out heating (the lower edge)
        return previous if previous is not Direction.NONE else Direction.HEAT
    return Direction.NONE


def step_zone(
    state: ZoneLoopState,
    settings: ZoneSettings,
    temperature: float | None,
    dt_s: float,
    tuning: PiTuning,
    frozen: bool = False,
) -> tuple[ZoneLoopState, ZoneDemand]:
    """Advance one zone's loop by ``dt_s`` seconds.

    ``frozen`` holds the integrator (defrost, no refrigerant available): the demand is still
    computed so that the loop resumes bumplessly."""
    if temperature is None or settings.mode in (ZoneMode.OFF, ZoneMode.FAN_ONLY):
        return ZoneLoopState(), ZoneDemand(Direction.NONE, 0.0, None)

    direction = _direction(settings, temperature, state.direction, tuning)
    setpoint = tracked_setpoint(settings, direction)
    if settings.mode is ZoneMode.DRY:
        demand = tuning.dry_demand if temperature > setpoint - 1.0 else 0.0
        return ZoneLoopState(direction=direction, setpoint=setpoint), ZoneDemand(
            direction, demand, setpoint
        )

    # A setpoint change keeps the integral (bumpless); a new direction starts from zero.
    integral = state.integral if direction is state.direction else 0.0
    error = setpoint - temperature if direction is Direction.HEAT else temperature - setpoint
    proportional = tuning.kp * error
    if not frozen:
        candidate = integral + tuning.kp * error * dt_s / tuning.ti_s
        unclamped = proportional + candidate
        # Conditional integration (anti-windup): integrate only while the output is not
        # saturated, or when the error drives it back into range.
        if (
            0.0 <= unclamped <= 1.0
            or (unclamped > 1.0 and error < 0)
            or (unclamped < 0.0 and error > 0)
        ):
            integral = candidate
        integral = min(max(integral, -1.0), 1.0)
    demand = min(max(proportional + integral, 0.0), 1.0)
    new_state = replace(state, integral=integral, direction=direction, setpoint=setpoint)
    return new_state, ZoneDemand(direction, demand, setpoint)
