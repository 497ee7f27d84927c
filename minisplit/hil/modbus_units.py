"""The reference outdoor unit and indoor heads at register level (docs/reference-unit.md).

A thin mapping, with no behaviour of its own: writes to holding registers (and coils) are
checked against the device profile (exceptions 0x02/0x03) and handed to the unit's firmware
(`hil.firmware`) as typed commands; input registers (and discrete inputs) are encoded from the
firmware's status view on every read.
So a controller meets the same unit over Modbus as the benchmark does through the firmware."""

from __future__ import annotations

import math
from collections.abc import Mapping

from pymodbus.constants import ExcCodes

from minisplit.drivers.head import head_command_values
from minisplit.drivers.profile import DeviceProfile, RegisterSpec
from minisplit.drivers.records import HeadCommand, OduCommand
from minisplit.drivers.registers import (
    check_writable,
    enum_value,
    is_release,
)
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition
from minisplit.hil.firmware import HeadFirmware, OutdoorFirmware
from minisplit.hil.heatpump import OutdoorUnitRatings
from minisplit.hil.register_map import InputValues, ModbusUnit, RegisterAccessError

FIRMWARE_VERSION = 0x0102  # 1.2
ODU_SERIAL_BASE = 2_024_000_000
HEAD_SERIAL_BASE = 2_025_000_000

# Holding-register defaults that the profiles do not give (all others default to 0).
ODU_HOLDING_DEFAULTS: Mapping[str, float] = {"demand_limit": 100}
HEAD_COMMAND_REGISTERS = frozenset(
    {
        "power",
        "mode",
        "fan",
        "vane_vertical",
        "vane_horizontal",
        "capacity_request",
        "display_setpoint",
    }
)
ODU_COMMAND_REGISTERS = frozenset({"mode", "frequency_setpoint", "quiet_mode", "demand_limit"})


def _start_watchdog(unit: ModbusUnit, firmware: HeadFirmware | OutdoorFirmware) -> None:
    """A unit whose profile has no heartbeat never falls back to its own logic."""
    registers = unit.profile.registers
    has_heartbeat = "heartbeat" in registers and "heartbeat_timeout" in registers
    firmware.watchdog.set_timeout(unit.holding("heartbeat_timeout") if has_heartbeat else 0)


def _code(spec: RegisterSpec | None, label: str) -> int:
    """A fault code's raw value: its label's, else 0 for none and the first other code for
    any fault the profile does not name."""
    if spec is None:
        return 0
    codes = {name: raw for raw, name in spec.enum.items()}
    if label in codes:
        return codes[label]
    return 0 if label == "none" else next((raw for raw in spec.enum if raw != 0), 1)


def _watchdog_writes(changed: Mapping[str, tuple[float, float]]) -> tuple[bool, float | None]:
    """(a sign of life, a new timeout) in a write. A heartbeat counts only when it changes
    (docs/reference-unit.md, 'Heartbeat and autonomous fallback'); a controller stuck writing one
    value is as good as dead."""
    beat = "heartbeat" in changed and changed["heartbeat"][0] != changed["heartbeat"][1]
    timeout = changed["heartbeat_timeout"][1] if "heartbeat_timeout" in changed else None
    return beat, timeout


class IndoorHead(ModbusUnit):
    """One indoor head (docs/reference-unit.md) over its firmware."""

    def __init__(self, profile: DeviceProfile, unit_id: int, firmware: HeadFirmware) -> None:
        super().__init__(profile)
        self.unit_id = unit_id
        self.firmware = firmware
        # A lever the profile gives no start value shows what the head does at power-on.
        self._show(head_command_values(firmware.command, profile), undefaulted=True)
        firmware.apply(self._command())
        _start_watchdog(self, firmware)

    @property
    def zone_id(self) -> str:
        return self.firmware.zone

    def _command(self) -> HeadCommand:
        """The command the registers hold; a lever the profile lacks keeps the firmware's."""
        c = self.firmware.command
        has = self._has
        return HeadCommand(
            power=self.holding("power") == 1 if has("power") else c.power,
            mode=HeadMode(self._label("mode")) if has("mode") else c.mode,
            fan=FanSpeed(self._label("fan")) if has("fan") else c.fan,
            vane_vertical=VanePosition(self._label("vane_vertical"))
            if has("vane_vertical")
            else c.vane_vertical,
            vane_horizontal=VanePosition(self._label("vane_horizontal"))
            if has("vane_horizontal")
            else c.vane_horizontal,
            capacity_request_pct=self.holding("capacity_request")
            if has("capacity_request")
            else c.capacity_request_pct,
            display_setpoint=self.holding("display_setpoint")
            if has("display_setpoint")
            else c.display_setpoint,
        )

    def _written(self, changed: Mapping[str, tuple[float, float]]) -> None:
        firmware = self.firmware
        self._setpoint_in_mode("display_setpoint" in changed)
        if changed.keys() & HEAD_COMMAND_REGISTERS:
            try:
                firmware.apply(self._command())
            except ValueError as err:  # the profile allowed what the head cannot do
                raise RegisterAccessError(ExcCodes.ILLEGAL_VALUE, str(err)) from None
        if "external_temperature" in changed:  # released: the head's own sensor again
            released = is_release(
                self.profile["external_temperature"], self._words_of("external_temperature")
            )
            firmware.external_temperature = None if released else changed["external_temperature"][1]
        if "remote_ack" in changed and changed["remote_ack"][1] == 1:
            firmware.ack_remote()
        beat, timeout = _watchdog_writes(changed)
        if timeout is not None:
            firmware.watchdog.set_timeout(timeout)
        if beat:
            firmware.beat()

    def _setpoint_in_mode(self, written: bool) -> None:
        """The setpoint within its mode's range (`mode_ranges`): a setpoint ``written`` outside
        it is refused; a mode change brings the one held into the new mode's range."""
        spec = self.profile.registers.get("display_setpoint")
        if spec is None or not spec.mode_ranges or not self._has("mode"):
            return
        mode = self._label("mode")
        span = spec.mode_range(mode)
        setpoint = self.holding("display_setpoint")
        if span is None or span[0] <= setpoint <= span[1]:
            return
        if written:
            raise RegisterAccessError(
                ExcCodes.ILLEGAL_VALUE,
                f"display_setpoint: {setpoint} is outside {span[0]}..{span[1]} in {mode}",
            )
        self._set_holding("display_setpoint", min(max(setpoint, span[0]), span[1]))

    def press_remote(
        self,
        *,
        power: bool | None = None,
        mode: str | None = None,
        setpoint: float | None = None,
        fan: str | None = None,
    ) -> None:
        """Someone uses the handheld remote: the firmware takes it, the registers show it."""
        if setpoint is not None and self._has("display_setpoint"):
            check_writable(self.profile["display_setpoint"], setpoint)
        self.firmware.press_remote(power=power, mode=mode, setpoint=setpoint, fan=fan)
        self._show(head_command_values(self.firmware.command, self.profile))

    def input_values(self) -> InputValues:
        view = self.firmware.status()
        registers = self.profile.registers
        remote = view.last_remote
        flags = {
            "humidity_sensor": view.has_humidity_sensor,
            "vertical_vane": view.has_vertical_vane,
            "horizontal_vane": view.has_horizontal_vane,
            "fan_running": view.fan_running,
            "fault": view.fault,
            "remote_change_pending": view.remote_pending,
            "cold_draft_prevention": view.cold_draft_prevention,
            "heartbeat_lost": view.heartbeat_lost,
            "thermo_on": view.thermo_on,
        }
        remote_mode = None if remote is None else remote.mode
        remote_fan = None if remote is None else remote.fan
        return self._served(
            {
                "firmware_version": FIRMWARE_VERSION,
                "serial_number": HEAD_SERIAL_BASE + self.unit_id,
                "rated_capacity": view.rated_capacity_w,
                "return_air_temperature": view.return_air_temperature,
                "coil_temperature": view.coil_temperature,
                "humidity": view.humidity,
                "fault_code": _code(registers.get("fault_code"), view.fault_code),
                "fan_speed_actual": view.fan_speed_actual,
                "valve_position": view.valve_position_pct,
                "remote_power": 0 if remote is None else int(remote.power),
                "remote_mode": _raw_or_zero(registers.get("remote_mode"), remote_mode),
                "remote_setpoint": None if remote is None else remote.setpoint,
                "remote_fan": _raw_or_zero(registers.get("remote_fan"), remote_fan),
            },
            flags,
        )


def _raw_or_zero(spec: RegisterSpec | None, label: str | None) -> int:
    return 0 if spec is None or label is None else enum_value(spec, label)


class OutdoorUnit(ModbusUnit):
    """The inverter outdoor unit (docs/reference-unit.md) over its firmware."""

    def __init__(self, profile: DeviceProfile, unit_id: int, firmware: OutdoorFirmware) -> None:
        super().__init__(profile, ODU_HOLDING_DEFAULTS)
        self.unit_id = unit_id
        self.firmware = firmware
        firmware.apply(self._command())
        _start_watchdog(self, firmware)

    @property
    def ratings(self) -> OutdoorUnitRatings:
        return self.firmware.ratings

    def _command(self) -> OduCommand:
        """The command the registers hold; a lever the profile lacks keeps the firmware's."""
        c = self.firmware.command
        has = self._has
        return OduCommand(
            mode=OduMode(self._label("mode")) if has("mode") else c.mode,
            frequency_hz=self.holding("frequency_setpoint")
            if has("frequency_setpoint")
            else c.frequency_hz,
            quiet=self.holding("quiet_mode") == 1 if has("quiet_mode") else c.quiet,
            demand_limit_pct=int(self.holding("demand_limit"))
            if has("demand_limit")
            else c.demand_limit_pct,
        )

    def _written(self, changed: Mapping[str, tuple[float, float]]) -> None:
        if changed.keys() & ODU_COMMAND_REGISTERS:
            try:
                self.firmware.apply(self._command())
            except ValueError as err:  # the profile allowed what the unit cannot do
                raise RegisterAccessError(ExcCodes.ILLEGAL_VALUE, str(err)) from None
        beat, timeout = _watchdog_writes(changed)
        if timeout is not None:
            self.firmware.watchdog.set_timeout(timeout)
        if beat:
            self.firmware.beat()

    def input_values(self) -> InputValues:
        view = self.firmware.status()
        flags = {
            "compressor_running": view.running,
            "defrost": view.defrost,
            "fault": view.fault,
            "restart_lockout": view.restart_lockout,
            "valve_heating": view.valve_heating,
            "heartbeat_lost": view.heartbeat_lost,
            "quiet_active": view.quiet_active,
        }
        return self._served(
            {
                "firmware_version": FIRMWARE_VERSION,
                "serial_number": ODU_SERIAL_BASE + self.unit_id,
                "rated_heating_capacity": view.rated_heating_w,
                "rated_cooling_capacity": view.rated_cooling_w,
                "min_frequency": view.min_frequency_hz,
                "max_frequency": view.max_frequency_hz,
                "max_heads": view.max_heads,
                "compressor_frequency": view.compressor_frequency_hz,
                "allowed_max_frequency": view.allowed_max_frequency_hz,
                "outdoor_temperature": view.outdoor_temperature,
                "outdoor_coil_temperature": view.outdoor_coil_temperature,
                "discharge_temperature": view.discharge_temperature,
                "input_power": view.input_power_w,
                "energy": math.floor(view.energy_wh) % 2**32,
                "fault_code": _code(self.profile.registers.get("fault_code"), view.fault_code),
                "compressor_starts": view.starts % 2**16,
                "operating_hours": view.operating_hours % 2**16,
            },
            flags,
        )
