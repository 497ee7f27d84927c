"""The pure core's parameters from the validated config: the control tuning, the room sensors'
check and what the observation step needs to know of each zone."""

from __future__ import annotations

from controller.config import LoadedConfig, SensorCheckConfig, ZoneConfig
from controller.control import ControlTuning
from controller.observation import ZoneSetup
from controller.sensor_health import SensorCheck
from controller.tuning import control_tuning_from


def sensor_check(config: SensorCheckConfig) -> SensorCheck:
    return SensorCheck(
        min_c=config.min_temperature,
        max_c=config.max_temperature,
        settle_s=config.settle_s,
        stuck_switches=config.stuck_switches,
        stuck_full_demand_s=config.stuck_full_demand_s,
    )


def control_tuning(loaded: LoadedConfig) -> ControlTuning:
    # The writable range of the frequency setpoint is the unit's [min, max]
    # (docs/reference-unit.md).
    frequency_range = loaded.odu_profile["frequency_setpoint"].range
    if frequency_range is None:
        return control_tuning_from(loaded.config.control)
    return control_tuning_from(loaded.config.control, frequency_range)


def zone_setup(zone: ZoneConfig) -> ZoneSetup:
    return ZoneSetup(
        (zone.min_temperature, zone.max_temperature),
        zone.sensor_offset_k,
        zone.remote_sensor_topic is not None,
        zone.remote_sensor_timeout_s,
    )
