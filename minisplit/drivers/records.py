"""Decoded device data and typed commands: what the drivers return and accept."""

from __future__ import annotations

from dataclasses import dataclass

from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition


@dataclass(frozen=True)
class OduInfo:
    """What the outdoor unit says about itself once, at probe time: None where its profile has
    no such register (drivers.capabilities)."""

    firmware_version: int | None
    serial_number: int | None
    rated_heating_capacity_w: float | None
    rated_cooling_capacity_w: float | None
    min_frequency_hz: float | None
    max_frequency_hz: float | None
    max_heads: int | None


@dataclass(frozen=True)
class OduStatus:
    """One poll of the outdoor unit: input registers and the holding registers' read-back;
    None where its profile has no such register or bit, or (temperatures) a sensor fault."""

    compressor_running: bool | None
    defrost: bool | None
    oil_return: bool | None
    fault: bool | None  # the fault flag, or where there is none a fault_code other than none
    restart_lockout: bool | None
    valve_heating: bool | None
    heartbeat_lost: bool | None
    quiet_active: bool | None
    compressor_frequency_hz: float | None
    allowed_max_frequency_hz: float | None
    outdoor_temperature: float | None
    outdoor_coil_temperature: float | None
    discharge_temperature: float | None
    input_power_w: float | None
    energy_wh: int | None
    fault_code: str | None
    compressor_starts: int | None
    operating_hours: int | None
    mode: OduMode | None
    frequency_setpoint_hz: float | None
    quiet_mode: bool | None
    demand_limit_pct: int | None


@dataclass(frozen=True)
class OduCommand:
    """What the controller wants the outdoor unit to do."""

    mode: OduMode
    frequency_hz: float
    quiet: bool = False
    demand_limit_pct: int = 100


@dataclass(frozen=True)
class HeadInfo:
    """What a head says about itself once, at probe time (None where its profile has no such
    register), and the parts it has: a part its profile declares no register for is absent."""

    firmware_version: int | None
    serial_number: int | None
    rated_capacity_w: float | None
    has_humidity_sensor: bool
    has_vertical_vane: bool
    has_horizontal_vane: bool


@dataclass(frozen=True)
class RemoteRequest:
    """A change made on the handheld IR remote (head status b4), waiting to be adopted."""

    power: bool
    mode: HeadMode | None
    setpoint: float | None
    fan: FanSpeed | None


@dataclass(frozen=True)
class HeadStatus:
    """One poll of an indoor head: None where its profile has no such register or bit, or
    (temperatures, humidity) a sensor fault."""

    fan_running: bool | None
    coil_freeze_protection: bool | None
    condensate_alarm: bool | None
    fault: bool | None  # the fault flag, or where there is none a fault_code other than none
    cold_draft_prevention: bool | None
    heartbeat_lost: bool | None
    thermo_on: bool | None  # the head's thermostat calls for refrigerant
    return_air_temperature: float | None
    coil_temperature: float | None
    humidity: float | None
    fault_code: str | None
    fan_speed_actual: int | None
    valve_position_pct: float | None
    remote_request: RemoteRequest | None
    power: bool | None
    mode: HeadMode | None
    fan: FanSpeed | None
    vane_vertical: VanePosition | None
    vane_horizontal: VanePosition | None
    capacity_request_pct: float | None
    display_setpoint: float | None
    external_temperature: float | None = None  # the room temperature the master last wrote


@dataclass(frozen=True)
class HeadCommand:
    """What the controller wants an indoor head to do; the driver writes only the levers the
    head's profile has."""

    power: bool
    mode: HeadMode
    fan: FanSpeed
    vane_vertical: VanePosition
    vane_horizontal: VanePosition
    capacity_request_pct: float
    display_setpoint: float
