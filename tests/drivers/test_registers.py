"""The register codec (types, word order, scale, sentinels, write refusals) and read planning."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisplit.drivers.profile import DeviceProfile, RegisterSpec, Table, celsius, load_profile
from minisplit.drivers.registers import (
    RegisterValueError,
    decode,
    encode,
    encode_value,
    plan_reads,
    raw_from_words,
    words_from_raw,
)

ODU = load_profile("reference-odu")
HEAD = load_profile("reference-head")


def _spec(type_: str = "u16", **kw: object) -> RegisterSpec:
    return RegisterSpec(name="x", address=0, table=Table.INPUT, type=type_, **kw)  # type: ignore[arg-type]


# ---- decoding -------------------------------------------------------------------------------


def test_s16_negative_temperature() -> None:
    assert decode(ODU["outdoor_temperature"], [0xFF85]) == -12.3
    assert encode_value(ODU["outdoor_temperature"], -12.3) == [0xFF85]


def test_s16_extremes() -> None:
    assert raw_from_words(_spec("s16"), [0x7FFF]) == 32767
    assert raw_from_words(_spec("s16"), [0x8001]) == -32767


def test_u32_high_word_first() -> None:
    assert decode(ODU["energy"], [0x0001, 0x86A0]) == 100_000
    assert encode_value(ODU["energy"], 100_000) == [0x0001, 0x86A0]


def test_u32_low_word_first() -> None:
    spec = _spec("u32", word_order="low_first")
    assert raw_from_words(spec, [0x86A0, 0x0001]) == 100_000
    assert words_from_raw(spec, 100_000) == [0x86A0, 0x0001]


def test_u32_wraps_like_the_energy_counter() -> None:
    assert encode_value(ODU["energy"], 2**32 + 5) == [0, 5]


def test_temperature_sensor_fault_sentinel_is_none() -> None:
    assert decode(ODU["outdoor_temperature"], [0x8000]) is None
    assert decode(HEAD["return_air_temperature"], [0x8000]) is None
    assert encode_value(HEAD["return_air_temperature"], None) == [0x8000]


def test_missing_humidity_sensor_sentinel_is_none() -> None:
    assert decode(HEAD["humidity"], [0xFFFF]) is None
    assert decode(HEAD["humidity"], [455]) == 45.5


def test_u32_sentinel() -> None:
    spec = _spec("u32", invalid=0xFFFFFFFF)
    assert decode(spec, [0xFFFF, 0xFFFF]) is None
    assert decode(spec, [0xFFFF, 0xFFFE]) == 0xFFFFFFFE


def test_scale_rounds_to_the_registers_resolution() -> None:
    spec = HEAD["display_setpoint"]
    assert encode(spec, 21.04) == [210]
    assert encode(spec, 21.06) == [211]
    assert decode(spec, [215]) == 21.5  # not 21.500000000000004
    assert encode(HEAD["capacity_request"], 33.33) == [333]


def test_words_that_do_not_fit_are_refused() -> None:
    with pytest.raises(RegisterValueError):
        words_from_raw(_spec("u16"), 0x10000)
    with pytest.raises(RegisterValueError):
        words_from_raw(_spec("s16"), -0x8001)
    with pytest.raises(RegisterValueError):
        words_from_raw(_spec("u32"), -1)


# ---- write refusals -------------------------------------------------------------------------


def test_read_only_register_is_refused() -> None:
    with pytest.raises(RegisterValueError, match="outdoor_temperature is not writable"):
        encode(ODU["outdoor_temperature"], 5.0)


@pytest.mark.parametrize(
    ("profile", "name", "value"),
    [
        (ODU, "demand_limit", 101),
        (ODU, "demand_limit", -1),
        (ODU, "quiet_mode", 2),
        (ODU, "frequency_setpoint", 90.1),
        (HEAD, "capacity_request", 100.1),
        (HEAD, "display_setpoint", 4.9),
        (HEAD, "remote_ack", 2),
    ],
)
def test_out_of_range_is_refused(profile: DeviceProfile, name: str, value: float) -> None:
    with pytest.raises(RegisterValueError, match=rf"{name}: .* is outside"):
        encode(profile[name], value)


@pytest.mark.parametrize(("profile", "value"), [(ODU, 3), (HEAD, 4)])
def test_value_outside_the_enum_is_refused(profile: DeviceProfile, value: int) -> None:
    with pytest.raises(RegisterValueError, match=r"mode: .* is not one of"):
        encode(profile["mode"], value)


def test_frequency_zero_means_stop_and_is_allowed() -> None:
    assert encode(ODU["frequency_setpoint"], 0) == [0]
    assert encode(ODU["frequency_setpoint"], 20.0) == [200]
    assert encode(ODU["frequency_setpoint"], 90.0) == [900]


@pytest.mark.parametrize("hz", [0.1, 1, 10, 19.9])
def test_frequency_below_the_minimum_but_not_zero_is_refused(hz: float) -> None:
    with pytest.raises(RegisterValueError, match=r"0 or 20.0..90.0"):
        encode(ODU["frequency_setpoint"], hz)


# ---- read planning --------------------------------------------------------------------------


def _run(first: int, count: int, table: Table = Table.INPUT) -> list[RegisterSpec]:
    return [
        RegisterSpec(name=f"r{a}", address=a, table=table, type="u16")
        for a in range(first, first + count)
    ]


def test_plan_merges_contiguous_registers_into_one_read() -> None:
    blocks = plan_reads(_run(10, 5))
    assert [(b.address, b.count) for b in blocks] == [(10, 5)]


def test_plan_never_exceeds_32_registers_per_read() -> None:
    blocks = plan_reads(_run(0, 70))
    assert [(b.address, b.count) for b in blocks] == [(0, 32), (32, 32), (64, 6)]


def test_plan_bridges_small_gaps_only() -> None:
    specs = [*_run(0, 1), *_run(9, 1), *_run(30, 1)]
    blocks = plan_reads(specs, max_gap=8)
    assert [(b.address, b.count) for b in blocks] == [(0, 10), (30, 1)]
    assert len(plan_reads(specs, max_gap=0)) == 3


def test_plan_keeps_tables_apart() -> None:
    blocks = plan_reads([*_run(0, 2), *_run(0, 2, Table.HOLDING)])
    assert sorted((b.table, b.address, b.count) for b in blocks) == [
        (Table.HOLDING, 0, 2),
        (Table.INPUT, 0, 2),
    ]


def test_plan_keeps_a_u32_in_one_read() -> None:
    u32 = RegisterSpec(name="e", address=31, table=Table.INPUT, type="u32")
    blocks = plan_reads([*_run(0, 31), u32])
    assert [(b.address, b.count) for b in blocks] == [(0, 31), (31, 2)]


def test_plan_never_bridges_a_gap_over_a_reserved_register() -> None:
    specs = [*_run(0, 2), *_run(5, 2), *_run(10, 1)]
    blocks = plan_reads(specs, reserved=[(3, 3)])
    assert [(b.address, b.count) for b in blocks] == [(0, 2), (5, 6)]
    blocks = plan_reads(specs, reserved=[(2, 2), (8, 9)])
    assert [(b.address, b.count) for b in blocks] == [(0, 2), (5, 2), (10, 1)]
    assert [(b.address, b.count) for b in plan_reads(specs, reserved=[(20, 30)])] == [(0, 11)]


@given(
    st.sets(st.integers(0, 60), min_size=1),
    st.lists(st.tuples(st.integers(0, 60), st.integers(0, 5)), max_size=4),
    st.integers(1, 40),
)
def test_no_planned_read_covers_a_reserved_address(
    addresses: set[int], reserved: list[tuple[int, int]], max_count: int
) -> None:
    ranges = [(low, low + length) for low, length in reserved]
    free = {a for a in addresses if not any(low <= a <= high for low, high in ranges)}
    specs = [RegisterSpec(name=f"r{a}", address=a, table=Table.INPUT, type="u16") for a in free]
    blocks = plan_reads(specs, max_count=max_count, reserved=ranges)
    assert sorted(s.address for b in blocks for s in b.registers) == sorted(free)
    for block in blocks:
        assert block.count <= max_count
        for low, high in ranges:
            assert high < block.address or block.address + block.count - 1 < low


@pytest.mark.parametrize("profile", [ODU, HEAD], ids=lambda p: p.name)
def test_a_whole_profile_costs_one_read_per_table(profile: DeviceProfile) -> None:
    blocks = plan_reads(profile.registers.values(), max_count=profile.max_read_registers)
    assert sorted(b.table for b in blocks) == [Table.HOLDING, Table.INPUT]
    for block in blocks:
        assert block.count <= 32
        assert {s.name for s in block.registers} == {s.name for s in profile.table(block.table)}


def test_block_values_decode_each_register_at_its_offset() -> None:
    (block,) = plan_reads([ODU["outdoor_temperature"], ODU["energy"], ODU["fault_code"]])
    words = [0] * block.count
    words[0] = 0xFF85  # 13
    words[4:6] = [0, 1234]  # 17-18
    words[6] = 2  # 19
    assert block.values(words) == {
        "outdoor_temperature": -12.3,
        "energy": 1234,
        "fault_code": 2,
    }


# ---- round trip -----------------------------------------------------------------------------


@st.composite
def spec_and_raw(draw: st.DrawFn) -> tuple[RegisterSpec, int]:
    type_ = draw(st.sampled_from(["u16", "s16", "u32", "s32"]))
    wide = type_ in ("u32", "s32")
    order = draw(st.sampled_from(["high_first", "low_first"])) if wide else "high_first"
    scale = draw(st.sampled_from([1.0, 0.1, 0.01, 0.5]))
    low, high = {
        "u16": (0, 0xFFFF),
        "s16": (-0x8000, 0x7FFF),
        "u32": (0, 0xFFFFFFFF),
        "s32": (-0x80000000, 0x7FFFFFFF),
    }[type_]
    spec = _spec(type_, word_order=order, scale=scale)
    return spec, draw(st.integers(low, high))


low_of = {"s16": -0x8000, "s32": -0x80000000}


@given(spec_and_raw())
def test_raw_words_round_trip(case: tuple[RegisterSpec, int]) -> None:
    spec, raw = case
    words = words_from_raw(spec, raw)
    assert len(words) == spec.count
    assert all(0 <= w <= 0xFFFF for w in words)
    assert raw_from_words(spec, words) == raw
    value = decode(spec, words)
    assert value is not None
    if raw != low_of.get(spec.type):  # encode_value keeps sensor values off the fault sentinel
        assert encode_value(spec, value) == words


WRITABLE = [s for p in (ODU, HEAD) for s in p.registers.values() if s.writable]


@st.composite
def writable_value(draw: st.DrawFn) -> tuple[RegisterSpec, float]:
    spec = draw(st.sampled_from(WRITABLE))
    if spec.enum:
        return spec, draw(st.sampled_from(sorted(spec.enum)))
    assert spec.range is not None
    low, high = spec.range
    return spec, draw(st.floats(low, high, allow_nan=False))


@given(writable_value())
def test_every_allowed_write_decodes_to_the_value_within_resolution(
    case: tuple[RegisterSpec, float],
) -> None:
    spec, value = case
    decoded = decode(spec, encode(spec, value))
    assert decoded is not None
    assert abs(decoded - value) <= spec.scale / 2 + 1e-9


# ---- s32 ------------------------------------------------------------------------------------


def test_s32_negative_in_either_word_order() -> None:
    assert raw_from_words(_spec("s32"), [0xFFFF, 0xFFFE]) == -2
    assert raw_from_words(_spec("s32", word_order="low_first"), [0xFFFE, 0xFFFF]) == -2
    assert words_from_raw(_spec("s32", word_order="low_first"), -100_000) == [0x7960, 0xFFFE]
    assert decode(_spec("s32", scale=0.01), [0xFFFE, 0x7960]) == -1000.0


def test_s32_extremes_and_what_does_not_fit() -> None:
    spec = _spec("s32")
    assert raw_from_words(spec, [0x7FFF, 0xFFFF]) == 0x7FFFFFFF
    assert raw_from_words(spec, [0x8000, 0x0000]) == -0x80000000
    assert encode_value(spec, -(2**40)) == [0x8000, 0x0001]  # clamped off the lowest number
    with pytest.raises(RegisterValueError, match="does not fit in s32"):
        words_from_raw(spec, 0x80000000)


def test_s32_sentinel_may_be_negative() -> None:
    spec = _spec("s32", invalid=-0x80000000)
    assert decode(spec, [0x8000, 0x0000]) is None
    assert encode_value(spec, None) == [0x8000, 0x0000]


# ---- °F ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("unit", ["°F", "degF"])
def test_a_fahrenheit_register_reads_and_writes_celsius(unit: str) -> None:
    spec = _spec("s16", scale=0.1, unit=unit)
    assert decode(spec, [700]) == 21.111111  # 70.0 °F
    assert decode(spec, [0xFE0C]) == -45.555556  # -50.0 °F
    assert encode_value(spec, 21.111111) == [700]
    assert encode_value(spec, 0) == [320]
    assert decode(_spec("u16", unit=unit), [212]) == 100.0


def test_a_fahrenheit_registers_range_is_checked_in_celsius() -> None:
    spec = RegisterSpec(
        name="sp", address=0, table=Table.HOLDING, type="u16", unit="°F", writable=True,
        range=(celsius(60), celsius(86)),
    )  # fmt: skip
    assert encode(spec, 30.0) == [86]
    assert encode(spec, 15.6) == [60]
    with pytest.raises(RegisterValueError, match="outside"):
        encode(spec, 30.1)


@given(
    st.integers(-0x7FFF, 0x7FFF),
    st.sampled_from([1.0, 0.1, 0.5]),
)
def test_a_fahrenheit_value_read_is_written_back_to_the_same_words(raw: int, scale: float) -> None:
    spec = _spec("s16", scale=scale, unit="°F")
    value = decode(spec, words_from_raw(spec, raw))
    assert value is not None
    assert encode_value(spec, value) == words_from_raw(spec, raw)


@given(st.floats(-40, 60, allow_nan=False), st.sampled_from([1.0, 0.1]))
def test_a_celsius_value_written_to_a_fahrenheit_register_reads_back_within_resolution(
    value: float, scale: float
) -> None:
    spec = _spec("s16", scale=scale, unit="°F")
    decoded = decode(spec, encode_value(spec, value))
    assert decoded is not None
    assert abs(decoded - value) <= scale * 5 / 9 / 2 + 1e-6


# ---- several sentinels ----------------------------------------------------------------------


def test_every_sentinel_of_a_register_reads_as_lost() -> None:
    spec = _spec("s16", invalid=(-32768, 0xFFFF), scale=0.1)
    assert decode(spec, [0x8000]) is None
    assert decode(spec, [0xFFFF]) is None
    assert decode(spec, [0xFFFE]) == -0.2
    assert encode_value(spec, None) == [0x8000]  # the first one


def test_a_negative_sentinel_is_the_same_bits_as_the_unsigned_one() -> None:
    assert _spec("s16", invalid=-32768).sentinels == _spec("s16", invalid=0x8000).sentinels
    assert decode(_spec("s16", invalid=-1), [0xFFFF]) is None


def test_a_u32_sentinel_follows_the_word_order() -> None:
    spec = _spec("u32", word_order="low_first", invalid=(0xFFFFFFFF, 0x00010000))
    assert decode(spec, [0x0000, 0x0001]) is None
    assert decode(spec, [0x0001, 0x0000]) == 1
    assert encode_value(spec, None) == [0xFFFF, 0xFFFF]


@given(st.integers(0, 0xFFFF), st.lists(st.integers(0, 0xFFFF), min_size=1, max_size=4))
def test_a_u16_reads_lost_exactly_on_its_sentinels(word: int, invalid: list[int]) -> None:
    spec = _spec("u16", invalid=tuple(invalid))
    assert (decode(spec, [word]) is None) == (word in invalid)
