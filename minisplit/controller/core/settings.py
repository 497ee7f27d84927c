"""User settings of a zone and of the unit: what the homeowner chose, persisted and published."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from minisplit.drivers.vocabulary import FanSpeed, HeadMode, VanePosition


class ZoneMode(StrEnum):
    """What the homeowner sets a zone to: off, one of the head's modes (drivers.vocabulary's
    HeadMode, by the same word), or heat_cool, in which the zone loop picks heat or cool
    itself. Not the head's mode: a zone that is off still has a head mode (the last one), and
    a heat_cool zone's head runs in heat or in cool."""

    OFF = "off"
    HEAT = HeadMode.HEAT.value
    COOL = HeadMode.COOL.value
    HEAT_COOL = "heat_cool"
    DRY = HeadMode.DRY.value
    FAN_ONLY = HeadMode.FAN_ONLY.value


def zone_mode_of(head_mode: HeadMode) -> ZoneMode:
    """The zone mode a head's mode means: the same word; the head's `auto` (it picks heat or
    cool itself) is the zone's heat_cool (the product picks), its `heat_aux` is heating."""
    return _ZONE_MODE_OF_HEAD.get(head_mode) or ZoneMode(head_mode.value)


_ZONE_MODE_OF_HEAD = {HeadMode.AUTO: ZoneMode.HEAT_COOL, HeadMode.HEAT_AUX: ZoneMode.HEAT}


def zone_modes(head_modes: Sequence[HeadMode]) -> tuple[ZoneMode, ...]:
    """The zone modes a head with these modes can serve: off, each of its own, and heat_cool
    where it has heat and cool (or auto). A head without a mode lever (empty) is not told a
    mode: every zone mode is offered, as the product has no way to know which it runs."""
    if not head_modes:
        return tuple(ZoneMode)
    served = {ZoneMode.OFF, *(zone_mode_of(mode) for mode in head_modes)}
    if {HeadMode.HEAT, HeadMode.COOL} <= set(head_modes):
        served.add(ZoneMode.HEAT_COOL)
    return tuple(mode for mode in ZoneMode if mode in served)


class Preset(StrEnum):
    NONE = "none"
    COMFORT = "comfort"
    ECO = "eco"
    AWAY = "away"
    SLEEP = "sleep"
    BOOST = "boost"


@dataclass(frozen=True)
class ZoneSettings:
    """Everything a homeowner sets for one room."""

    mode: ZoneMode = ZoneMode.OFF
    target_temperature: float = 21.0
    target_temperature_low: float = 20.0
    target_temperature_high: float = 24.0
    fan_mode: FanSpeed = FanSpeed.AUTO
    swing_mode: VanePosition = VanePosition.AUTO
    swing_horizontal_mode: VanePosition = VanePosition.AUTO
    preset: Preset = Preset.NONE
    last_on_mode: ZoneMode = ZoneMode.HEAT  # what `power ON` restores
    schedule: bool = True  # the zone follows its weekly program, where it has one

    def to_dict(self) -> dict[str, object]:
        return {
            "mode": self.mode.value,
            "target_temperature": self.target_temperature,
            "target_temperature_low": self.target_temperature_low,
            "target_temperature_high": self.target_temperature_high,
            "fan_mode": self.fan_mode.value,
            "swing_mode": self.swing_mode.value,
            "swing_horizontal_mode": self.swing_horizontal_mode.value,
            "preset": self.preset.value,
            "last_on_mode": self.last_on_mode.value,
            "schedule": self.schedule,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> ZoneSettings:
        """Rebuild from persisted data; raises ValueError/TypeError on anything malformed."""
        return cls(
            mode=ZoneMode(_text(data["mode"])),
            target_temperature=_number(data["target_temperature"]),
            target_temperature_low=_number(data["target_temperature_low"]),
            target_temperature_high=_number(data["target_temperature_high"]),
            fan_mode=FanSpeed(_text(data["fan_mode"])),
            swing_mode=VanePosition(_text(data["swing_mode"])),
            swing_horizontal_mode=VanePosition(_text(data["swing_horizontal_mode"])),
            preset=Preset(_text(data["preset"])),
            last_on_mode=ZoneMode(_text(data.get("last_on_mode", "heat"))),
            schedule=_flag(data.get("schedule", True)),  # older files: the programs run
        )


@dataclass(frozen=True)
class UnitSettings:
    """Settings of the outdoor unit that the homeowner (or a utility signal) controls."""

    quiet: bool = False
    demand_limit_pct: int = 100

    def to_dict(self) -> dict[str, object]:
        return {"quiet": self.quiet, "demand_limit_pct": self.demand_limit_pct}

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> UnitSettings:
        limit = int(_scalar(data["demand_limit_pct"]))
        if not 0 <= limit <= 100:
            raise ValueError(f"demand_limit_pct {limit} outside 0..100")
        return cls(quiet=bool(data["quiet"]), demand_limit_pct=limit)


def _text(value: object) -> str:
    # A JSON value that no enum member has is a ValueError, as the enum itself would raise.
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a setting's name")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{value!r} is not true or false")
    return value


def _number(value: object) -> float:
    return float(_scalar(value))


def _scalar(value: object) -> int | float | str:
    # What int() and float() accept from a JSON document; anything else is malformed.
    if not isinstance(value, int | float | str):
        raise TypeError(f"{value!r} is not a number")
    return value
