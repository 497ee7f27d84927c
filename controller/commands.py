"""Commands that arrive over MQTT: strict parsing of payloads, and their pure effect on settings.

Parsing never trusts a payload: it must be UTF-8, trimmed, finite, in range and an exact enum
value, and every rejection is a `CommandError` whose message names the field, the payload and
what would have been accepted. Applying a command is a pure function of the old settings.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, TypeVar, cast

from controller.config import ZoneConfig
from controller.settings import (
    FanMode,
    Preset,
    SwingMode,
    UnitSettings,
    ZoneMode,
    ZoneSettings,
)
from controller.units import TemperatureUnit, from_celsius, to_celsius
from drivers.devices import HeadInfo

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
    "remote_temperature",
)
UNIT_FIELDS = ("quiet", "demand_limit")

# heat_cool keeps the low setpoint at least this far below the high one, so the room has a
# neutral band and the unit does not flip between heating and cooling around one temperature.
HEAT_COOL_DEADBAND_K = 1.0
# What a room sensor may plausibly read; anything outside is a broken or misnamed sensor.
REMOTE_TEMPERATURE_RANGE = (-30.0, 60.0)
# Longer payloads are rejected unread and quoted only in part in error messages.
MAX_PAYLOAD_BYTES = 256
# A sensor's JSON carries much else (Zigbee2MQTT: battery, link quality, last_seen, update
# state...), often more than 256 bytes; JSON this long may nest deeper than Python recurses.
MAX_SENSOR_PAYLOAD_BYTES = 4096
_QUOTE_CHARS = 64

# ASCII digits only: float() would also take "1_0", "nan", "inf" and non-ASCII digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_SWITCH = {"ON": True, "OFF": False}

E = TypeVar("E", bound=StrEnum)


class CommandError(ValueError):
    """A command payload that cannot be accepted; the message says why and what is allowed."""


@dataclass(frozen=True)
class ZoneCommand:
    """A validated command for one zone. ``field`` is the topic's field name; ``value`` is typed:
    ZoneMode (mode), float °C (temperature, temperature_low, temperature_high,
    remote_temperature), FanMode, SwingMode (swing_mode, swing_horizontal_mode), Preset
    (preset_mode) or bool (power)."""

    zone_id: str
    field: str
    value: object


@dataclass(frozen=True)
class UnitCommand:
    """A validated command for the outdoor unit: quiet (bool) or demand_limit (int %, 0–100)."""

    field: Literal["quiet", "demand_limit"]
    value: bool | int


def quote_payload(payload: bytes) -> str:
    """A payload as it may appear in a log line or error message: decoded leniently, shortened."""
    text = payload[: _QUOTE_CHARS * 4].decode("utf-8", errors="replace")
    if len(text) > _QUOTE_CHARS or len(payload) > _QUOTE_CHARS * 4:
        text = text[:_QUOTE_CHARS] + "…"
    return repr(text)


def _fail(field: str, payload: bytes, why: str) -> CommandError:
    return CommandError(f"{field}: payload {quote_payload(payload)} rejected: {why}")


def _text(field: str, payload: bytes, max_bytes: int = MAX_PAYLOAD_BYTES) -> str:
    if len(payload) > max_bytes:
        raise _fail(field, payload, f"longer than {max_bytes} bytes")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _fail(field, payload, "not valid UTF-8") from None
    if not text:
        raise _fail(field, payload, "empty")
    return text


def _number(field: str, payload: bytes) -> float:
    text = _text(field, payload)
    if not _NUMBER.fullmatch(text):
        raise _fail(field, payload, "not a decimal number (e.g. 21.5)")
    value = float(text)
    if not math.isfinite(value):
        raise _fail(field, payload, "not a finite number")
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
        raise _fail(field, payload, f"{value:g} is outside {low:g}..{high:g} {unit.symbol}")
    return min(max(celsius, low_c), high_c)


def _choice(field: str, payload: bytes, enum: type[E]) -> E:
    text = _text(field, payload)
    try:
        return enum(text)
    except ValueError:
        allowed = ", ".join(member.value for member in enum)
        raise _fail(field, payload, f"allowed: {allowed}") from None


def _switch(field: str, payload: bytes) -> bool:
    text = _text(field, payload)
    if text not in _SWITCH:
        raise _fail(field, payload, "allowed: ON, OFF")
    return _SWITCH[text]


def setpoint_limits(zone: ZoneConfig, field: str) -> tuple[float, float]:
    """The range a setpoint command may take. In heat_cool the low setpoint must leave room for
    the deadband below max_temperature and the high one above min_temperature, so that keeping
    the deadband (see `apply_zone_command`) never pushes the other setpoint out of limits."""
    low, high = zone.min_temperature, zone.max_temperature
    if field == "temperature_low":
        return low, high - HEAT_COOL_DEADBAND_K
    if field == "temperature_high":
        return low + HEAT_COOL_DEADBAND_K, high
    return low, high


def parse_zone_command(
    zone: ZoneConfig,
    field: str,
    payload: bytes,
    unit: TemperatureUnit = CELSIUS,
    head: HeadInfo | None = None,
) -> ZoneCommand:
    """Validate the payload of ``<base>/zone/<zone>/set/<field>``; raise CommandError if bad.

    Temperatures arrive in ``unit`` and come out in °C. ``head`` (once the head has been
    probed) refuses swing commands for vanes the head does not have."""
    value: object
    if field == "mode":
        value = _choice(field, payload, ZoneMode)
    elif field in ("temperature", "temperature_low", "temperature_high"):
        value = _temperature(field, payload, unit, *setpoint_limits(zone, field))
    elif field == "fan_mode":
        value = _choice(field, payload, FanMode)
    elif field in ("swing_mode", "swing_horizontal_mode"):
        value = _choice(field, payload, SwingMode)
        vertical = field == "swing_mode"
        if head is not None and not (
            head.has_vertical_vane if vertical else head.has_horizontal_vane
        ):
            vane = "vertical" if vertical else "horizontal"
            raise _fail(field, payload, f"the head of zone {zone.id!r} has no {vane} vane")
    elif field == "preset_mode":
        # "none" is how Home Assistant clears a preset.
        value = _choice(field, payload, Preset)
    elif field == "power":
        value = _switch(field, payload)
    elif field == "remote_temperature":
        value = _temperature(field, payload, unit, *REMOTE_TEMPERATURE_RANGE, setpoint=False)
    else:
        raise CommandError(
            f"unknown zone field {field!r} (payload {quote_payload(payload)}); "
            f"allowed: {', '.join(ZONE_FIELDS)}"
        )
    return ZoneCommand(zone.id, field, value)


def parse_unit_command(field: str, payload: bytes) -> UnitCommand:
    """Validate the payload of ``<base>/unit/set/<field>``; raise CommandError if bad."""
    if field == "quiet":
        return UnitCommand("quiet", _switch(field, payload))
    if field == "demand_limit":
        value = _number(field, payload)
        # Home Assistant's number entity may send "50.0"; an integral value is accepted.
        if value != int(value):
            raise _fail(field, payload, "not a whole number of percent")
        if not 0 <= value <= 100:
            raise _fail(field, payload, f"{value:g} is outside 0..100 %")
        return UnitCommand("demand_limit", int(value))
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
    text = _text(name, payload, MAX_SENSOR_PAYLOAD_BYTES)
    if _NUMBER.fullmatch(text):
        value = float(text)
    elif text.startswith("{"):
        if field is None:
            raise _fail(name, payload, "a JSON object needs remote_sensor_field in the config")
        try:
            data = json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            raise _fail(name, payload, "not valid JSON") from None
        if not isinstance(data, dict) or field not in data:
            raise _fail(name, payload, f"JSON object has no field {field!r}")
        raw = data[field]
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise _fail(name, payload, f"field {field!r} is not a number")
        value = float(raw)
    else:
        expected = f"a JSON object with field {field!r}" if field else "a number"
        raise _fail(name, payload, f"expected {expected}")
    if not math.isfinite(value):
        raise _fail(name, payload, "not a finite number")
    return _celsius_in_range(name, payload, value, unit, *REMOTE_TEMPERATURE_RANGE)


def _reject_constant(constant: str) -> float:
    raise ValueError(f"{constant} is not a number")


def apply_zone_command(settings: ZoneSettings, cmd: ZoneCommand) -> ZoneSettings:
    """The zone's settings after ``cmd`` (pure).

    - mode: sets the mode; switching off remembers the mode it was in (for `power ON`).
    - power OFF: mode off, remembering the running mode; power ON: back to that mode. Either is a
      no-op when the zone is already in that state.
    - temperature / temperature_low / temperature_high: a manual setpoint ends any preset (as on
      a wall thermostat, the homeowner's explicit choice wins). In heat_cool the deadband of
      HEAT_COOL_DEADBAND_K is kept by pushing the other setpoint along, not by rejecting: Home
      Assistant sends a moved range as two messages (low, then high), and rejecting the first
      would lose a perfectly valid range. `parse_zone_command` limits each setpoint so the
      pushed one stays within the zone's limits.
    - fan_mode, swing_mode, swing_horizontal_mode, preset_mode: set that field only.
    - remote_temperature: a measurement, not a setting: the settings are returned unchanged.
    """
    value = cmd.value
    match cmd.field:
        case "mode":
            if value is ZoneMode.OFF:
                return _switched_off(settings)
            return settings.with_changes(mode=value, last_on_mode=value)
        case "power":
            if value:
                if settings.mode is ZoneMode.OFF:
                    return settings.with_changes(mode=settings.last_on_mode)
                return settings
            return _switched_off(settings)
        case "temperature":
            return settings.with_changes(target_temperature=value, preset=Preset.NONE)
        case "temperature_low":
            low = cast(float, value)
            high = max(settings.target_temperature_high, round(low + HEAT_COOL_DEADBAND_K, 1))
            return settings.with_changes(
                target_temperature_low=low, target_temperature_high=high, preset=Preset.NONE
            )
        case "temperature_high":
            high = cast(float, value)
            low = min(settings.target_temperature_low, round(high - HEAT_COOL_DEADBAND_K, 1))
            return settings.with_changes(
                target_temperature_low=low, target_temperature_high=high, preset=Preset.NONE
            )
        case "fan_mode" | "swing_mode" | "swing_horizontal_mode":
            return settings.with_changes(**{cmd.field: value})
        case "preset_mode":
            return settings.with_changes(preset=value)
        case "remote_temperature":
            return settings
    raise ValueError(f"not a zone command field: {cmd.field!r}")


def _switched_off(settings: ZoneSettings) -> ZoneSettings:
    if settings.mode is ZoneMode.OFF:
        return settings
    return settings.with_changes(mode=ZoneMode.OFF, last_on_mode=settings.mode)


def apply_unit_command(settings: UnitSettings, cmd: UnitCommand) -> UnitSettings:
    """The unit's settings after ``cmd`` (pure)."""
    if cmd.field == "quiet":
        return UnitSettings(quiet=bool(cmd.value), demand_limit_pct=settings.demand_limit_pct)
    if cmd.field == "demand_limit":
        return UnitSettings(quiet=settings.quiet, demand_limit_pct=int(cmd.value))
    raise ValueError(f"not a unit command field: {cmd.field!r}")
