"""Device profiles: register maps as data, loaded and validated from TOML (docs/architecture.md,
'Register maps are data')."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal, TypeGuard

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

from minisplit.drivers.strict_model import StrictModel
from minisplit.drivers.textfile import (
    TomlError,
    UnreadableFile,
    parse_toml,
    read_text,
    shipped_files,
)
from minisplit.drivers.tomlerrors import KeysError, describe


class Table(StrEnum):
    INPUT = "input"
    HOLDING = "holding"
    COIL = "coil"
    DISCRETE_INPUT = "discrete_input"

    @property
    def bits(self) -> bool:
        """True for the bit-addressed tables (coils, discrete inputs): one point per address."""
        return self in (Table.COIL, Table.DISCRETE_INPUT)

    @property
    def writable(self) -> bool:
        """True for the tables a master may write (holding registers, coils)."""
        return self in (Table.HOLDING, Table.COIL)


class DeviceKind(StrEnum):
    OUTDOOR_UNIT = "outdoor_unit"
    INDOOR_HEAD = "indoor_head"


# Modbus's limit for one write (function 16).
MODBUS_MAX_WRITE = 123
# Modbus's limits for one read of coils or discrete inputs (functions 01, 02) and one write of
# coils (function 15).
MODBUS_MAX_READ_BITS = 2000
MODBUS_MAX_WRITE_BITS = 1968


class ProfileError(ValueError):
    """A profile file that cannot be used; the message names the file and the key."""


# TOML's table keys are strings: `enum = { 0 = "off" }` has the key "0".
_KeyInt = Annotated[int, Field(strict=False)]


# NaN or infinity would pass the bounds below (a NaN range refused every write, an infinite
# one none, an infinite scale read NaN and wrote 0) and check-config said OK.
_Finite = Annotated[StrictFloat, Field(allow_inf_nan=False)]
_Bit = Annotated[StrictInt, Field(ge=0, le=15)]


FAHRENHEIT = ("°F", "degF")


def celsius(fahrenheit: float) -> float:
    """°F → °C, to the 6 decimals every decoded value has."""
    return round((fahrenheit - 32) * 5 / 9, 6)


def fahrenheit(celsius: float) -> float:
    return celsius * 9 / 5 + 32


@dataclass(frozen=True)
class RegisterSpec:
    """One register (or register pair) of a device, as the profile describes it.

    Also the profile's schema: pydantic validates each `[registers.<name>]` table of a profile
    straight into it (no coercion: each value must have its type, as in the other models here),
    so a register's keys, types, bounds and defaults are declared here only. The name is the
    table's key.

    A register whose `unit` is "°F" (or "degF") holds Fahrenheit on the wire (after `scale`),
    but the product sees °C: decoding returns °C, encoding takes °C, and `range` and `default`
    are °C here. A profile file gives them in °F as the manual does; loading converts them once
    (`celsius`, rounded like a decoded value), so a file's range and its spec's differ."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    name: StrictStr
    address: Annotated[StrictInt, Field(ge=0, le=0xFFFF)]
    table: Table
    type: Literal["u16", "s16", "u32", "s32", "bool"]
    word_order: Literal["high_first", "low_first"] = "high_first"
    scale: Annotated[_Finite, Field(gt=0)] = 1.0
    unit: StrictStr = ""
    enum: dict[_KeyInt, StrictStr] = field(default_factory=dict)
    bits: dict[Annotated[_KeyInt, Field(ge=0, le=15)], StrictStr] = field(default_factory=dict)
    # A sentinel ("lost", "not initialised"), or several: each as the unsigned word the wire
    # carries or, for a signed type, as the negative number of the same bits (-32768 = 0x8000).
    invalid: StrictInt | tuple[StrictInt, ...] | None = None
    writable: StrictBool = False
    range: tuple[_Finite, _Finite] | None = None
    # Narrower ranges in some of the head's modes (a label of its `mode` enum -> [low, high]),
    # each inside `range`: the manual's "cool 18-32, heat 16-30".
    mode_ranges: dict[StrictStr, tuple[_Finite, _Finite]] = field(default_factory=dict)
    allow_zero: StrictBool = False
    default: _Finite | None = None
    # With `[device] copy_before_write`: the register (e.g. an input register of the unit's
    # state) whose words this one carries when a write of another sends it along.
    copy_from: StrictStr | None = None
    # The raw value that hands the register back to the device (Intesis: -32768 to the external
    # temperature, the unit regulates on its own sensor again); written outside `range`.
    release: StrictInt | None = None
    # A field of a u16 word: its lowest and highest bit (inclusive, as a manual prints
    # "bits 8-10"). Several fields may share one address; the value is the field's bits alone.
    bit_range: tuple[_Bit, _Bit] | None = None

    def __post_init__(self) -> None:
        self._check_bit()
        self._check_field()
        if self.range is not None:
            if not self.writable:
                raise ValueError("'range' is only meaningful on a writable register")
            if self.range[0] > self.range[1]:
                raise ValueError(f"range {list(self.range)} is empty (low > high)")
        self._check_mode_ranges()
        if self.word_order != "high_first" and self.count == 1:
            raise ValueError("'word_order' applies to u32 and s32 registers only")
        if self.writable and not self.table.writable:
            raise KeysError(f"{self.table} {self._kind} cannot be writable", ("writable",))
        if self.invalid == ():
            raise ValueError("'invalid = []' names no sentinel: leave the key out")
        bits = self.value_bits
        low = -(1 << (bits - 1)) if self.type.startswith("s") else 0
        for value in self._invalid_values:
            if not low <= value < 1 << bits:
                raise ValueError(f"invalid {value} does not fit in {self.type}")
        if self.release is not None:
            if not self.writable:
                raise KeysError("'release' is only meaningful on a writable register", ("release",))
            if not low <= self.release < 1 << bits:
                raise KeysError(f"release {self.release} does not fit in {self.type}", ("release",))

    def _check_mode_ranges(self) -> None:
        if not self.mode_ranges:
            return
        if self.range is None:
            raise KeysError(
                "mode_ranges narrow the register's range in some modes: give its range (every "
                "mode's together) too",
                ("mode_ranges",),
            )
        low, high = self.range
        for mode, (lowest, highest) in self.mode_ranges.items():
            if lowest > highest:
                raise KeysError(
                    f"range [{lowest}, {highest}] is empty (low > high)", ("mode_ranges", mode)
                )
            if lowest < low or highest > high:
                raise KeysError(
                    f"[{lowest}, {highest}] reaches outside the register's range [{low}, {high}]",
                    ("mode_ranges", mode),
                )

    def mode_range(self, mode: str | None) -> tuple[float, float] | None:
        """The values a write may take in ``mode`` (a `mode` label): its own range where the
        profile gives one, else `range`."""
        return self.mode_ranges.get(mode or "", self.range)

    def _check_field(self) -> None:
        """A field is part of one unsigned word: its enum codes, sentinels and flag bits must
        fit in it."""
        if self.bit_range is None:
            return
        lowest, highest = self.bit_range
        if lowest > highest:
            raise KeysError(
                f"bit_range {list(self.bit_range)} is empty (from > to)", ("bit_range",)
            )
        if self.type != "u16":
            raise KeysError(f'a bit_range is a field of a "u16" word, not {self.type!r}', ("type",))
        if stray := sorted(code for code in self.enum if not 0 <= code < 1 << self.value_bits):
            raise KeysError(f"enum codes {stray} do not fit in bits {lowest}..{highest}", ("enum",))
        if stray := sorted(bit for bit in self.bits if not lowest <= bit <= highest):
            raise KeysError(
                f"bits {stray} lie outside the field's bit_range {list(self.bit_range)}",
                ("bits",),
            )

    @property
    def value_bits(self) -> int:
        """How many bits the value has: its field's width, else 16 per register."""
        if self.bit_range is not None:
            return self.bit_range[1] - self.bit_range[0] + 1
        return 16 * self.count

    @property
    def shift(self) -> int:
        """The field's lowest bit (0 for a whole register)."""
        return 0 if self.bit_range is None else self.bit_range[0]

    @property
    def word_mask(self) -> int:
        """The bits of its (first) word the value occupies."""
        return ((1 << min(self.value_bits, 16)) - 1) << self.shift

    @property
    def _kind(self) -> str:
        return "points" if self.table.bits else "registers"

    def _check_bit(self) -> None:
        """A coil or discrete input is one bit, of type "bool", read as 0 or 1: none of the
        keys that shape a register's number applies to it."""
        if not self.table.bits:
            if self.type == "bool":
                raise KeysError('type "bool" is for coils and discrete inputs only', ("type",))
            return
        if self.type != "bool":
            raise KeysError(f'a {self.table} is of type "bool", not {self.type!r}', ("type",))
        given = {
            "scale": self.scale != 1.0,
            "word_order": self.word_order != "high_first",
            "range": self.range is not None,
            "allow_zero": self.allow_zero,
            "release": self.release is not None,
            "bits": bool(self.bits),
            "bit_range": self.bit_range is not None,
            "invalid": self.invalid is not None,
            "unit": self.unit in FAHRENHEIT,
        }
        if refused := [key for key, present in given.items() if present]:
            names = ", ".join(f"'{key}'" for key in refused)
            raise KeysError(
                f"{names} does not apply to a {self.table} (one bit, 0 or 1)",
                *((key,) for key in refused),
            )
        if stray := sorted(set(self.enum) - {0, 1}):
            raise KeysError(f"enum keys of a {self.table} are 0 and 1, not {stray}", ("enum",))
        if self.default not in (None, 0, 1):
            raise KeysError(
                f"default of a {self.table} is 0 or 1, not {self.default}", ("default",)
            )

    @property
    def _invalid_values(self) -> tuple[int, ...]:
        return (self.invalid,) if isinstance(self.invalid, int) else self.invalid or ()

    @property
    def sentinels(self) -> tuple[int, ...]:
        """The `invalid` values as the unsigned bit patterns a read returns, first one first."""
        mask = (1 << self.value_bits) - 1
        return tuple(value & mask for value in self._invalid_values)

    @property
    def fahrenheit(self) -> bool:
        """True when the wire carries °F (see the class's docstring)."""
        return self.unit in FAHRENHEIT

    @property
    def count(self) -> int:
        """Number of 16-bit registers this value occupies (of bits, for a "bool")."""
        return 2 if self.type in ("u32", "s32") else 1

    @property
    def last_address(self) -> int:
        return self.address + self.count - 1


# A value an identity register may read, as the register decodes it: a raw integer or, on a
# register with an enum, one of its labels.
IdentityValue = int | str


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    kind: DeviceKind
    default_unit_id: int
    max_read_registers: int
    registers: dict[str, RegisterSpec]
    min_restart_s: float = 0.0
    source: str = ""
    # The numbering of the file's addresses (1 = the manual counts from 1); the registers'
    # addresses are protocol addresses whatever it is.
    address_base: int = 0
    max_write_registers: int = MODBUS_MAX_WRITE
    # Protocol address ranges (inclusive, in every table) that no read may cover.
    reserved: tuple[tuple[int, int], ...] = ()
    # Identity registers checked at probe: each must read one of its values (as written in the
    # file). Empty: the device has none, and a probe reads its info registers only.
    identity: dict[str, tuple[IdentityValue, ...]] = field(default_factory=dict)
    max_read_bits: int = MODBUS_MAX_READ_BITS
    # A gateway's unit (docs/profiles.md, 'Several units behind one address'): each table's
    # distance from one unit's registers to the next's (empty: one unit per address), and the
    # first and last index a config may name. The registers are the first index's until
    # `for_unit` moves them to one unit's (`unit_index`).
    unit_stride: Mapping[Table, int] = field(default_factory=dict)
    unit_indices: tuple[int, int] | None = None
    unit_index: int | None = None
    # Every write carries all the unit's writable registers of its table, the unchanged ones as
    # last read back or as their `copy_from` reads (a command block taken whole, DIII-net style).
    copy_before_write: bool = False

    def for_unit(self, index: int) -> DeviceProfile:
        """The gateway's unit at ``index``: every register (and reserved range) moved by its
        table's stride for each index past the first."""
        if self.unit_indices is None or self.unit_index is not None:
            raise ValueError(f"profile {self.name!r} is not a gateway's unit layout")
        first, last = self.unit_indices
        if not first <= index <= last:
            raise ValueError(f"profile {self.name!r} serves unit indices {first}..{last}")
        steps = index - first
        registers = {
            name: replace(spec, address=spec.address + steps * self.unit_stride[spec.table])
            for name, spec in self.registers.items()
        }
        # Reserved ranges apply to every table: `_gateway_keys` gave them one stride.
        shift = steps * max(self.unit_stride.values())
        reserved = tuple((low + shift, high + shift) for low, high in self.reserved)
        return replace(self, registers=registers, reserved=reserved, unit_index=index)

    def identity_raws(self, name: str) -> tuple[int, ...]:
        """The raw values identity register ``name`` may read (labels through its enum)."""
        labels = {label: raw for raw, label in self[name].enum.items()}
        return tuple(labels[v] if isinstance(v, str) else v for v in self.identity[name])

    def identity_default(self, name: str) -> int:
        """What a simulator serves in identity register ``name``: the first raw value the
        profile accepts, or 0 when the profile does not check that register."""
        return self.identity_raws(name)[0] if name in self.identity else 0

    def __getitem__(self, name: str) -> RegisterSpec:
        return self.registers[name]

    def table(self, table: Table) -> list[RegisterSpec]:
        """The registers of one table, by address."""
        return sorted(
            (r for r in self.registers.values() if r.table is table), key=lambda r: r.address
        )


_Stride = Annotated[StrictInt, Field(ge=1, le=0xFFFF)]
_Index = Annotated[StrictInt, Field(ge=0, le=0xFFFF)]


class _DeviceModel(StrictModel):
    name: str
    kind: Annotated[DeviceKind, Field(strict=False)]
    identity: dict[
        str, Annotated[list[StrictInt | StrictStr], Field(min_length=1)] | StrictInt | StrictStr
    ] = Field(default_factory=dict)
    default_unit_id: Annotated[int, Field(ge=1, le=247)]
    max_read_registers: Annotated[int, Field(ge=1, le=125)] = 32
    min_restart_s: Annotated[_Finite, Field(ge=0)] = 0.0
    address_base: Annotated[StrictInt, Field(ge=0, le=1)] = 0
    max_write_registers: Annotated[int, Field(ge=1, le=MODBUS_MAX_WRITE)] = MODBUS_MAX_WRITE
    reserved: list[Annotated[tuple[StrictInt, StrictInt], Field(strict=False)]] = Field(
        default_factory=list
    )
    max_read_bits: Annotated[int, Field(ge=1, le=MODBUS_MAX_READ_BITS)] = MODBUS_MAX_READ_BITS
    unit_stride: _Stride | dict[Annotated[Table, Field(strict=False)], _Stride] | None = None
    unit_indices: Annotated[tuple[_Index, _Index], Field(strict=False)] | None = None
    copy_before_write: StrictBool = False

    @model_validator(mode="before")
    @classmethod
    def _device_kind_moved(cls, data: object) -> object:
        """The reference unit's `device_kind = N` is now one identity register among others:
        refused with the spelling that replaces it (one way to say it, not two)."""
        if isinstance(data, dict) and "device_kind" in data:
            raise KeysError(
                f"replaced by identity = {{ device_kind = {data['device_kind']!r} }}",
                ("device_kind",),
            )
        return data

    @property
    def identity_values(self) -> dict[str, tuple[IdentityValue, ...]]:
        return {
            name: tuple(values) if isinstance(values, list) else (values,)
            for name, values in self.identity.items()
        }

    @model_validator(mode="after")
    def _reserved_ranges(self) -> _DeviceModel:
        for i, (low, high) in enumerate(self.reserved):
            if low > high:
                raise KeysError(f"reserved [{low}, {high}] is empty (from > to)", ("reserved", i))
            if low < self.address_base:
                raise KeysError(
                    f"reserved [{low}, {high}] starts below the file's address_base "
                    f"{self.address_base}",
                    ("reserved", i),
                )
        return self

    @model_validator(mode="after")
    def _gateway_keys(self) -> _DeviceModel:
        if (self.unit_stride is None) != (self.unit_indices is None):
            given = "unit_stride" if self.unit_indices is None else "unit_indices"
            raise KeysError(
                "unit_stride and unit_indices go together: a gateway's units are "
                "unit_stride apart, at indices unit_indices = [first, last]",
                (given,),
            )
        if self.unit_indices is not None and self.unit_indices[0] > self.unit_indices[1]:
            raise KeysError(
                f"unit_indices {list(self.unit_indices)} is empty (first > last)",
                ("unit_indices",),
            )
        strides = self.unit_stride
        if self.reserved and isinstance(strides, dict) and len(set(strides.values())) > 1:
            raise KeysError(
                "reserved ranges apply to every table, so they cannot follow units whose "
                "tables have different strides: give one unit_stride",
                ("reserved",),
                ("unit_stride",),
            )
        return self

    @property
    def strides(self) -> dict[Table, int]:
        stride = self.unit_stride
        if stride is None:
            return {}
        return dict(stride) if isinstance(stride, dict) else dict.fromkeys(Table, stride)

    @property
    def protocol_reserved(self) -> tuple[tuple[int, int], ...]:
        base = self.address_base
        return tuple((low - base, high - base) for low, high in self.reserved)


class _ProfileModel(BaseModel):
    # Not strict itself: that would take only RegisterSpec instances; RegisterSpec's fields and
    # _DeviceModel are strict.
    model_config = ConfigDict(extra="forbid")

    device: _DeviceModel
    registers: dict[StrictStr, RegisterSpec]

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: object) -> object:
        """Each register takes its key in `registers` as its name (and has no `name` key), and
        its address as a protocol address: the file's, less `[device] address_base`."""
        if not isinstance(data, dict) or not isinstance(data.get("registers"), dict):
            return data
        base = _address_base(data.get("device"))
        registers = {}
        for name, reg in data["registers"].items():
            if isinstance(reg, dict):
                if "name" in reg:
                    raise KeysError("unknown key", ("registers", name, "name"))
                reg = {"name": name, **reg}
                reg["address"] = _protocol_address(reg.get("address"), base, name)
                if reg.get("unit") in FAHRENHEIT:
                    reg = _celsius_limits(reg)
            registers[name] = reg
        return {**data, "registers": registers}

    @model_validator(mode="after")
    def _nothing_reserved(self) -> _ProfileModel:
        for name, reg in self.registers.items():
            for i, (low, high) in enumerate(self.device.protocol_reserved):
                if reg.address <= high and low <= reg.last_address:
                    printed = list(self.device.reserved[i])
                    raise KeysError(
                        f"register '{name}' lies in reserved {printed}",
                        ("registers", name, "address"),
                        ("device", "reserved", i),
                    )
        return self

    @model_validator(mode="after")
    def _identity_known(self) -> _ProfileModel:
        """Each identity register is one the profile defines, and each value one it can read:
        a raw value its type carries, or a label of its enum."""
        for name, values in self.device.identity_values.items():
            key = ("device", "identity", name)
            reg = self.registers.get(name)
            if reg is None:
                raise KeysError(f"identity register '{name}' is not in [registers]", key)
            for value in values:
                if isinstance(value, str) and value not in reg.enum.values():
                    labels = sorted(reg.enum.values())
                    raise KeysError(f"'{value}' is not in registers.{name}.enum {labels}", key)
                bits = reg.value_bits  # the range a read returns: signed on s16 and s32
                low = -(1 << (bits - 1)) if reg.type.startswith("s") else 0
                if isinstance(value, int) and not low <= value < low + (1 << bits):
                    raise KeysError(f"{value} does not fit in registers.{name} ({reg.type})", key)
        return self

    @model_validator(mode="after")
    def _modes_known(self) -> _ProfileModel:
        """Each of a register's mode_ranges is for a mode the device's `mode` register has."""
        mode = self.registers.get("mode")
        labels = sorted(mode.enum.values()) if mode is not None else []
        for name, reg in self.registers.items():
            for label in reg.mode_ranges:
                if label not in labels:
                    raise KeysError(
                        f"'{label}' is not a label of registers.mode's enum {labels}",
                        ("registers", name, "mode_ranges", label),
                    )
        return self

    @model_validator(mode="after")
    def _writes_fit(self) -> _ProfileModel:
        """A value is written whole: the write limit must carry the widest writable one."""
        limit = self.device.max_write_registers
        for name, reg in self.registers.items():
            if reg.writable and reg.count > limit:
                raise KeysError(
                    f"writable register '{name}' takes {reg.count} registers, more than "
                    f"max_write_registers {limit}",
                    ("device", "max_write_registers"),
                    ("registers", name, "type"),
                )
        return self

    @model_validator(mode="after")
    def _units_apart(self) -> _ProfileModel:
        """A gateway's units must not overlap: in each table, one unit's registers (and
        reserved ranges) fit within its stride, and the last index's still below 65536."""
        strides, indices = self.device.strides, self.device.unit_indices
        if indices is None:
            return self
        for table in Table:
            specs = [r for r in self.registers.values() if r.table is table]
            if not specs:
                continue
            if table not in strides:
                raise KeysError(
                    f"unit_stride gives no stride for the {table} table of registers "
                    f"'{specs[0].name}'…",
                    ("device", "unit_stride"),
                )
            low = min(specs, key=lambda r: r.address)
            high = max(specs, key=lambda r: r.last_address)
            stride = strides[table]
            if high.last_address - low.address >= stride:
                raise KeysError(
                    f"{table} registers '{low.name}' to '{high.name}' span "
                    f"{high.last_address - low.address + 1} addresses, more than unit_stride "
                    f"{stride}: one unit would overlap the next",
                    ("device", "unit_stride"),
                )
            if high.last_address + (indices[1] - indices[0]) * stride > 0xFFFF:
                raise KeysError(
                    f"unit index {indices[1]} would put {table} register '{high.name}' past "
                    "address 65535",
                    ("device", "unit_indices"),
                )
        self._reserved_inside_units()
        return self

    def _reserved_inside_units(self) -> None:
        """Each unit's reserved ranges repeat in its own block: one that reached past the
        block would fall on the next unit's registers."""
        if not self.registers or not self.device.reserved:
            return
        first = min(r.address for r in self.registers.values())
        stride = max(self.device.strides.values())
        for i, (low, high) in enumerate(self.device.protocol_reserved):
            if low < first or high >= first + stride:
                raise KeysError(
                    f"reserved {list(self.device.reserved[i])} lies outside one unit's block "
                    f"(protocol addresses {first}..{first + stride - 1})",
                    ("device", "reserved", i),
                )

    @model_validator(mode="after")
    def _something_to_copy(self) -> _ProfileModel:
        if self.device.copy_before_write and not any(r.writable for r in self.registers.values()):
            raise KeysError(
                "copy_before_write needs writable registers to copy, and the profile has none",
                ("device", "copy_before_write"),
            )
        for name, reg in self.registers.items():
            if reg.copy_from is not None:
                _check_copy_source(self, name, reg, reg.copy_from)
        return self

    @model_validator(mode="after")
    def _no_overlap(self) -> _ProfileModel:
        """Registers share an address only as fields of one word whose bits do not meet."""
        used: dict[tuple[Table, int], list[RegisterSpec]] = {}
        for name, reg in self.registers.items():
            for addr in range(reg.address, reg.last_address + 1):
                sharing = used.setdefault((reg.table, addr), [])
                for other in sharing:
                    if other.word_mask & reg.word_mask or reg.count > 1 or other.count > 1:
                        raise ValueError(
                            f"registers '{other.name}' and '{name}' overlap at {reg.table} "
                            f"address {addr}" + _field_hint(other, reg)
                        )
                sharing.append(reg)
        return self


def _field_hint(one: RegisterSpec, other: RegisterSpec) -> str:
    if one.bit_range is None or other.bit_range is None:
        return " (give each a bit_range to share a word)"
    return f" (bits {list(one.bit_range)} and {list(other.bit_range)} meet)"


def _check_copy_source(profile: _ProfileModel, name: str, reg: RegisterSpec, source: str) -> None:
    key = ("registers", name, "copy_from")
    if not profile.device.copy_before_write:
        raise KeysError("copy_from needs [device] copy_before_write = true", key)
    if not reg.writable:
        raise KeysError("copy_from is only meaningful on a writable register", key)
    spec = profile.registers.get(source)
    if spec is None:
        raise KeysError(f"register '{source}' is not in [registers]", key)
    if spec.table.bits != reg.table.bits or spec.count != reg.count:
        raise KeysError(
            f"register '{source}' ({spec.table} {spec.type}) cannot carry the words of a "
            f"{reg.table} {reg.type}",
            key,
        )
    if spec.bit_range != reg.bit_range:
        raise KeysError(
            f"register '{source}' has bit_range {_printed(spec.bit_range)}, this one "
            f"{_printed(reg.bit_range)}: a copy carries the same bits",
            key,
        )


def _printed(bit_range: tuple[int, int] | None) -> str:
    return "none" if bit_range is None else str(list(bit_range))


def _address_base(device: object) -> int:
    """The file's numbering; 0 when absent or not (yet) valid: _DeviceModel says what is wrong."""
    base = device.get("address_base", 0) if isinstance(device, dict) else 0
    return base if base in (0, 1) and type(base) is int else 0


def _protocol_address(address: object, base: int, name: str) -> object:
    """An address as printed in the manual → the protocol address (anything else unchanged:
    RegisterSpec refuses it with its own message)."""
    if type(address) is not int or base == 0:
        return address
    if address < base:
        raise KeysError(
            f"address {address} is below the file's address_base {base}",
            ("registers", name, "address"),
        )
    return address - base


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _celsius_limits(reg: dict[str, object]) -> dict[str, object]:
    """A °F register's range and default, as printed (°F) → °C (anything that is not a number
    stays: RegisterSpec refuses it with its own message)."""
    out = dict(reg)
    if "range" in reg:
        out["range"] = _celsius_pair(reg["range"])
    default = reg.get("default")
    if _is_number(default):
        out["default"] = celsius(default)
    ranges = reg.get("mode_ranges")
    if isinstance(ranges, dict):
        out["mode_ranges"] = {mode: _celsius_pair(pair) for mode, pair in ranges.items()}
    return out


def _celsius_pair(pair: object) -> object:
    if isinstance(pair, list | tuple) and all(_is_number(v) for v in pair):
        return [celsius(v) for v in pair]
    return pair


def parse_profile(
    data: dict[str, object], source: str = "<profile>", text: str = ""
) -> DeviceProfile:
    """Validate a profile's TOML data; raise ProfileError naming the source, each bad key and,
    given the file's ``text``, its line."""
    try:
        model = _ProfileModel.model_validate(data)
    except ValidationError as err:
        raise ProfileError(f"{source}: " + "; ".join(describe(err.errors(), text))) from None
    dev = model.device
    return DeviceProfile(
        name=dev.name,
        kind=dev.kind,
        default_unit_id=dev.default_unit_id,
        max_read_registers=dev.max_read_registers,
        min_restart_s=dev.min_restart_s,
        address_base=dev.address_base,
        max_write_registers=dev.max_write_registers,
        reserved=dev.protocol_reserved,
        identity=dev.identity_values,
        registers=model.registers,
        source=source,
        max_read_bits=dev.max_read_bits,
        unit_stride=dev.strides,
        unit_indices=dev.unit_indices,
        copy_before_write=dev.copy_before_write,
    )


def load_profile_file(path: Path) -> DeviceProfile:
    try:
        text = read_text(path)
    except UnreadableFile as err:
        raise ProfileError(str(err)) from None
    return _parse_profile_text(text, str(path))


def _parse_profile_text(text: str, source: str) -> DeviceProfile:
    try:
        data = parse_toml(text)
    except TomlError as err:
        raise ProfileError(f"{source}: {err}") from None
    return parse_profile(data, source, text)


def shipped_profile_names() -> list[str]:
    """Names of the profiles that travel inside the package."""
    return [path.stem for path in shipped_files("minisplit_data", "profiles")]


def profile_file(name_or_path: str, base_dir: Path | None = None) -> Path | None:
    """The file a config's ``profile`` value names (a relative path is taken relative to
    ``base_dir``, the config file's folder), or None for a shipped profile's name."""
    if name_or_path in shipped_profile_names():
        return None
    path = Path(name_or_path)
    return base_dir / path if not path.is_absolute() and base_dir is not None else path


def _may_exist(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # e.g. a name too long: reading it says what is wrong
        return True


def load_profile(name_or_path: str, base_dir: Path | None = None) -> DeviceProfile:
    """A shipped profile by name (``reference-odu``), or a profile file by path (see
    `profile_file`)."""
    path = profile_file(name_or_path, base_dir)
    if path is None:
        ref = resources.files("minisplit_data") / "profiles" / f"{name_or_path}.toml"
        return _parse_profile_text(ref.read_text(encoding="utf-8"), f"profile {name_or_path}")
    if "\0" not in name_or_path and not _may_exist(path):
        known = ", ".join(shipped_profile_names())
        raise ProfileError(
            f"unknown profile {name_or_path!r}: neither a shipped profile ({known}) nor a file"
        )
    return load_profile_file(path)
