"""An indoor head's driver: identity and capabilities, status poll (with the handheld remote's
pending request), the zone command, and the remote's acknowledgement."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from minisplit.drivers.driver import DeviceDriver, Reading
from minisplit.drivers.profile import DeviceKind
from minisplit.drivers.records import HeadCommand, HeadInfo, HeadStatus, RemoteRequest
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, VanePosition

_ON_OFF = ("off", "on")
_STATUS_BITS = (
    "fan_running",
    "coil_freeze_protection",
    "condensate_alarm",
    "fault",
    "remote_change_pending",
    "cold_draft_prevention",
    "heartbeat_lost",
)
_CAPABILITY_BITS = ("humidity_sensor", "vertical_vane", "horizontal_vane")


class HeadDriver(DeviceDriver[HeadInfo, HeadStatus, HeadCommand]):
    kind = DeviceKind.INDOOR_HEAD
    identity_registers = (
        "firmware_version",
        "serial_number",
        "rated_capacity",
        "capabilities",
    )
    status_registers = (
        "status",
        "return_air_temperature",
        "coil_temperature",
        "humidity",
        "fault_code",
        "fan_speed_actual",
        "valve_position",
        # Read every cycle although only meaningful while status b4 is set: they sit inside
        # the same block as the status, so they cost no extra transaction.
        "remote_power",
        "remote_mode",
        "remote_setpoint",
        "remote_fan",
        "power",
        "mode",
        "fan",
        "vane_vertical",
        "vane_horizontal",
        "capacity_request",
        "display_setpoint",
        "remote_ack",
        "heartbeat",
        "heartbeat_timeout",
    )
    enum_labels: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "power": _ON_OFF,
        "mode": tuple(HeadMode),
        "fan": tuple(FanSpeed),
        "vane_vertical": tuple(VanePosition),
        "vane_horizontal": tuple(VanePosition),
        "remote_power": _ON_OFF,
        "remote_mode": tuple(HeadMode),
        "remote_fan": tuple(FanSpeed),
    }
    bit_names: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "status": _STATUS_BITS,
        "capabilities": _CAPABILITY_BITS,
    }

    async def ack_remote(self) -> None:
        """Tell the head its handheld-remote change was adopted (clears status b4)."""
        # Always sent: the register may still read 1 from the previous acknowledgement.
        await self._write({"remote_ack": 1}, force=True)

    def _decode_info(self, reading: Reading) -> HeadInfo:
        capabilities = reading.flags("capabilities")
        return HeadInfo(
            firmware_version=reading.integer("firmware_version"),
            serial_number=reading.integer("serial_number"),
            rated_capacity_w=reading.number("rated_capacity"),
            has_humidity_sensor=capabilities["humidity_sensor"],
            has_vertical_vane=capabilities["vertical_vane"],
            has_horizontal_vane=capabilities["horizontal_vane"],
        )

    def _decode_status(self, reading: Reading) -> HeadStatus:
        flags = reading.flags("status")
        return HeadStatus(
            fan_running=flags["fan_running"],
            coil_freeze_protection=flags["coil_freeze_protection"],
            condensate_alarm=flags["condensate_alarm"],
            fault=flags["fault"],
            cold_draft_prevention=flags["cold_draft_prevention"],
            heartbeat_lost=flags["heartbeat_lost"],
            return_air_temperature=reading.value("return_air_temperature"),
            coil_temperature=reading.value("coil_temperature"),
            humidity=reading.value("humidity"),
            fault_code=reading.code("fault_code"),
            fan_speed_actual=reading.integer("fan_speed_actual"),
            valve_position_pct=reading.number("valve_position"),
            remote_request=_remote_request(reading) if flags["remote_change_pending"] else None,
            power=reading.label("power") == "on",
            mode=HeadMode(reading.label("mode")),
            fan=FanSpeed(reading.label("fan")),
            vane_vertical=VanePosition(reading.label("vane_vertical")),
            vane_horizontal=VanePosition(reading.label("vane_horizontal")),
            capacity_request_pct=reading.number("capacity_request"),
            display_setpoint=reading.number("display_setpoint"),
        )

    def _command_values(self, command: HeadCommand) -> dict[str, float | str]:
        return {
            "power": "on" if command.power else "off",
            "mode": command.mode,
            "fan": command.fan,
            "vane_vertical": command.vane_vertical,
            "vane_horizontal": command.vane_horizontal,
            "capacity_request": command.capacity_request_pct,
            "display_setpoint": command.display_setpoint,
        }


def _remote_request(reading: Reading) -> RemoteRequest:
    """What the handheld remote asked for; a field the head reports garbled is None."""
    mode = reading.label_or_none("remote_mode")
    fan = reading.label_or_none("remote_fan")
    return RemoteRequest(
        power=reading.label_or_none("remote_power") == "on",
        mode=None if mode is None else HeadMode(mode),
        setpoint=reading.value("remote_setpoint"),
        fan=None if fan is None else FanSpeed(fan),
    )
