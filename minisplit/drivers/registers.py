"""Register encoding (u16/s16/u32/s32, scale, °F, sentinels, write ranges), the 0/1 of coils
and discrete inputs ("bool": one bit read as the word 0 or 1), and read planning."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from minisplit.drivers.profile import (
    MODBUS_MAX_READ_BITS,
    RegisterSpec,
    Table,
    celsius,
    fahrenheit,
)


class RegisterValueError(ValueError):
    """A value that the register cannot hold, or a write the profile does not allow."""


def raw_from_words(spec: RegisterSpec, words: Sequence[int]) -> int:
    """The register's raw integer (unsigned for u16/u32, signed for s16/s32) from its words."""
    raw = _pattern(spec, words)
    bits = spec.value_bits
    if spec.type.startswith("s") and raw >> (bits - 1):
        return raw - (1 << bits)
    return raw


def words_from_raw(spec: RegisterSpec, raw: int) -> list[int]:
    """The words that carry a raw integer; raises RegisterValueError when it does not fit (a
    field's words have its bits alone set)."""
    bits = spec.value_bits
    low, high = _raw_bounds(spec)
    if not low <= raw <= high:
        raise RegisterValueError(f"{spec.name}: {raw} does not fit in {spec.type}")
    return _pattern_words(spec, raw & ((1 << bits) - 1))


def _raw_bounds(spec: RegisterSpec) -> tuple[int, int]:
    if spec.type == "bool":
        return 0, 1
    bits = spec.value_bits
    if spec.type.startswith("s"):
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


def _pattern(spec: RegisterSpec, words: Sequence[int]) -> int:
    """The words' unsigned bit pattern, in the register's word order (a field's bits)."""
    if spec.count == 1:
        return (words[0] & spec.word_mask) >> spec.shift
    hi, lo = (words[0], words[1]) if spec.word_order == "high_first" else (words[1], words[0])
    return (hi & 0xFFFF) << 16 | lo & 0xFFFF


def _pattern_words(spec: RegisterSpec, pattern: int) -> list[int]:
    if spec.count == 1:
        return [pattern << spec.shift]
    hi, lo = pattern >> 16, pattern & 0xFFFF
    return [hi, lo] if spec.word_order == "high_first" else [lo, hi]


def release_words(spec: RegisterSpec) -> list[int]:
    """The words of the register's `release` value (RegisterValueError where it has none)."""
    if spec.release is None:
        raise RegisterValueError(f"{spec.name} has no release value")
    return _pattern_words(spec, spec.release & ((1 << spec.value_bits) - 1))


def is_release(spec: RegisterSpec, words: Sequence[int]) -> bool:
    """True when the words hold the register's `release` value."""
    return spec.release is not None and list(words) == release_words(spec)


def is_invalid(spec: RegisterSpec, words: Sequence[int]) -> bool:
    """True when the words hold one of the register's "lost / not available" sentinels."""
    return _pattern(spec, words) in spec.sentinels


def decode(spec: RegisterSpec, words: Sequence[int]) -> float | int | None:
    """Engineering value of a register; None for the invalid sentinel."""
    if is_invalid(spec, words):
        return None
    raw = raw_from_words(spec, words)
    if spec.fahrenheit:
        return celsius(raw * spec.scale)
    if spec.scale == 1.0:
        return raw
    return round(raw * spec.scale, 6)


def raw_from_value(spec: RegisterSpec, value: float) -> int:
    """Raw integer for an engineering value (rounded to the register's resolution); a °F
    register takes °C."""
    return round((fahrenheit(value) if spec.fahrenheit else value) / spec.scale)


def check_writable(spec: RegisterSpec, value: float) -> None:
    """Refuse any write the profile does not allow: read-only, enum or range violations."""
    if not spec.writable:
        raise RegisterValueError(f"{spec.name} is not writable")
    if spec.type == "bool" and value not in (0, 1):
        raise RegisterValueError(f"{spec.name}: {value!r} is not 0 or 1")
    if spec.enum and raw_from_value(spec, value) not in spec.enum:
        allowed = ", ".join(f"{k}={v}" for k, v in sorted(spec.enum.items()))
        raise RegisterValueError(f"{spec.name}: {value!r} is not one of {allowed}")
    if spec.range is not None:
        low, high = spec.range
        if spec.allow_zero and value == 0:
            return
        if not low <= value <= high:
            zero = "0 or " if spec.allow_zero else ""
            raise RegisterValueError(f"{spec.name}: {value!r} is outside {zero}{low}..{high}")


def encode(spec: RegisterSpec, value: float) -> list[int]:
    """Words for writing an engineering value, after checking the profile allows it."""
    check_writable(spec, value)
    return words_from_raw(spec, raw_from_value(spec, value))


def encode_value(spec: RegisterSpec, value: float | None) -> list[int]:
    """Words for any value (writable or not), for the simulator's side of the register map.

    None encodes the (first) invalid sentinel."""
    if value is None:
        if spec.invalid is None:
            raise RegisterValueError(f"{spec.name} has no invalid sentinel")
        return _pattern_words(spec, spec.sentinels[0])
    raw = raw_from_value(spec, value)
    low, high = _raw_bounds(spec)
    if spec.type == "u32":
        raw &= high
    else:  # a signed value stays off the lowest number, the usual "lost" sentinel
        raw = min(max(raw, low + 1 if low else 0), high)
    return words_from_raw(spec, raw)


def enum_name(spec: RegisterSpec, raw: int) -> str | None:
    """The enum label of a raw value; None for a value the profile does not name."""
    return spec.enum.get(raw)


def enum_value(spec: RegisterSpec, name: str) -> int:
    for raw, label in spec.enum.items():
        if label == name:
            return raw
    raise RegisterValueError(f"{spec.name}: {name!r} is not one of {sorted(spec.enum.values())}")


def bit_flags(spec: RegisterSpec, raw: int) -> dict[str, bool]:
    """Named bits, numbered in the word (a field's raw value starts at its lowest bit)."""
    return {name: bool(raw >> (bit - spec.shift) & 1) for bit, name in spec.bits.items()}


def field_words(spec: RegisterSpec, words: Sequence[int]) -> list[int]:
    """A register's words as read, a field's with its bits alone: what its value is, and what
    a write of it changes."""
    return [words[0] & spec.word_mask, *words[1 : spec.count]]


@dataclass(frozen=True)
class ReadBlock:
    """One read request: a contiguous address range of one table and the registers inside it."""

    table: Table
    address: int
    count: int
    registers: tuple[RegisterSpec, ...]

    def values(self, words: Sequence[int]) -> dict[str, float | int | None]:
        """Decode every register of the block from the words a read returned."""
        out: dict[str, float | int | None] = {}
        for spec in self.registers:
            offset = spec.address - self.address
            out[spec.name] = decode(spec, words[offset : offset + spec.count])
        return out

    def raw_words(self, words: Sequence[int]) -> dict[str, list[int]]:
        return {
            spec.name: field_words(spec, words[spec.address - self.address :][: spec.count])
            for spec in self.registers
        }


def plan_reads(
    registers: Iterable[RegisterSpec],
    max_count: int = 32,
    max_gap: int = 8,
    reserved: Sequence[tuple[int, int]] = (),
    max_bits: int = MODBUS_MAX_READ_BITS,
) -> list[ReadBlock]:
    """Merge registers into the fewest reads: one block per table while the span fits.

    A gap inside a table is bridged when it is at most ``max_gap`` registers (reading a few
    unused registers costs less than a new request's round trip) and holds no ``reserved``
    address (inclusive ranges the device refuses to be read); a block never exceeds
    ``max_count`` registers and never reaches past the last requested register. Coils and
    discrete inputs plan alike, in bits: a gap of up to 16 × ``max_gap`` bits is bridged (the
    same bytes on the wire), and a block holds at most ``max_bits``."""
    blocks: list[ReadBlock] = []
    by_table: dict[Table, list[RegisterSpec]] = {}
    for spec in registers:
        by_table.setdefault(spec.table, []).append(spec)
    for table in sorted(by_table):
        specs = sorted(by_table[table], key=lambda s: s.address)
        limit, gap_limit = (max_bits, 16 * max_gap) if table.bits else (max_count, max_gap)
        current: list[RegisterSpec] = []
        for spec in specs:
            if current:
                start = current[0].address
                end = max(s.last_address for s in current)
                gap = spec.address - end - 1
                bridges = not any(low < spec.address and end < high for low, high in reserved)
                if gap <= gap_limit and spec.last_address - start + 1 <= limit and bridges:
                    current.append(spec)
                    continue
                blocks.append(_block(table, current))
            current = [spec]
        if current:
            blocks.append(_block(table, current))
    return blocks


def _block(table: Table, specs: list[RegisterSpec]) -> ReadBlock:
    start = specs[0].address
    end = max(s.last_address for s in specs)
    return ReadBlock(table=table, address=start, count=end - start + 1, registers=tuple(specs))
