"""The changes a homeowner can make to a zone's or the unit's settings, and their effect (pure).

One typed value per change (`SetMode`, `SetTarget`, ...), whoever asks for it: an MQTT command
(`minisplit/controller/service/commands.py` parses the payload into one), a press on a head's
handheld remote (`minisplit/controller/core/handheld.py`) or a switch point of a weekly
program (`minisplit/controller/core/schedule.py`). The rules of a change (switching off
remembers the mode, a manual setpoint ends a preset, heat_cool keeps its deadband) live here
once, in `apply_zone` and `apply_unit`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import assert_never

from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.drivers.vocabulary import FanSpeed, VanePosition

# heat_cool keeps the low setpoint at least this far below the high one, so the room has a
# neutral band and the unit does not flip between heating and cooling around one temperature.
HEAT_COOL_DEADBAND_K = 1.0


class Side(StrEnum):
    """Which setpoint: the one of heat, cool and dry, or either end of heat_cool's range."""

    TARGET = "target"
    LOW = "low"  # heat_cool heats below it
    HIGH = "high"  # heat_cool cools above it


@dataclass(frozen=True, slots=True)
class SetMode:
    """Switch to ``mode``; off remembers the mode it was in (for `SetPower(True)`)."""

    mode: ZoneMode


@dataclass(frozen=True, slots=True)
class SetPower:
    """Off (remembering the mode) or back on in the remembered mode; a no-op if already so."""

    on: bool


@dataclass(frozen=True, slots=True)
class SetTarget:
    """A manual setpoint (°C) on one ``side``: it ends any preset."""

    side: Side
    celsius: float


@dataclass(frozen=True, slots=True)
class SetFan:
    fan: FanSpeed


@dataclass(frozen=True, slots=True)
class SetSwing:
    """The vertical vane's position."""

    position: VanePosition


@dataclass(frozen=True, slots=True)
class SetSwingHorizontal:
    """The horizontal vane's position."""

    position: VanePosition


@dataclass(frozen=True, slots=True)
class SetPreset:
    """A preset (`Preset.NONE` clears it); the setpoints stay as they are."""

    preset: Preset


@dataclass(frozen=True, slots=True)
class SetSchedule:
    """Follow the zone's weekly program (on) or leave the zone as it is set (off)."""

    on: bool


ZoneTransition = (
    SetMode | SetPower | SetTarget | SetFan | SetSwing | SetSwingHorizontal | SetPreset
) | SetSchedule


@dataclass(frozen=True, slots=True)
class SetQuiet:
    on: bool


@dataclass(frozen=True, slots=True)
class SetDemandLimit:
    """The most the unit may draw, in % of its rating (0–100)."""

    pct: int


UnitTransition = SetQuiet | SetDemandLimit


def setpoint_range(low: float, high: float, side: Side) -> tuple[float, float]:
    """The range a setpoint on ``side`` may take within a zone's limits [low, high]. In
    heat_cool the low setpoint leaves room for the deadband below ``high`` and the high one
    above ``low``, so that keeping the deadband (see `apply_zone`) never pushes the other
    setpoint out of the limits."""
    match side:
        case Side.TARGET:
            return low, high
        case Side.LOW:
            return low, high - HEAT_COOL_DEADBAND_K
        case Side.HIGH:
            return low + HEAT_COOL_DEADBAND_K, high
        case _:
            assert_never(side)


def clamp_setpoint(celsius: float, low: float, high: float, side: Side) -> float:
    """``celsius`` moved into the range a setpoint on ``side`` may take (`setpoint_range`)."""
    bottom, top = setpoint_range(low, high, side)
    return min(max(celsius, bottom), top)


def apply_zone(settings: ZoneSettings, *changes: ZoneTransition) -> ZoneSettings:
    """The zone's settings after ``changes``, in order. In heat_cool the deadband of
    HEAT_COOL_DEADBAND_K is kept by pushing the other setpoint along, not by refusing: Home
    Assistant sends a moved range as two messages (low, then high), and refusing the first would
    lose a perfectly valid range. A setpoint within `setpoint_range` keeps both in the limits."""
    for change in changes:
        settings = _apply(settings, change)
    return settings


def _apply(settings: ZoneSettings, change: ZoneTransition) -> ZoneSettings:
    match change:
        case SetMode(mode):
            if mode is ZoneMode.OFF:
                return _switched_off(settings)
            return replace(settings, mode=mode, last_on_mode=mode)
        case SetPower(on):
            if not on:
                return _switched_off(settings)
            if settings.mode is ZoneMode.OFF:
                return replace(settings, mode=settings.last_on_mode)
            return settings
        case SetTarget(side, celsius):
            return _with_setpoint(settings, side, celsius)
        case SetFan(fan):
            return replace(settings, fan_mode=fan)
        case SetSwing(position):
            return replace(settings, swing_mode=position)
        case SetSwingHorizontal(position):
            return replace(settings, swing_horizontal_mode=position)
        case SetPreset(preset):
            return replace(settings, preset=preset)
        case SetSchedule(on):
            return replace(settings, schedule=on)
        case _:
            assert_never(change)


def _switched_off(settings: ZoneSettings) -> ZoneSettings:
    if settings.mode is ZoneMode.OFF:
        return settings
    return replace(settings, mode=ZoneMode.OFF, last_on_mode=settings.mode)


def _with_setpoint(settings: ZoneSettings, side: Side, celsius: float) -> ZoneSettings:
    match side:
        case Side.TARGET:
            return replace(settings, target_temperature=celsius, preset=Preset.NONE)
        case Side.LOW:
            low = celsius
            high = max(settings.target_temperature_high, round(low + HEAT_COOL_DEADBAND_K, 1))
        case Side.HIGH:
            high = celsius
            low = min(settings.target_temperature_low, round(high - HEAT_COOL_DEADBAND_K, 1))
        case _:
            assert_never(side)
    return replace(
        settings, target_temperature_low=low, target_temperature_high=high, preset=Preset.NONE
    )


def apply_unit(settings: UnitSettings, change: UnitTransition) -> UnitSettings:
    """The unit's settings after ``change``."""
    match change:
        case SetQuiet(on):
            return replace(settings, quiet=on)
        case SetDemandLimit(pct):
            return replace(settings, demand_limit_pct=pct)
        case _:
            assert_never(change)
