"""Temperature units at the MQTT edge: the controller works in °C inside; a Fahrenheit house
sees and sends °F on MQTT, converted here both ways (state, commands, setpoint limits)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from enum import StrEnum


class TemperatureUnit(StrEnum):
    """The values are Home Assistant's `temperature_unit` spelling."""

    CELSIUS = "C"
    FAHRENHEIT = "F"

    @property
    def symbol(self) -> str:
        return "°C" if self is TemperatureUnit.CELSIUS else "°F"


# Published temperatures carry one decimal in either unit: the registers hold 0.1 °C.
_PUBLISHED_DECIMALS = 1
# A setpoint arriving in °F is kept to this many decimals once in °C: enough that every 0.1 °F
# a dashboard can send comes back as the same 0.1 °F (1 mK is far below any sensor's noise).
_CELSIUS_FROM_FAHRENHEIT_DECIMALS = 3


def to_celsius(value: float, unit: TemperatureUnit) -> float:
    if unit is TemperatureUnit.CELSIUS:
        return value
    return round((value - 32.0) / 1.8, _CELSIUS_FROM_FAHRENHEIT_DECIMALS)


def from_celsius(value: float, unit: TemperatureUnit) -> float:
    if unit is TemperatureUnit.CELSIUS:
        return value
    return value * 1.8 + 32.0


def published(value: float, unit: TemperatureUnit) -> float:
    """A °C value as it appears on MQTT in ``unit``."""
    return round(from_celsius(value, unit), _PUBLISHED_DECIMALS)


def setpoint_bounds(low_c: float, high_c: float, unit: TemperatureUnit) -> tuple[float, float]:
    """The setpoint range to advertise in ``unit``: in °F whole degrees inside the °C limits
    (16..30 °C → 61..86 °F), so that a thermostat card stepping by 1 °F stays in range."""
    if unit is TemperatureUnit.CELSIUS:
        return low_c, high_c
    low, high = from_celsius(low_c, unit), from_celsius(high_c, unit)
    # The epsilon absorbs float error on exact conversions (16 °C is 60.8 °F, 30 °C is 86 °F).
    return float(math.ceil(low - 1e-9)), float(math.floor(high + 1e-9))


def convert_state(
    state: Mapping[str, object], fields: tuple[str, ...], unit: TemperatureUnit
) -> dict[str, object]:
    """A state dict with its temperature ``fields`` (°C or None) expressed in ``unit``."""
    converted = dict(state)
    for name in fields:
        value = converted.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            converted[name] = published(float(value), unit) if math.isfinite(value) else None
    return converted
