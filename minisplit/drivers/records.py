"""Decoded device data and typed commands: what the drivers return and accept."""

from __future__ import annotations

from dataclasses import dataclass

from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition


@dataclass(frozen=True)
class OduInfo:
    """What the outdoor unit says about itself once, at probe time."""

    firmware_version: int
    serial_number: int
    rated_heating_capacity_w: float
    rated_cooling_capacity_w: float
    min_frequency_hz: float
    max_frequency_hz: float
    max_heads: int


@dataclass(frozen=True)
class OduStatus:
    """One poll of the outdoor unit: input registers and the holding registers' read-back."""

    compressor_running: bool
    defrost: bool
    oil_return: bool
    fault: bool
    restart_lockout: bool
    valve_heating: bool
    heartbeat_lost: bool
    quiet_active: bool
    compressor_frequency_hz: float
    allowed_max_frequency_hz: float
    outdoor_temperature: float | None
    outdoor_coil_temperature: float | None
    discharge_temperature: float | None
    input_power_w: float
    energy_wh: int
    fault_code: str
    compressor_starts: int
    operating_hours: int
    mode: OduMode
    frequency_setpoint_hz: float
    quiet_mode: bool
    demand_limit_pct: int


@dataclass(frozen=True)
class OduCommand:
    """What the controller wants the outdoor unit to do."""

    mode: OduMode
    frequency_hz: float
    quiet: bool = False
    demand_limit_pct: int = 100


@dataclass(frozen=True)
class HeadInfo:
    firmware_version: int
    serial_number: int
    rated_capacity_w: float
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
    """One poll of an indoor head."""

    fan_running: bool
    coil_freeze_protection: bool
    condensate_alarm: bool
    fault: bool
    cold_draft_prevention: bool
    heartbeat_lost: bool
    return_air_temperature: float | None
    coil_temperature: float | None
    humidity: float | None
    fault_code: str
    fan_speed_actual: int
    valve_position_pct: float
    remote_request: RemoteRequest | None
    power: bool
    mode: HeadMode
    fan: FanSpeed
    vane_vertical: VanePosition
    vane_horizontal: VanePosition
    capacity_request_pct: float
    display_setpoint: float


@dataclass(frozen=True)
class HeadCommand:
    """What the controller wants an indoor head to do."""

    power: bool
    mode: HeadMode
    fan: FanSpeed
    vane_vertical: VanePosition
    vane_horizontal: VanePosition
    capacity_request_pct: float
    display_setpoint: float
