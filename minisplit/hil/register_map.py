"""A device's Modbus register map as the simulator serves it: stored holding registers and
coils, input registers and discrete inputs computed on read, a write checked against the
profile (exceptions 0x02/0x03) before anything changes; fields of one word packed and decoded
per field. What a unit does with a write is its subclass's (`hil.modbus_units`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pymodbus.constants import ExcCodes

from minisplit.drivers.profile import DeviceProfile, RegisterSpec, Table
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
