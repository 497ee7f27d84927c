"""An indoor head's driver: identity and capabilities, status poll (with the handheld remote's
pending request), the zone command, and the remote's acknowledgement."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

from minisplit.drivers.driver import DeviceDriver, Reading
from minisplit.drivers.profile import DeviceKind, DeviceProfile
from minisplit.drivers.records import HeadCommand, HeadInfo, HeadStatus, RemoteRequest
from minisplit.drivers.registers import release_words
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, VanePosition


class HeadDriver(DeviceDriver[HeadInfo, HeadStatus, HeadCommand]):
    kind = DeviceKind.INDOOR_HEAD

    async def ack_remote(self) -> None:
        """Tell the head its handheld-remote change was adopted (clears status b4); nothing
        where the profile has no acknowledgement."""
        # Always sent: the register may still read 1 from the previous acknowledgement.
        if "remote_ack" in self.capabilities.levers:
            await self._write({"remote_ack": 1}, force=True)

    def _decode_info(self, reading: Reading) -> HeadInfo:
        levers = self.capabilities.levers

        def has(part: str, register: str) -> bool:
            # The profile says the interface can carry it; the head's own bit, where it has
            # one, says whether this head has it.
            declared = register in levers or register in self.capabilities.readings
            return declared and reading.flag(part, "capabilities") is not False

        return HeadInfo(
            firmware_version=reading.optional_integer("firmware_version"),
            serial_number=reading.optional_integer("serial_number"),
            rated_capacity_w=reading.optional_number("rated_capacity"),
            has_humidity_sensor=has("humidity_sensor", "humidity"),
            has_vertical_vane=has("vertical_vane", "vane_vertical"),
            has_horizontal_vane=has("horizontal_vane", "vane_horizontal"),
        )

    def _decode_status(self, reading: Reading) -> HeadStatus:
        def flag(name: str) -> bool | None:
            return reading.flag(name, "status")

        return HeadStatus(
            fan_running=flag("fan_running"),
            coil_freeze_protection=flag("coil_freeze_protection"),
            condensate_alarm=flag("condensate_alarm"),
            fault=reading.fault(),
            cold_draft_prevention=flag("cold_draft_prevention"),
            heartbeat_lost=flag("heartbeat_lost"),
            thermo_on=flag("thermo_on"),
            return_air_temperature=reading.optional_value("return_air_temperature"),
            coil_temperature=reading.optional_value("coil_temperature"),
            humidity=reading.optional_value("humidity"),
            fault_code=reading.optional_code("fault_code"),
            fan_speed_actual=reading.optional_integer("fan_speed_actual"),
            valve_position_pct=reading.optional_number("valve_position"),
            remote_request=_remote_request(reading) if flag("remote_change_pending") else None,
            power=reading.switch("power"),
            mode=_member(HeadMode, reading.optional_label("mode")),
            fan=_member(FanSpeed, reading.optional_label("fan")),
            vane_vertical=_member(VanePosition, reading.optional_label("vane_vertical")),
            vane_horizontal=_member(VanePosition, reading.optional_label("vane_horizontal")),
            capacity_request_pct=reading.optional_number("capacity_request"),
            display_setpoint=reading.optional_number("display_setpoint"),
            external_temperature=reading.optional_value("external_temperature"),
        )

    def _command_values(self, command: HeadCommand) -> dict[str, float | str]:
        return head_command_values(command, self.profile)

    async def write_external_temperature(self, celsius: float, *, refresh: bool = False) -> None:
        """The room temperature the head regulates on (written only if it changed, unless
        ``refresh``: heads ignore a value not sent again for a while); nothing where the
        profile has no `external_temperature`."""
        if "external_temperature" in self.capabilities.levers:
            await self._write({"external_temperature": celsius}, force=refresh)

    async def release_external_temperature(self) -> bool:
        """Hand regulation back to the head's own sensor: write the register's `release` value
        (sent even if the head holds it). False where the profile has none to write."""
        spec = self.profile.registers.get("external_temperature")
        if (
            spec is None
            or spec.release is None
            or "external_temperature" not in self.capabilities.levers
        ):
            return False
        await self._send({spec.name: release_words(spec)}, force=True)
        return True


def head_command_values(command: HeadCommand, profile: DeviceProfile) -> dict[str, float | str]:
    """Each lever's value (a number, or an enum label) for ``command``: what the driver writes
    and the simulator shows; `power` is 0/1 where its register has no enum. A fan step or vane
    position the head does not have is left out (the head keeps its setting): the zone's
    default fan (`auto`) and the control's quiet fan must not stop a head without them from
    being switched and set. A mode it lacks is refused, as any other value its profile refuses.
    A setpoint inside the register's `range` but outside the mode's (`mode_ranges`) is sent at
    the mode's nearest end, as the unit would hold it: refusing it would refuse the whole
    command, a head's power-off with it."""
    spec = profile.registers.get("power")
    power: float | str = "on" if command.power else "off"
    if spec is not None and not spec.enum:
        power = int(command.power)
    values: dict[str, float | str] = {
        "power": power,
        "mode": command.mode,
        "capacity_request": command.capacity_request_pct,
        "display_setpoint": _within_mode(profile, command.mode, command.display_setpoint),
    }
    for name, label in (
        ("fan", command.fan),
        ("vane_vertical", command.vane_vertical),
        ("vane_horizontal", command.vane_horizontal),
    ):
        comfort = profile.registers.get(name)
        if comfort is not None and label in comfort.enum.values():
            values[name] = label
    return values


def _within_mode(profile: DeviceProfile, mode: str, setpoint: float) -> float:
    spec = profile.registers.get("display_setpoint")
    if spec is None or spec.range is None or not spec.range[0] <= setpoint <= spec.range[1]:
        return setpoint  # no narrower range, or refused by `range` itself
    low, high = spec.mode_range(mode) or spec.range
    return min(max(setpoint, low), high)


_Word = TypeVar("_Word", bound=StrEnum)


def _member(vocabulary: type[_Word], label: str | None) -> _Word | None:
    return None if label is None else vocabulary(label)


def _remote_request(reading: Reading) -> RemoteRequest:
    """What the handheld remote asked for; a field the head reports garbled, or does not
    report, is None."""
    mode = reading.label_or_none("remote_mode") if reading.has("remote_mode") else None
    fan = reading.label_or_none("remote_fan") if reading.has("remote_fan") else None
    return RemoteRequest(
        power=_remote_power(reading),
        mode=_member(HeadMode, mode),
        setpoint=reading.optional_value("remote_setpoint"),
        fan=_member(FanSpeed, fan),
    )


def _remote_power(reading: Reading) -> bool:
    """The remote's power: garbled reads as off (as a head that cannot say it is on); a head
    that does not report it asked for something, so it is taken as on."""
    if not reading.has("remote_power"):
        return True
    if reading.label_or_none("remote_power") == "on":
        return True
    return not reading.enum_of("remote_power") and reading.raw("remote_power") != 0
