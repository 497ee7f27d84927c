"""The room temperature source: a fresh remote sensor, else the corrected head sensor."""

import pytest

from controller.room_sensor import HeadSensorBias, RoomReading, SensorSource, room_temperature


def test_a_fresh_remote_reading_wins():
    reading = room_temperature(1000.0, 20.3, 500.0, 22.0, remote_timeout_s=900.0)
    assert reading == RoomReading(20.3, SensorSource.REMOTE)


def test_a_stale_or_missing_remote_reading_falls_back_to_the_corrected_head():
    stale = room_temperature(
        2000.0, 20.3, 500.0, 22.0, remote_timeout_s=900.0, head_correction_k=-0.5
    )
    assert stale == RoomReading(21.5, SensorSource.HEAD)
    never = room_temperature(2000.0, None, None, 22.0, remote_timeout_s=900.0)
    assert never == RoomReading(22.0, SensorSource.HEAD)


def test_no_reading_at_all():
    assert room_temperature(0.0, None, None, None, remote_timeout_s=60.0) == RoomReading(
        None, SensorSource.HEAD
    )


def test_the_coil_bias_fades_with_its_time_constant():
    bias = HeadSensorBias(heating_k=1.5, cooling_k=-0.5, tau_s=300.0)
    assert bias.decay(300.0) == pytest.approx(0.3679, abs=1e-4)
    assert bias.decay(0.0) == 1.0
    assert HeadSensorBias(tau_s=0.0).decay(10.0) == 0.0
