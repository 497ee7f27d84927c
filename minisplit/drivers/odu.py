"""The outdoor unit's driver: its identity, its status poll, and the compressor command."""

from __future__ import annotations

from minisplit.drivers.driver import DeviceDriver, ImplausibleIdentity, Reading
from minisplit.drivers.profile import DeviceKind
from minisplit.drivers.records import OduCommand, OduInfo, OduStatus
from minisplit.drivers.vocabulary import OduMode


class OutdoorUnitDriver(DeviceDriver[OduInfo, OduStatus, OduCommand]):
    kind = DeviceKind.OUTDOOR_UNIT

    def _decode_info(self, reading: Reading) -> OduInfo:
        setpoint = self.profile.registers.get("frequency_setpoint")
        problems = implausible_identity(reading, None if setpoint is None else setpoint.range)
        if problems:
            raise ImplausibleIdentity(
                f"{self}: implausible identity: "
                + "; ".join(f"{what} ({why})" for what, why in problems)
                + ": is the unit id or the profile wrong?",
                "implausible_identity: " + ", ".join(what for what, _ in problems),
            )
        return OduInfo(
            firmware_version=reading.optional_integer("firmware_version"),
            serial_number=reading.optional_integer("serial_number"),
            rated_heating_capacity_w=reading.optional_number("rated_heating_capacity"),
            rated_cooling_capacity_w=reading.optional_number("rated_cooling_capacity"),
            min_frequency_hz=reading.optional_number("min_frequency"),
            max_frequency_hz=reading.optional_number("max_frequency"),
            max_heads=reading.optional_integer("max_heads"),
        )

    def _decode_status(self, reading: Reading) -> OduStatus:
        def flag(name: str) -> bool | None:
            return reading.flag(name, "status")

        mode = reading.optional_label("mode")
        quiet = reading.optional_integer("quiet_mode")
        return OduStatus(
            compressor_running=flag("compressor_running"),
            defrost=flag("defrost"),
            oil_return=flag("oil_return"),
            fault=reading.fault(),
            restart_lockout=flag("restart_lockout"),
            valve_heating=flag("valve_heating"),
            heartbeat_lost=flag("heartbeat_lost"),
            quiet_active=flag("quiet_active"),
            compressor_frequency_hz=reading.optional_number("compressor_frequency"),
            allowed_max_frequency_hz=reading.optional_number("allowed_max_frequency"),
            outdoor_temperature=reading.optional_value("outdoor_temperature"),
            outdoor_coil_temperature=reading.optional_value("outdoor_coil_temperature"),
            discharge_temperature=reading.optional_value("discharge_temperature"),
            input_power_w=reading.optional_number("input_power"),
            energy_wh=reading.optional_integer("energy"),
            fault_code=reading.optional_code("fault_code"),
            compressor_starts=reading.optional_integer("compressor_starts"),
            operating_hours=reading.optional_integer("operating_hours"),
            mode=None if mode is None else OduMode(mode),
            frequency_setpoint_hz=reading.optional_number("frequency_setpoint"),
            quiet_mode=None if quiet is None else bool(quiet),
            demand_limit_pct=reading.optional_integer("demand_limit"),
        )

    def _command_values(self, command: OduCommand) -> dict[str, float | str]:
        return {
            "mode": command.mode,
            "frequency_setpoint": command.frequency_hz,
            "quiet_mode": int(command.quiet),
            "demand_limit": command.demand_limit_pct,
        }


_LIMITS = ("min_frequency", "max_frequency")
_RATINGS = ("rated_heating_capacity", "rated_cooling_capacity", "min_frequency", "max_frequency")


def implausible_identity(
    reading: Reading, setpoint_range: tuple[float, float] | None
) -> list[tuple[str, str]]:
    """What in an outdoor unit's identity no working unit reports, as (register=value, why).

    The control sizes the compressor's frequency from these ratings, and the safety check
    refuses any frequency outside the profile's setpoint range: on ratings like these the
    compressor would never start while the zones sat at full demand. Only the registers the
    profile declares are checked."""
    problems = [
        (f"{name}={reading.number(name):g}", "0 or 0xFFFF: never set, or erased")
        for name in _RATINGS
        if reading.has(name) and reading.erased(name)
    ]
    if problems:
        return problems
    limits = [(name, reading.number(name)) for name in _LIMITS if reading.has(name)]
    if setpoint_range is not None:
        floor_hz, ceiling_hz = setpoint_range
        problems = [
            (
                f"{name}={value:g}",
                f"outside the profile's frequency_setpoint range {floor_hz:g}..{ceiling_hz:g} Hz",
            )
            for name, value in limits
            if not floor_hz <= value <= ceiling_hz
        ]
    if len(limits) < len(_LIMITS):
        return problems
    low, high = limits[0][1], limits[1][1]
    if low > high:
        problems.append((f"min_frequency={low:g}>max_frequency={high:g}", "no range to run in"))
    return problems
