"""The room temperature source: a usable remote sensor, else the head's own."""

import pytest

from minisplit.controller.core.room_sensor import (
    HeadSensorBias,
    RoomReading,
    SensorSource,
    room_temperature,
)


def test_a_usable_remote_reading_wins():
    assert room_temperature(20.3, 22.0) == RoomReading(20.3, SensorSource.REMOTE)


def test_without_a_usable_remote_the_head_serves():
    assert room_temperature(None, 21.5) == RoomReading(21.5, SensorSource.HEAD)


def test_no_reading_at_all():
    assert room_temperature(None, None) == RoomReading(None, SensorSource.HEAD)


def test_the_coil_bias_fades_with_its_time_constant():
    bias = HeadSensorBias(heating_k=1.5, cooling_k=-0.5, tau_s=300.0)
    assert bias.decay(300.0) == pytest.approx(0.3679, abs=1e-4)
    assert bias.decay(0.0) == 1.0
    assert HeadSensorBias(tau_s=0.0).decay(10.0) == 0.0
