"""The outdoor unit's driver: its identity, its status poll, and the compressor command."""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from minisplit.drivers.driver import DeviceDriver, ImplausibleIdentity, Reading
from minisplit.drivers.profile import DeviceKind
from minisplit.drivers.records import OduCommand, OduInfo, OduStatus
from minisplit.drivers.vocabulary import OduMode

_STATUS_BITS = (
    "compressor_running",
    "defrost",
    "oil_return",
    "fault",
    "restart_lockout",
    "valve_heating",
    "heartbeat_lost",
    "quiet_active",
)


class OutdoorUnitDriver(DeviceDriver[OduInfo, OduStatus, OduCommand]):
    kind = DeviceKind.OUTDOOR_UNIT
    identity_registers = (
        "firmware_version",
        "serial_number",
        "rated_heating_capacity",
        "rated_cooling_capacity",
        "min_frequency",
        "max_frequency",
        "max_heads",
    )
    status_registers = (
        "status",
        "compressor_frequency",
        "allowed_max_frequency",
        "outdoor_temperature",
        "outdoor_coil_temperature",
        "discharge_temperature",
        "input_power",
        "energy",
        "fault_code",
        "compressor_starts",
        "operating_hours",
        "mode",
        "frequency_setpoint",
        "quiet_mode",
        "demand_limit",
        "heartbeat",
        "heartbeat_timeout",
    )
    enum_labels: ClassVar[Mapping[str, tuple[str, ...]]] = {"mode": tuple(OduMode)}
    bit_names: ClassVar[Mapping[str, tuple[str, ...]]] = {"status": _STATUS_BITS}

    def _decode_info(self, reading: Reading) -> OduInfo:
        problems = implausible_identity(reading, self.profile["frequency_setpoint"].range)
        if problems:
            raise ImplausibleIdentity(
                f"{self}: implausible identity: "
                + "; ".join(f"{what} ({why})" for what, why in problems)
                + ": is the unit id or the profile wrong?",
                "implausible_identity: " + ", ".join(what for what, _ in problems),
            )
        return OduInfo(
            firmware_version=reading.integer("firmware_version"),
            serial_number=reading.integer("serial_number"),
            rated_heating_capacity_w=reading.number("rated_heating_capacity"),
            rated_cooling_capacity_w=reading.number("rated_cooling_capacity"),
            min_frequency_hz=reading.number("min_frequency"),
            max_frequency_hz=reading.number("max_frequency"),
            max_heads=reading.integer("max_heads"),
        )

    def _decode_status(self, reading: Reading) -> OduStatus:
        flags = reading.flags("status")
        return OduStatus(
            compressor_running=flags["compressor_running"],
            defrost=flags["defrost"],
            oil_return=flags["oil_return"],
            fault=flags["fault"],
            restart_lockout=flags["restart_lockout"],
            valve_heating=flags["valve_heating"],
            heartbeat_lost=flags["heartbeat_lost"],
            quiet_active=flags["quiet_active"],
            compressor_frequency_hz=reading.number("compressor_frequency"),
            allowed_max_frequency_hz=reading.number("allowed_max_frequency"),
            outdoor_temperature=reading.value("outdoor_temperature"),
            outdoor_coil_temperature=reading.value("outdoor_coil_temperature"),
            discharge_temperature=reading.value("discharge_temperature"),
            input_power_w=reading.number("input_power"),
            energy_wh=reading.integer("energy"),
            fault_code=reading.code("fault_code"),
            compressor_starts=reading.integer("compressor_starts"),
            operating_hours=reading.integer("operating_hours"),
            mode=OduMode(reading.label("mode")),
            frequency_setpoint_hz=reading.number("frequency_setpoint"),
            quiet_mode=bool(reading.integer("quiet_mode")),
            demand_limit_pct=reading.integer("demand_limit"),
        )

    def _command_values(self, command: OduCommand) -> dict[str, float | str]:
        return {
            "mode": command.mode,
            "frequency_setpoint": command.frequency_hz,
            "quiet_mode": int(command.quiet),
            "demand_limit": command.demand_limit_pct,
        }


_RATINGS = ("rated_heating_capacity", "rated_cooling_capacity", "min_frequency", "max_frequency")


def implausible_identity(
    reading: Reading, setpoint_range: tuple[float, float] | None
) -> list[tuple[str, str]]:
    """What in an outdoor unit's identity no working unit reports, as (register=value, why).

    The control sizes the compressor's frequency from these ratings, and the safety check
    refuses any frequency outside the profile's setpoint range: on ratings like these the
    compressor would never start while the zones sat at full demand."""
    problems = [
        (f"{name}={reading.number(name):g}", "0 or 0xFFFF: never set, or erased")
        for name in _RATINGS
        if reading.erased(name)
    ]
    if problems:
        return problems
    low, high = reading.number("min_frequency"), reading.number("max_frequency")
    if setpoint_range is not None:
        floor_hz, ceiling_hz = setpoint_range
        problems = [
            (
                f"{name}={value:g}",
                f"outside the profile's frequency_setpoint range {floor_hz:g}..{ceiling_hz:g} Hz",
            )
            for name, value in (("min_frequency", low), ("max_frequency", high))
            if not floor_hz <= value <= ceiling_hz
        ]
    if low > high:
        problems.append((f"min_frequency={low:g}>max_frequency={high:g}", "no range to run in"))
    return problems
