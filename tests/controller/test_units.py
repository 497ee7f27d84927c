"""°C inside, °C or °F on MQTT: conversions both ways, advertised limits, state conversion."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.service.state_report import (
    UNIT_TEMPERATURE_FIELDS,
    ZONE_TEMPERATURE_FIELDS,
)
from minisplit.controller.service.temperature_units import (
    TemperatureUnit,
    convert_state,
    from_celsius,
    published,
    setpoint_bounds,
    to_celsius,
)

C, F = TemperatureUnit.CELSIUS, TemperatureUnit.FAHRENHEIT


@pytest.mark.parametrize(("celsius", "fahrenheit"), [(0.0, 32.0), (100.0, 212.0), (-40.0, -40.0)])
def test_fixed_points(celsius: float, fahrenheit: float) -> None:
    assert from_celsius(celsius, F) == pytest.approx(fahrenheit)
    assert to_celsius(fahrenheit, F) == pytest.approx(celsius)
    assert to_celsius(celsius, C) == from_celsius(celsius, C) == celsius


@given(st.integers(min_value=400, max_value=950))
def test_every_tenth_of_a_fahrenheit_degree_comes_back_unchanged(tenths: int) -> None:
    """A dashboard's 72.5 °F goes in as °C and is published back as 72.5 °F."""
    fahrenheit = tenths / 10
    assert published(to_celsius(fahrenheit, F), F) == fahrenheit


def test_advertised_limits_are_whole_fahrenheit_degrees_inside_the_celsius_ones() -> None:
    assert setpoint_bounds(16.0, 30.0, C) == (16.0, 30.0)
    assert setpoint_bounds(16.0, 30.0, F) == (61.0, 86.0)  # 60.8 °F rounds up, 86 °F is exact
    low, high = setpoint_bounds(14.3, 26.7, F)
    assert (low, high) == (58.0, 80.0)
    assert to_celsius(low, F) >= 14.3 and to_celsius(high, F) <= 26.7


def test_state_temperatures_are_converted_and_nothing_else() -> None:
    state = {
        "current_temperature": 20.0,
        "target_temperature": 21.5,
        "target_temperature_low": None,
        "target_temperature_high": float("nan"),
        "demand": 40.0,
        "mode": "heat",
        "available": True,
    }
    shown = convert_state(state, ZONE_TEMPERATURE_FIELDS, F)
    assert shown == {
        "current_temperature": 68.0,
        "target_temperature": 70.7,
        "target_temperature_low": None,
        "target_temperature_high": None,
        "demand": 40.0,
        "mode": "heat",
        "available": True,
    }
    assert convert_state({"outdoor_temperature": -3.04}, UNIT_TEMPERATURE_FIELDS, C) == {
        "outdoor_temperature": -3.0
    }
    assert state["current_temperature"] == 20.0  # the input is not changed
