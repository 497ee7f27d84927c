"""The reference outdoor unit and indoor heads at register level (docs/reference-unit.md).

A thin mapping, with no behaviour of its own: writes to holding registers (and coils) are
checked against the device profile (exceptions 0x02/0x03) and handed to the unit's firmware
(`hil.firmware`) as typed commands; input registers (and discrete inputs) are encoded from the
firmware's status view on every read.
So a controller meets the same unit over Modbus as the benchmark does through the firmware."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from pymodbus.constants import ExcCodes

from minisplit.drivers.head import head_command_values
from minisplit.drivers.profile import DeviceProfile, RegisterSpec, Table
from minisplit.drivers.records import HeadCommand, OduCommand
from minisplit.drivers.registers import (
    RegisterValueError,
    check_writable,
    decode,
    encode_value,
    enum_value,
    field_words,
    is_release,
    raw_from_value,
    words_from_raw,
)
from minisplit.drivers.vocabulary import FanSpeed, HeadMode, OduMode, VanePosition
from minisplit.hil.firmware import HeadFirmware, OutdoorFirmware
from minisplit.hil.heatpump import OutdoorUnitRatings

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


class RegisterAccessError(Exception):
    """A request the unit refuses, with the Modbus exception code it answers."""

    def __init__(self, code: ExcCodes, message: str) -> None:
        super().__init__(message)
        self.code = code


InputValues = dict[str, float | None]


class ModbusUnit:
    """A device's register map: stored holding words and coils, input registers and discrete
    inputs computed on read (a coil or discrete input is the word 0 or 1 here).

    Subclasses give `input_values()` and hand changed holding registers to their firmware in
    `_written()`."""

    def __init__(
        self, profile: DeviceProfile, holding_defaults: Mapping[str, float] | None = None
    ) -> None:
        self.profile = profile
        # The registers at each address: one, or the fields of one word.
        self._covering: dict[Table, dict[int, list[RegisterSpec]]] = {t: {} for t in Table}
        for spec in profile.registers.values():
            for address in range(spec.address, spec.last_address + 1):
                self._covering[spec.table].setdefault(address, []).append(spec)
        # The stored words of the writable tables (holding registers, coils).
        self._stored: dict[Table, dict[int, int]] = {Table.HOLDING: {}, Table.COIL: {}}
        self._values: dict[str, float] = {}  # decoded copies of the stored registers
        # Tables with registers the firmware fills on read: input registers, discrete inputs,
        # and a writable table's read-only registers (an interface's holding-register map).
        self._live = {spec.table for spec in profile.registers.values() if not spec.writable}
        # Input registers forced by fault injection (None reads as the invalid sentinel).
        self.overrides: dict[str, float | None] = {}
        defaults = holding_defaults or {}
        for spec in [*profile.table(Table.HOLDING), *profile.table(Table.COIL)]:
            value = spec.default if spec.default is not None else defaults.get(spec.name, 0)
            if spec.default is None and spec.enum and value not in spec.enum:
                value = next(iter(spec.enum))  # an enum without 0: its first code
            self._store(spec, encode_value(spec, value))

    # ---- register image ----

    def span(self, table: Table) -> tuple[int, int] | None:
        """First and last address of a table, or None when the profile has no such table."""
        addresses = self._covering[table]
        return (min(addresses), max(addresses)) if addresses else None

    def writable_at(self, address: int) -> bool:
        return any(spec.writable for spec in self._covering[Table.HOLDING].get(address, ()))

    def words(self, table: Table, address: int, count: int) -> list[int]:
        """Words of a read; gaps inside the table read 0, outside it or over one of the
        profile's reserved addresses → ILLEGAL_ADDRESS."""
        span = self.span(table)
        last = address + count - 1
        if span is None or address < span[0] or last > span[1]:
            raise RegisterAccessError(
                ExcCodes.ILLEGAL_ADDRESS, f"{table} {address}+{count} outside the table"
            )
        refuse_reserved(self.profile, table, address, count)
        return self.image(table, address, count)

    def image(self, table: Table, address: int, count: int) -> list[int]:
        """What the table holds from ``address`` on, reserved addresses and gaps reading 0: the
        server's initial datastore spans the whole table (a read is checked by `words`)."""
        image: dict[int, int] = {}
        if table.writable:
            image = self._stored[table]
            if table not in self._live:
                return [image.get(a, 0) for a in range(address, address + count)]
            image = dict(image)
        for name, value in {**self.input_values(), **self.overrides}.items():
            spec = self.profile[name]
            if spec.table is not table or spec.writable:
                continue
            for at, word in enumerate(encode_value(spec, value), spec.address):
                image[at] = image.get(at, 0) & ~spec.word_mask | word
        return [image.get(a, 0) for a in range(address, address + count)]

    def write_words(self, address: int, words: Sequence[int]) -> None:
        """A Modbus write (function 06 or 16): all registers are checked before any changes."""
        self._write_table(Table.HOLDING, address, words)

    def write_coils(self, address: int, bits: Sequence[int]) -> None:
        """A Modbus write of coils (function 05 or 15), each 0 or 1, checked like `write_words`."""
        self._write_table(Table.COIL, address, bits)

    def _write_table(self, table: Table, address: int, words: Sequence[int]) -> None:
        changes: list[tuple[RegisterSpec, list[int]]] = []
        end = address + len(words)
        a = address
        while a < end:
            specs = [spec for spec in self._covering[table].get(a, ()) if spec.writable]
            if not specs:
                raise RegisterAccessError(ExcCodes.ILLEGAL_ADDRESS, f"{table} {a} is not writable")
            for spec in specs:  # a word of fields: each field takes its own bits
                if spec.address != a or spec.last_address >= end:
                    raise RegisterAccessError(
                        ExcCodes.ILLEGAL_ADDRESS, f"{spec.name} must be written whole"
                    )
                part = field_words(spec, [w & 0xFFFF for w in words[a - address :][: spec.count]])
                _check_write(spec, part)
                changes.append((spec, part))
            a += specs[0].count
        changed: dict[str, tuple[float, float]] = {}
        previous: list[tuple[RegisterSpec, list[int]]] = []
        for spec, part in changes:
            before = self.holding(spec.name)
            stored = self._stored[spec.table]
            previous.append((spec, [stored[spec.address + i] for i in range(spec.count)]))
            self._store(spec, part)
            changed[spec.name] = (before, self.holding(spec.name))
        try:
            self._written(changed)
        except RegisterAccessError:
            for spec, part in previous:  # the unit refused: the registers stay as they were
                self._store(spec, part)
            raise

    def write(self, name: str, value: float) -> None:
        """Write an engineering value exactly as a Modbus master would (same checks, same
        exception codes); a field's word keeps the other fields as they are."""
        spec = self.profile[name]
        try:
            words = words_from_raw(spec, raw_from_value(spec, value))
        except RegisterValueError as err:
            raise RegisterAccessError(ExcCodes.ILLEGAL_VALUE, str(err)) from None
        stored = self._stored[spec.table].get(spec.address, 0)
        words[0] |= stored & ~spec.word_mask
        self._write_table(spec.table, spec.address, words)

    def holding(self, name: str) -> float:
        """Engineering value of a holding register or coil."""
        return self._values[name]

    def value(self, name: str) -> float | int | None:
        """Engineering value of any register, as a Modbus read would decode it."""
        spec = self.profile[name]
        return decode(spec, self.words(spec.table, spec.address, spec.count))

    def _store(self, spec: RegisterSpec, words: Sequence[int]) -> None:
        """Store a register's words (a field's bits, the rest of its word kept)."""
        stored = self._stored[spec.table]
        for address, word in enumerate(words, spec.address):
            stored[address] = stored.get(address, 0) & ~spec.word_mask | word & spec.word_mask
        value = decode(spec, words)
        self._values[spec.name] = 0.0 if value is None else value

    def _words_of(self, name: str) -> list[int]:
        """The stored words of a holding register or coil."""
        spec = self.profile[name]
        stored = self._stored[spec.table]
        return [stored.get(a, 0) for a in range(spec.address, spec.last_address + 1)]

    def _set_holding(self, name: str, value: float) -> None:
        """Show a value the unit itself chose (e.g. from its remote) in a holding register."""
        self._store(self.profile[name], encode_value(self.profile[name], value))

    def _label(self, name: str) -> str:
        """The enum label a holding register holds now."""
        return self.profile[name].enum[int(self.holding(name))]

    def _has(self, name: str) -> bool:
        return name in self.profile.registers

    def _show(self, values: Mapping[str, float | str], *, undefaulted: bool = False) -> None:
        """Show the levers' values (numbers, or enum labels) in the registers the profile has
        (``undefaulted``: only those it gives no `default`); a label it lacks is not shown."""
        for name, value in values.items():
            spec = self.profile.registers.get(name)
            if spec is None or (undefaulted and spec.default is not None):
                continue
            if isinstance(value, str):
                if value not in spec.enum.values():
                    continue
                value = enum_value(spec, value)
            self._set_holding(name, value)

    def _served(self, values: Mapping[str, float | None], flags: Mapping[str, bool]) -> InputValues:
        """What the unit serves of everything its firmware knows: the registers the profile
        declares (absent roles are not served), its bit fields from ``flags`` (the bits it
        names), and each flag the profile gives a register, coil or discrete input of its
        own."""
        registers = self.profile.registers
        served = {name: value for name, value in values.items() if name in registers}
        served |= {name: float(on) for name, on in flags.items() if name in registers}
        for name, spec in registers.items():
            if spec.bits and not spec.writable:
                served[name] = _status_word(spec, flags)
            if spec.copy_from is not None:  # the unit's own state of the lever copied from it
                source = registers[spec.copy_from]
                served[source.name] = decode(source, self._words_of(name))
        if names := self.profile.identity:
            served |= {name: self.profile.identity_default(name) for name in names}
        return served

    def _start_watchdog(self, firmware: HeadFirmware | OutdoorFirmware) -> None:
        """A unit whose profile has no heartbeat never falls back to its own logic."""
        has_heartbeat = self._has("heartbeat") and self._has("heartbeat_timeout")
        firmware.watchdog.set_timeout(self.holding("heartbeat_timeout") if has_heartbeat else 0)

    # ---- behaviour lives in the firmware ----

    def input_values(self) -> InputValues:
        raise NotImplementedError

    def _written(self, changed: Mapping[str, tuple[float, float]]) -> None:
        raise NotImplementedError


def _check_write(spec: RegisterSpec, words: Sequence[int]) -> None:
    """ILLEGAL_VALUE for words the profile does not let a master write to ``spec`` (its
    `release` value is let through: it hands the register back to the unit)."""
    if is_release(spec, words):
        return
    value = decode(spec, words)
    try:
        if value is None:
            raise RegisterValueError(f"{spec.name}: the invalid sentinel is not a value")
        check_writable(spec, value)
    except RegisterValueError as err:
        raise RegisterAccessError(ExcCodes.ILLEGAL_VALUE, str(err)) from None


def refuse_reserved(profile: DeviceProfile, table: Table, address: int, count: int) -> None:
    """ILLEGAL_ADDRESS for a read that covers one of the profile's reserved addresses."""
    for low, high in profile.reserved:
        if address <= high and low <= address + count - 1:
            raise RegisterAccessError(
                ExcCodes.ILLEGAL_ADDRESS, f"{table} {address}+{count} covers reserved {low}"
            )


def _status_word(spec: RegisterSpec, flags: Mapping[str, bool]) -> int:
    """A bit-field word from named flags, numbered as the profile lists them (a flag it does
    not name is not shown)."""
    by_name = {name: bit for bit, name in spec.bits.items()}
    word = sum(1 << by_name[name] for name, on in flags.items() if on and name in by_name)
    return word >> spec.shift


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
        self._start_watchdog(firmware)

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
        self._start_watchdog(firmware)

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
