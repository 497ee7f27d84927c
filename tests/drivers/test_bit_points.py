"""Coils and discrete inputs in profiles (issue 13): one bit per address, of type "bool", read
as 0 or 1 (or an enum's two labels); planned in bit blocks, read and written by the drivers, and
served by the simulator."""

from __future__ import annotations

import contextlib
import dataclasses
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import AsyncModbusTcpClient

from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.profile import (
    DeviceProfile,
    ProfileError,
    RegisterSpec,
    Table,
    load_profile_file,
    parse_profile,
)
from minisplit.drivers.registers import (
    RegisterValueError,
    decode,
    encode,
    encode_value,
    plan_reads,
)
from minisplit.hil.register_map import RegisterAccessError
from minisplit.hil.server import start_tcp_server, tcp_address
from tests.drivers.conftest import running, tcp_bus
from tests.fixtures.bare_unit import BareHead

ROOT = Path(__file__).resolve().parents[2]
HEAD_ID = 11

# The reference head, with a coil and a discrete input as a manual that numbers from 1 prints
# them (protocol addresses 4 and 9).
BIT_POINTS = """
[registers.filter_alarm]
address = 10
table = "discrete_input"
type = "bool"

[registers.eco]
address = 5
table = "coil"
type = "bool"
writable = true
enum = { 0 = "off", 1 = "on" }
"""


def _bit_head_text() -> str:
    text = (ROOT / "config" / "profiles" / "reference-head.toml").read_text(encoding="utf-8")
    # The reference profile numbers from 0; its registers stay where they are.
    return text + BIT_POINTS.replace("address = 10", "address = 9").replace(
        "address = 5", "address = 4"
    )


def _point(**keys: object) -> RegisterSpec:
    return RegisterSpec(**{"name": "p", "address": 0, "type": "bool", **keys})  # type: ignore[arg-type]


# ---- the profile ------------------------------------------------------------------------------


def test_coils_and_discrete_inputs_load_numbered_by_the_address_base() -> None:
    data = tomllib.loads(
        '[device]\nname = "t"\nkind = "indoor_head"\n'
        "default_unit_id = 1\naddress_base = 1\n" + BIT_POINTS
    )
    profile = parse_profile(data)
    alarm, eco = profile["filter_alarm"], profile["eco"]
    assert (alarm.table, alarm.address, alarm.writable) == (Table.DISCRETE_INPUT, 9, False)
    assert (eco.table, eco.address, eco.writable, eco.count) == (Table.COIL, 4, True, 1)
    assert eco.enum == {0: "off", 1: "on"}


@pytest.mark.parametrize(
    ("point", "key", "message"),
    [
        ('table = "coil"\ntype = "bool"\nscale = 0.5', "scale", "'scale' does not apply to a coil"),
        (
            'table = "discrete_input"\ntype = "bool"\nwritable = true',
            "writable",
            "discrete_input points cannot be writable",
        ),
        ('table = "coil"\ntype = "u16"', "type", "a coil is of type \"bool\", not 'u16'"),
        ('table = "holding"\ntype = "bool"', "type", 'type "bool" is for coils and discrete'),
        ('table = "coil"\ntype = "bool"\nword_order = "low_first"', "word_order", "word_order"),
        (
            'table = "coil"\ntype = "bool"\nwritable = true\nrange = [0, 1]',
            "range",
            "'range' does not apply to a coil",
        ),
        ('table = "coil"\ntype = "bool"\nenum = { 2 = "x" }', "enum", "enum keys of a coil"),
    ],
)
def test_a_bad_bit_point_is_refused_in_one_line_naming_file_and_key(
    tmp_path: Path, point: str, key: str, message: str
) -> None:
    text = (ROOT / "config" / "profiles" / "reference-head.toml").read_text(encoding="utf-8")
    bad = tmp_path / "head.toml"
    bad.write_text(text + f"\n[registers.eco]\naddress = 4\n{point}\n", encoding="utf-8")
    with pytest.raises(ProfileError) as refused:
        load_profile_file(bad)
    line = str(refused.value)
    assert "\n" not in line
    assert line.startswith(f"{bad}: ")
    assert f": registers.eco.{key}: " in line, line
    assert message in line, line


def test_the_reference_profiles_have_no_bit_points() -> None:
    for path in (ROOT / "config" / "profiles").glob("reference-*.toml"):
        profile = load_profile_file(path)
        assert not profile.table(Table.COIL) and not profile.table(Table.DISCRETE_INPUT)


# ---- the codec and read planning ---------------------------------------------------------------


@given(st.sampled_from([0, 1]), st.booleans())
def test_a_point_decodes_to_0_or_1_and_encodes_back(bit: int, with_enum: bool) -> None:
    spec = _point(table=Table.COIL, writable=True, enum={0: "off", 1: "on"} if with_enum else {})
    assert decode(spec, [bit]) == bit
    assert encode(spec, bit) == [bit] == encode_value(spec, bit)


@given(st.one_of(st.integers(2, 10**6), st.integers(max_value=-1), st.just(0.5)))
def test_a_coil_takes_only_0_or_1(value: float) -> None:
    with pytest.raises(RegisterValueError, match="not 0 or 1"):
        encode(_point(table=Table.COIL, writable=True), value)


def test_a_discrete_input_is_not_written() -> None:
    with pytest.raises(RegisterValueError, match="not writable"):
        encode(_point(table=Table.DISCRETE_INPUT), 1)


@given(
    st.sets(st.integers(0, 4000), min_size=1, max_size=60),
    st.integers(1, 2000),
    st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 40)), max_size=3),
)
def test_bit_reads_cover_every_point_within_the_limit_and_never_a_reserved_one(
    addresses: set[int], max_bits: int, reserved_spans: list[tuple[int, int]]
) -> None:
    reserved = [(low, low + length) for low, length in reserved_spans]
    points = [
        _point(name=f"p{a}", address=a, table=Table.DISCRETE_INPUT)
        for a in addresses
        if not any(low <= a <= high for low, high in reserved)
    ]
    blocks = plan_reads(points, max_count=4, reserved=reserved, max_bits=max_bits)
    assert sorted(s.name for b in blocks for s in b.registers) == sorted(p.name for p in points)
    for block in blocks:
        assert block.table is Table.DISCRETE_INPUT
        assert 1 <= block.count <= max_bits
        last = block.address + block.count - 1
        assert not any(block.address <= high and low <= last for low, high in reserved)


def test_bits_plan_in_bit_blocks_apart_from_the_registers() -> None:
    coils = [_point(name=f"c{a}", address=a, table=Table.COIL) for a in (0, 40, 200)]
    register = RegisterSpec(name="r", address=0, table=Table.HOLDING, type="u16")
    blocks = plan_reads([*coils, register], max_count=4)
    # 40 bits fit in one read where 40 registers would not; 160 unused bits are not bridged.
    assert [(b.table, b.address, b.count) for b in blocks] == [
        (Table.COIL, 0, 41),
        (Table.COIL, 200, 1),
        (Table.HOLDING, 0, 1),
    ]
    assert [(b.address, b.count) for b in plan_reads(coils[:2], max_bits=16)] == [(0, 1), (40, 1)]


# ---- the driver against the simulator's server --------------------------------------------------


@pytest.fixture
def bit_head_profile(tmp_path: Path) -> DeviceProfile:
    path = tmp_path / "bit-head.toml"
    path.write_text(_bit_head_text(), encoding="utf-8")
    return load_profile_file(path)


@pytest.fixture
async def served_head(
    bit_head_profile: DeviceProfile,
) -> AsyncIterator[tuple[BareHead, HeadDriver]]:
    unit = BareHead(bit_head_profile)
    server = await start_tcp_server({HEAD_ID: unit}, "127.0.0.1", 0, lambda: None)
    try:
        _, port = tcp_address(server)
        async with running(BusScheduler("t", tcp_bus(port))) as scheduler:
            yield unit, HeadDriver(scheduler, HEAD_ID, bit_head_profile)
    finally:
        with contextlib.suppress(Exception):
            await server.shutdown()


async def test_a_driver_reads_a_discrete_input_and_writes_and_reads_back_a_coil(
    served_head: tuple[BareHead, HeadDriver],
) -> None:
    unit, head = served_head
    assert await head.read_values(["filter_alarm", "eco"]) == {"filter_alarm": 0, "eco": 0}
    unit.overrides["filter_alarm"] = 1
    await head.write_values({"eco": "on"})
    assert unit.written == [{"eco": (0, 1)}]
    assert await head.read_values(["filter_alarm", "eco"]) == {"filter_alarm": 1, "eco": 1}
    await head.write_values({"eco": "on"})  # unchanged since the read-back: nothing is sent
    assert len(unit.written) == 1
    await head.write_values({"eco": 0})
    assert await head.read_values(["eco"]) == {"eco": 0}
    with pytest.raises(RegisterValueError, match="refused, nothing written"):
        await head.write_values({"filter_alarm": 1})


def test_the_simulator_refuses_a_write_of_a_discrete_input_or_past_the_coils(
    bit_head_profile: DeviceProfile,
) -> None:
    unit = BareHead(bit_head_profile)
    for address in (9, 5, 3):  # the discrete input's address, past and before the coil
        with pytest.raises(RegisterAccessError, match="not writable"):
            unit.write_coils(address, [1])
    with pytest.raises(RegisterAccessError, match="outside the table"):
        unit.words(Table.COIL, 4, 2)
    assert unit.words(Table.DISCRETE_INPUT, 9, 1) == [0]


async def test_over_the_wire_a_coil_write_is_checked_whole_and_a_reserved_bit_is_refused(
    bit_head_profile: DeviceProfile,
) -> None:
    """fc15 across the coil and an address that is none changes nothing (0x02); a read of a
    reserved discrete input is 0x02, as for registers."""
    # Away from the register tables: the reserved address is one in every table.
    alarm = dataclasses.replace(bit_head_profile["filter_alarm"], address=51)
    registers = {**bit_head_profile.registers, "filter_alarm": alarm}
    profile = dataclasses.replace(bit_head_profile, registers=registers, reserved=((50, 50),))
    unit = BareHead(profile)
    server = await start_tcp_server({HEAD_ID: unit}, "127.0.0.1", 0, lambda: None)
    client = AsyncModbusTcpClient("127.0.0.1", port=tcp_address(server)[1])
    try:
        await client.connect()
        reply = await client.write_coils(4, [True, True], device_id=HEAD_ID)
        assert reply.isError() and reply.exception_code == 0x02
        assert unit.holding("eco") == 0 and not unit.written
        reply = await client.read_discrete_inputs(50, count=2, device_id=HEAD_ID)
        assert reply.isError() and reply.exception_code == 0x02
        reply = await client.read_discrete_inputs(51, count=1, device_id=HEAD_ID)
        assert not reply.isError() and reply.bits[:1] == [False]
        reply = await client.write_coils(4, [True], device_id=HEAD_ID)
        assert not reply.isError() and unit.holding("eco") == 1
    finally:
        client.close()
        await server.shutdown()
