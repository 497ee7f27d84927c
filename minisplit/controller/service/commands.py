"""What arrives over MQTT, parsed strictly: a settings change (a transition of
`minisplit/controller/core/transitions.py`) for a zone or the unit, a zone's weekly program, or
a room sensor's reading.

Parsing never trusts a payload: it must be UTF-8, trimmed, finite, in range and an exact enum
value, and every rejection is a `CommandError` whose message names the field, the payload and
what would have been accepted.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar

from minisplit.controller.config import ZoneConfig
from minisplit.controller.core.settings import Preset, ZoneMode, zone_modes
from minisplit.controller.core.transitions import (
    SetDemandLimit,
    SetFan,
    SetMode,
    SetPower,
    SetPreset,
    SetQuiet,
    SetSchedule,
    SetSwing,
    SetSwingHorizontal,
    SetTarget,
    Side,
    UnitTransition,
    ZoneTransition,
    setpoint_range,
)
from minisplit.controller.schedule_config import (
    SETPOINT_KEYS,
    SwitchPoint,
    canonical_program,
    parse_program,
    program_problem_lines,
)
from minisplit.controller.service.json_values import finite_number
from minisplit.controller.service.temperature_units import TemperatureUnit, from_celsius, to_celsius
from minisplit.drivers.capabilities import Capabilities
from minisplit.drivers.records import HeadInfo
from minisplit.drivers.vocabulary import FanSpeed, VanePosition

CELSIUS = TemperatureUnit.CELSIUS

ZONE_FIELDS = (
    "mode",
    "temperature",
    "temperature_low",
    "temperature_high",
    "fan_mode",
    "swing_mode",
    "swing_horizontal_mode",
    "preset_mode",
    "power",
    "schedule",
    "program",
    "remote_temperature",
)
UNIT_FIELDS = ("quiet", "demand_limit")
# The setpoint each temperature field sets.
SETPOINT_FIELDS = {
    "temperature": Side.TARGET,
    "temperature_low": Side.LOW,
    "temperature_high": Side.HIGH,
}
# What a room sensor may plausibly read; anything outside is a broken or misnamed sensor.
REMOTE_TEMPERATURE_RANGE = (-30.0, 60.0)
# Longer payloads are rejected unread and quoted only in part in error messages.
MAX_PAYLOAD_BYTES = 256
# A sensor's JSON carries much else (Zigbee2MQTT: battery, link quality, last_seen, update
# state...), often more than 256 bytes; JSON this long may nest deeper than Python recurses.
MAX_SENSOR_PAYLOAD_BYTES = 4096
# A weekly program: up to `MAX_PROGRAM_POINTS` switch points with every key, pretty-printed.
MAX_PROGRAM_PAYLOAD_BYTES = 32768
# A program's problems said in an error report; the rest are counted.
_PROBLEMS_SAID = 4
_QUOTE_CHARS = 64

# ASCII digits only: float() would also take "1_0", "nan", "inf" and non-ASCII digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SWITCH = {"ON": True, "OFF": False}

E = TypeVar("E", bound=StrEnum)


class CommandError(ValueError):
    """A command payload that cannot be accepted; the message says why and what is allowed."""


@dataclass(frozen=True)
class ZoneCommand:
    """A validated command for one zone: the change to make to its settings."""

    zone_id: str
    change: ZoneTransition


@dataclass(frozen=True)
class UnitCommand:
    """A validated command for a system's unit: ``system`` is its level in the unit's topics
    (`<base>/unit/<system>/set/...`), None for the one system of a config without [systems]."""

    system: str | None
    change: UnitTransition


@dataclass(frozen=True)
class ProgramCommand:
    """A validated weekly program for one zone (`set/program`): its switch points in canonical
    order (`schedule_config.canonical_program`), setpoints in °C; none clears it (the config's
    program, if the zone has one, applies again)."""

    zone_id: str
    points: tuple[SwitchPoint, ...]


# A validated settings change: for one zone, its weekly program, or a system's unit.
Command = ZoneCommand | ProgramCommand | UnitCommand


@dataclass(frozen=True)
class SensorReading:
    """A room temperature (°C) for one zone from a remote sensor: a measurement, not a setting."""

    zone_id: str
    celsius: float


def quote_payload(payload: bytes) -> str:
    """A payload as it may appear in a log line or error message: decoded leniently, shortened."""
    text = payload[: _QUOTE_CHARS * 4].decode("utf-8", errors="replace")
    if len(text) > _QUOTE_CHARS or len(payload) > _QUOTE_CHARS * 4:
        text = text[:_QUOTE_CHARS] + "…"
    return repr(text)


def payload_error(field: str, payload: bytes, why: str) -> CommandError:
    """The rejection of a ``field``'s payload: names the field, quotes the payload, says why."""
    return CommandError(f"{field}: payload {quote_payload(payload)} rejected: {why}")


def payload_text(field: str, payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> str:
    """The payload as trimmed UTF-8 text of at most ``max_bytes`` (CommandError otherwise)."""
    if len(payload) > max_bytes:
        raise payload_error(field, payload, f"longer than {max_bytes} bytes")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise payload_error(field, payload, "not valid UTF-8") from None
    if not text:
        raise payload_error(field, payload, "empty")
    return text


def _number(field: str, payload: bytes) -> float:
    text = payload_text(field, payload)
    if not _NUMBER.fullmatch(text):
        raise payload_error(field, payload, "not a decimal number (e.g. 21.5)")
    value = float(text)
    if not math.isfinite(value):
        raise payload_error(field, payload, "not a finite number")
    return value


def _temperature(
    field: str,
    payload: bytes,
    unit: TemperatureUnit,
    low_c: float,
    high_c: float,
    *,
    setpoint: bool = True,
) -> float:
    """A temperature sent in ``unit``, in °C within [low_c, high_c]. A setpoint is kept to 0.1 of
    the unit it was sent in (Home Assistant sends "21.5", some dashboards "21.499999")."""
    value = _number(field, payload)
    if setpoint:
        value = round(value, 1)
    return _celsius_in_range(field, payload, value, unit, low_c, high_c)


def _celsius_in_range(
    field: str, payload: bytes, value: float, unit: TemperatureUnit, low_c: float, high_c: float
) -> float:
    celsius = to_celsius(value, unit)
    # A tiny tolerance so that rounding of the limits themselves never rejects them.
    if not low_c - 1e-9 <= celsius <= high_c + 1e-9:
        low, high = (round(from_celsius(t, unit), 1) for t in (low_c, high_c))
        raise payload_error(field, payload, f"{value:g} is outside {low:g}..{high:g} {unit.symbol}")
    return min(max(celsius, low_c), high_c)


# The head's vane lever behind each swing field of a zone.
SWING_LEVERS = {"swing_mode": "vane_vertical", "swing_horizontal_mode": "vane_horizontal"}


def vane_positions(field: str, capabilities: Capabilities | None) -> tuple[VanePosition, ...]:
    """The positions a zone's swing ``field`` offers: its head's vane lever's, every one where
    the head's capabilities are not known."""
    if capabilities is None:
        return tuple(VanePosition)
    return capabilities.vanes(SWING_LEVERS[field])


def _choice(field: str, payload: bytes, enum: type[E], offered: Sequence[E] | None = None) -> E:
    """A member of ``enum`` by its word; only one of ``offered`` (what the head has) if given."""
    members = tuple(enum) if offered is None else tuple(offered)
    text = payload_text(field, payload)
    for member in members:
        if member.value == text:
            return member
    allowed = ", ".join(member.value for member in members) or "none (the head has no such lever)"
    raise payload_error(field, payload, f"allowed: {allowed}") from None


def _switch(field: str, payload: bytes) -> bool:
    text = payload_text(field, payload)
    if text not in _SWITCH:
        raise payload_error(field, payload, "allowed: ON, OFF")
    return _SWITCH[text]


def parse_zone_command(
    zone: ZoneConfig,
    field: str,
    payload: bytes,
    unit: TemperatureUnit = CELSIUS,
    head: HeadInfo | None = None,
    capabilities: Capabilities | None = None,
    programmed: bool | None = None,
) -> ZoneCommand | ProgramCommand | SensorReading:
    """Validate the payload of ``<base>/zone/<zone>/set/<field>``; raise CommandError if bad.

    Temperatures arrive in ``unit`` and come out in °C; a setpoint must lie within the zone's
    limits (`setpoint_range`). ``head`` (once the head has been probed) refuses swing commands
    for vanes the head does not have. ``capabilities`` (from the head's profile) limits the
    modes, fan steps and vane positions to the head's. ``programmed``: whether the zone has a
    weekly program in effect, from its config or over MQTT (None: whether its config has one),
    without which its schedule cannot be switched. ``remote_temperature`` is a reading, not a
    change."""
    change: ZoneTransition
    if field == "mode":
        modes = None if capabilities is None else zone_modes(capabilities.modes)
        change = SetMode(_choice(field, payload, ZoneMode, modes))
    elif (side := SETPOINT_FIELDS.get(field)) is not None:
        limits = setpoint_range(zone.min_temperature, zone.max_temperature, side)
        change = SetTarget(side, _temperature(field, payload, unit, *limits))
    elif field == "fan_mode":
        fans = None if capabilities is None else capabilities.fans
        change = SetFan(_choice(field, payload, FanSpeed, fans))
    elif field in ("swing_mode", "swing_horizontal_mode"):
        position = _choice(field, payload, VanePosition, vane_positions(field, capabilities))
        vertical = field == "swing_mode"
        if head is not None and not (
            head.has_vertical_vane if vertical else head.has_horizontal_vane
        ):
            vane = "vertical" if vertical else "horizontal"
            raise payload_error(field, payload, f"the head of zone {zone.id!r} has no {vane} vane")
        change = SetSwing(position) if vertical else SetSwingHorizontal(position)
    elif field == "preset_mode":
        # "none" is how Home Assistant clears a preset.
        change = SetPreset(_choice(field, payload, Preset))
    elif field == "power":
        change = SetPower(_switch(field, payload))
    elif field == "schedule":
        on = _switch(field, payload)
        if not (bool(zone.schedule) if programmed is None else programmed):
            raise payload_error(field, payload, f"zone {zone.id!r} has no weekly program")
        change = SetSchedule(on)
    elif field == "program":
        return _program(zone, payload, unit, capabilities)
    elif field == "remote_temperature":
        celsius = _temperature(field, payload, unit, *REMOTE_TEMPERATURE_RANGE, setpoint=False)
        return SensorReading(zone.id, celsius)
    else:
        raise CommandError(
            f"unknown zone field {field!r} (payload {quote_payload(payload)}); "
            f"allowed: {', '.join(ZONE_FIELDS)}"
        )
    return ZoneCommand(zone.id, change)


def _program(
    zone: ZoneConfig, payload: bytes, unit: TemperatureUnit, capabilities: Capabilities | None
) -> ProgramCommand:
    """A zone's weekly program as JSON: the switch points of `[[zones.schedule]]` checked as the
    config's are (their keys, then the modes the head runs and the zone's setpoint range), its
    setpoints in ``unit``."""
    field = "program"
    data = payload_json(field, payload, payload_text(field, payload, MAX_PROGRAM_PAYLOAD_BYTES))
    modes = tuple(ZoneMode) if capabilities is None else zone_modes(capabilities.modes)
    try:
        points = parse_program(_program_in_celsius(data, unit))
    except ValueError as err:
        raise payload_error(field, payload, _first_problems(str(err).split("; "))) from None
    problems = program_problem_lines(points, modes, zone.min_temperature, zone.max_temperature)
    if problems:
        raise payload_error(field, payload, _first_problems(problems))
    return ProgramCommand(zone.id, canonical_program(points))


def _program_in_celsius(data: object, unit: TemperatureUnit) -> object:
    """A program's JSON with its setpoints sent in ``unit`` in °C (kept to 0.1 of the unit they
    were sent in, as a setpoint command's); anything else is left for the check to refuse."""
    if unit is CELSIUS or not isinstance(data, list):
        return data
    return [
        {key: _setpoint_in_celsius(v, unit) if key in SETPOINT_KEYS else v for key, v in p.items()}
        if isinstance(p, dict)
        else p
        for p in data
    ]


def _setpoint_in_celsius(value: object, unit: TemperatureUnit) -> object:
    # Anything but a finite number stays as it is, for the program's own check to refuse.
    number = finite_number(value)
    return value if number is None else to_celsius(round(number, 1), unit)


def _first_problems(problems: Sequence[str]) -> str:
    said = "; ".join(problems[:_PROBLEMS_SAID])
    more = len(problems) - _PROBLEMS_SAID
    return f"{said}; and {more} more" if more > 0 else said


def parse_unit_command(field: str, payload: bytes, system: str | None = None) -> UnitCommand:
    """Validate the payload of ``<base>/unit/set/<field>`` (``<base>/unit/<system>/set/<field>``
    with several systems); raise CommandError if bad."""
    return UnitCommand(system, _unit_change(field, payload))


def _unit_change(field: str, payload: bytes) -> UnitTransition:
    if field == "quiet":
        return SetQuiet(_switch(field, payload))
    if field == "demand_limit":
        value = _number(field, payload)
        # Home Assistant's number entity may send "50.0"; an integral value is accepted.
        if value != int(value):
            raise payload_error(field, payload, "not a whole number of percent")
        if not 0 <= value <= 100:
            raise payload_error(field, payload, f"{value:g} is outside 0..100 %")
        return SetDemandLimit(int(value))
    raise CommandError(
        f"unknown unit field {field!r} (payload {quote_payload(payload)}); "
        f"allowed: {', '.join(UNIT_FIELDS)}"
    )


def parse_remote_sensor(
    payload: bytes, field: str | None, unit: TemperatureUnit = CELSIUS
) -> float:
    """A room temperature (°C) from a foreign sensor topic: a plain number, or a JSON object (as
    Zigbee2MQTT publishes) holding the number under ``field``, in ``unit``. Raise CommandError if
    unusable."""
    name = "remote_temperature"
    text = payload_text(name, payload, MAX_SENSOR_PAYLOAD_BYTES)
    if _NUMBER.fullmatch(text):
        value = float(text)
    elif text.startswith("{"):
        if field is None:
            raise payload_error(
                name, payload, "a JSON object needs remote_sensor_field in the config"
            )
        data = payload_json(name, payload, text)
        if not isinstance(data, dict) or field not in data:
            raise payload_error(name, payload, f"JSON object has no field {field!r}")
        raw = data[field]
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise payload_error(name, payload, f"field {field!r} is not a number")
        value = float(raw)
    else:
        expected = f"a JSON object with field {field!r}" if field else "a number"
        raise payload_error(name, payload, f"expected {expected}")
    if not math.isfinite(value):
        raise payload_error(name, payload, "not a finite number")
    return _celsius_in_range(name, payload, value, unit, *REMOTE_TEMPERATURE_RANGE)


def payload_json(field: str, payload: bytes, text: str) -> object:
    """A payload's ``text`` read as JSON, whose numbers are finite (NaN and Infinity, which
    Python's reader takes, are refused with the rest of what is not JSON)."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise payload_error(field, payload, "not valid JSON") from None


def _reject_constant(constant: str) -> float:
    raise ValueError(f"{constant} is not a number")
