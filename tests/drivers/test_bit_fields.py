"""Fields of one word (`bit_range`, issue 13; DIII-net packs on/off, louver and fan into one
command word): decoded and encoded per field, written without disturbing the word's other
fields, served and decoded per field by the simulator over a real Modbus TCP link; and each
way a profile can get a field wrong is refused naming the key."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusTcpClient

from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.profile import DeviceProfile, ProfileError
from minisplit.drivers.registers import (
    RegisterValueError,
    bit_flags,
    decode,
    encode,
    raw_from_words,
)
from minisplit.hil.server import start_tcp_server, tcp_address
from tests.drivers.conftest import running, tcp_bus
from tests.fixtures.bare_unit import BareHead
from tests.fixtures.profiles import profile

HEAD_ID = 11

# Holding 0: on/off bit 0, louver bits 8-10, fan bits 12-14; holding 1: mode bits 0-3, beside a
# read-only flag at bit 15; input 0: a status word with a flag field.
FIELDS = """
[device]
name = "packed-head"
kind = "indoor_head"
default_unit_id = 11

[registers.power]
address = 0
table = "holding"
type = "u16"
bit_range = [0, 0]
enum = { 0 = "off", 1 = "on" }
writable = true

[registers.vane_vertical]
address = 0
table = "holding"
type = "u16"
bit_range = [8, 10]
enum = { 0 = "1", 4 = "5", 7 = "swing" }
writable = true

[registers.fan]
address = 0
table = "holding"
type = "u16"
bit_range = [12, 14]
enum = { 1 = "low", 3 = "medium", 5 = "high" }
writable = true

[registers.mode]
address = 1
table = "holding"
type = "u16"
bit_range = [0, 3]
enum = { 1 = "heat", 2 = "cool", 7 = "dry" }
writable = true

[registers.display_setpoint]
address = 2
table = "holding"
type = "s16"
scale = 0.1
writable = true
range = [16.0, 32.0]

[registers.status]
address = 0
table = "input"
type = "u16"
bit_range = [4, 7]
bits = { 7 = "thermo_on" }
"""


@pytest.fixture
def packed() -> DeviceProfile:
    return profile(FIELDS)


def test_a_field_reads_its_bits_alone_and_writes_them_in_place(packed: DeviceProfile) -> None:
    word = 1 | 7 << 8 | 5 << 12 | 1 << 15  # on, swing, high, and a bit no field declares
    assert [decode(packed[n], [word]) for n in ("power", "vane_vertical", "fan")] == [1, 7, 5]
    assert encode(packed["fan"], 3) == [3 << 12]
    assert bit_flags(packed["status"], raw_from_words(packed["status"], [0x80])) == {
        "thermo_on": True
    }
    with pytest.raises(RegisterValueError, match="not one of"):
        encode(packed["fan"], 2)


@contextlib.asynccontextmanager
async def served(
    profile: DeviceProfile,
) -> AsyncIterator[tuple[BareHead, HeadDriver, BusScheduler, int]]:
    unit = BareHead(profile)
    server = await start_tcp_server({HEAD_ID: unit}, "127.0.0.1", 0, lambda: None)
    port = tcp_address(server)[1]
    try:
        async with running(BusScheduler("t", tcp_bus(port))) as bus:
            yield unit, HeadDriver(bus, HEAD_ID, profile), bus, port
    finally:
        await server.shutdown()


async def test_writing_one_field_keeps_the_others_of_its_word(packed: DeviceProfile) -> None:
    async with served(packed) as (unit, head, bus, _):
        unit.write("fan", 5)  # set at the unit: the driver has not read it yet
        unit.write("vane_vertical", 7)
        unit.written.clear()
        await head.write_values({"power": "on"})
        # No read-back yet: the word's other fields are read first, then the word written once.
        assert bus.stats(HEAD_ID).requests == 2
        assert unit.written == [{"power": (0, 1), "vane_vertical": (7, 7), "fan": (5, 5)}]
        await head.poll()
        unit.write("vane_vertical", 4)  # moved at the unit after the poll …
        await head.poll()  # … and seen by the next one
        await head.write_values({"fan": "low", "mode": "cool"})
        assert (unit.holding("power"), unit.holding("vane_vertical")) == (1, 4)
        assert (unit.holding("fan"), unit.holding("mode")) == (1, 2)
        status = await head.poll()
        assert (status.power, status.fan, status.mode) == (True, "low", "cool")


async def test_the_simulator_decodes_a_written_word_per_field(packed: DeviceProfile) -> None:
    async with served(packed) as (unit, _, _, port):
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2)
        await client.connect()
        try:
            reply = await client.write_register(0, 1 | 4 << 8 | 3 << 12, device_id=HEAD_ID)
            assert not reply.isError()
            assert [unit.holding(n) for n in ("power", "vane_vertical", "fan")] == [1, 4, 3]
            # A code one field does not have refuses the whole word: nothing changes.
            reply = await client.write_register(0, 0 | 2 << 12, device_id=HEAD_ID)
            assert reply.isError() and reply.exception_code == 3
            assert unit.holding("fan") == 3 and unit.holding("power") == 1
            read = await client.read_holding_registers(0, count=1, device_id=HEAD_ID)
            assert read.registers == [1 | 4 << 8 | 3 << 12]
        finally:
            client.close()


def _refusal(replace: str, by: str) -> str:
    assert replace in FIELDS
    with pytest.raises(ProfileError) as caught:
        profile(FIELDS.replace(replace, by, 1))
    return str(caught.value)


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("bit_range = [12, 14]", "bit_range = [14, 12]", "bit_range [14, 12] is empty"),
        ("bit_range = [12, 14]", "bit_range = [12, 16]", "less than or equal to 15"),
        (
            'bit_range = [12, 14]\nenum = { 1 = "low"',
            'bit_range = [12, 13]\nenum = { 4 = "turbo", 1 = "low"',
            "enum codes [4, 5] do not fit in bits 12..13",
        ),
        ('bits = { 7 = "thermo_on" }', 'bits = { 3 = "thermo_on" }', "bits [3] lie outside"),
        ("bit_range = [8, 10]", "bit_range = [8, 12]", "'vane_vertical' and 'fan' overlap"),
        (
            "address = 2\ntable",
            "address = 1\ntable",
            "give each a bit_range to share a word",
        ),
        (
            'type = "s16"\nscale = 0.1\nwritable = true',
            'type = "s16"\nbit_range = [0, 3]\nscale = 0.1\nwritable = true',
            'a bit_range is a field of a "u16" word',
        ),
    ],
)
def test_a_bad_field_is_refused_naming_the_key(replace: str, by: str, expected: str) -> None:
    assert expected in _refusal(replace, by)


def test_a_field_on_a_coil_is_refused() -> None:
    text = FIELDS + '\n[registers.lamp]\naddress = 0\ntable = "coil"\ntype = "bool"\n'
    with pytest.raises(ProfileError, match="'bit_range' does not apply to a coil"):
        profile(text + "bit_range = [0, 0]\n")


def test_a_copy_source_must_carry_the_same_bits() -> None:
    text = FIELDS.replace("[device]\n", "[device]\ncopy_before_write = true\n", 1).replace(
        'bit_range = [12, 14]\nenum = { 1 = "low", 3 = "medium", 5 = "high" }\nwritable = true\n',
        'bit_range = [12, 14]\nenum = { 1 = "low", 3 = "medium", 5 = "high" }\nwritable = true\n'
        'copy_from = "status"\n',
    )
    with pytest.raises(ProfileError, match=r"has bit_range \[4, 7\], this one \[12, 14\]"):
        profile(text)
