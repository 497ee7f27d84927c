"""Several units behind one slave address (issue 13): a profile's unit layout (`unit_stride`,
`unit_indices`), the bit-read limit `max_read_bits`, `copy_before_write`, and what each refuses
(docs/profiles.md, 'Several units behind one address')."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymodbus.client import AsyncModbusTcpClient

from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.profile import (
    MODBUS_MAX_READ_BITS,
    DeviceProfile,
    ProfileError,
    Table,
    _parse_profile_text,
    load_profile,
    load_profile_file,
)
from minisplit.drivers.registers import plan_reads
from minisplit.hil.server import start_tcp_server, tcp_address
from tests.drivers.conftest import running, tcp_bus
from tests.fixtures.bare_unit import BareHead
from tests.fixtures.gateway import LAST_INDEX, ROOT, gateway_head_text, manual_address

HEAD_ID = 11


def gateway(device: str = "", *, numbered_from_1: bool = True) -> DeviceProfile:
    return _parse_profile_text(
        gateway_head_text(device, numbered_from_1=numbered_from_1), "gw.toml"
    )


def refused(device: str, extra: str = "", *, numbered_from_1: bool = True) -> str:
    with pytest.raises(ProfileError) as caught:
        _parse_profile_text(
            gateway_head_text(device, numbered_from_1=numbered_from_1) + extra, "gw.toml"
        )
    return str(caught.value)


def test_a_unit_index_moves_each_table_by_its_stride() -> None:
    template = gateway()
    assert template.unit_indices == (0, LAST_INDEX)
    assert template.unit_index is None
    reference = load_profile("reference-head")
    # Index 0 is where the manual puts the first unit: the file's addresses less one.
    assert template["power"].address == reference["power"].address == 100
    for index in (0, 3, LAST_INDEX):
        unit = template.for_unit(index)
        assert unit.unit_index == index
        assert unit["power"].address == manual_address("holding", index, 0)
        assert unit["heartbeat_timeout"].address == manual_address("holding", index, 9)
        assert unit["device_kind"].address == manual_address("input", index, 0)
        assert unit["remote_fan"].address == manual_address("input", index, 23)
        assert unit["serial_number"].count == 2  # only the address moves
    assert template.for_unit(3)["power"].address == 148
    assert template.for_unit(3)["status"].address == 106


def test_one_stride_for_every_table_moves_reserved_ranges_too() -> None:
    unit = gateway("unit_stride = 128\nreserved = [[8, 9]]").for_unit(2)
    assert unit["power"].address == 100 + 256
    assert unit["status"].address == 10 + 256
    assert unit.reserved == ((7 + 256, 8 + 256),)  # numbered from 1 in the file
    plan = plan_reads([unit["capabilities"], unit["status"]], max_count=32, reserved=unit.reserved)
    assert len(plan) == 2  # the moved reserved range still splits the read


def test_an_index_the_gateway_does_not_serve_is_refused() -> None:
    template = gateway()
    with pytest.raises(ValueError, match=f"serves unit indices 0..{LAST_INDEX}"):
        template.for_unit(LAST_INDEX + 1)
    with pytest.raises(ValueError, match="not a gateway's unit layout"):
        template.for_unit(1).for_unit(1)  # moved once only
    with pytest.raises(ValueError, match="not a gateway's unit layout"):
        load_profile("reference-head").for_unit(0)


def test_a_single_unit_profile_has_no_layout_and_the_modbus_bit_limit() -> None:
    profile = load_profile("reference-head")
    assert profile.unit_indices is None and not profile.unit_stride
    assert profile.max_read_bits == MODBUS_MAX_READ_BITS
    assert not profile.copy_before_write


@pytest.mark.parametrize(
    ("device", "expected"),
    [
        (
            "unit_stride = 8",
            "line 11: device.unit_stride: input registers 'device_kind' to 'remote_fan' span 24 "
            "addresses, more than unit_stride 8",
        ),
        ("unit_stride = 0", "device.unit_stride"),
        ("unit_stride = { input = 32 }", "gives no stride for the holding table"),
        ("unit_stride = { input = 32, holding = 8 }", "span 10 addresses, more than unit_stride 8"),
        ("unit_stride = { inputs = 32, holding = 16 }", "device.unit_stride"),
        ("unit_indices = [5, 2]", "device.unit_indices: unit_indices [5, 2] is empty"),
        (
            "unit_indices = [0, 5000]",
            "unit index 5000 would put input register 'remote_fan' past address 65535",
        ),
        ("unit_indices = [-1, 3]", "device.unit_indices"),
        ("max_read_bits = 0", "device.max_read_bits"),
        ("max_read_bits = 2001", "device.max_read_bits"),
        ("copy_before_write = 1", "device.copy_before_write"),
        (
            "reserved = [[8, 9]]",
            "reserved ranges apply to every table, so they cannot follow units whose tables "
            "have different strides",
        ),
        (
            "unit_stride = 128\nreserved = [[200, 201]]",
            "device.reserved[0]: reserved [200, 201] "
            "lies outside one unit's block (protocol addresses 0..127)",
        ),
    ],
)
def test_a_bad_unit_layout_is_refused_naming_key_and_line(device: str, expected: str) -> None:
    message = refused(device)
    assert message.startswith("gw.toml: ")
    assert expected in message


def test_stride_and_indices_go_together() -> None:
    text = gateway_head_text().replace("unit_indices = [0, 15]\n", "")
    with pytest.raises(ProfileError, match=r"device\.unit_stride: unit_stride and unit_indices go"):
        _parse_profile_text(text, "gw.toml")
    text = gateway_head_text().replace("unit_stride = { input = 32, holding = 16 }\n", "")
    with pytest.raises(ProfileError, match=r"device\.unit_indices: unit_stride and unit_indices"):
        _parse_profile_text(text, "gw.toml")


def test_copy_before_write_on_a_profile_without_writable_registers_is_refused() -> None:
    text = (
        '[device]\nname = "sensor"\nkind = "indoor_head"\ndefault_unit_id = 1\n'
        "copy_before_write = true\n\n"
        '[registers.room]\naddress = 0\ntable = "input"\ntype = "s16"\n'
    )
    with pytest.raises(ProfileError) as caught:
        _parse_profile_text(text, "sensor.toml")
    assert str(caught.value) == (
        "sensor.toml: line 5: device.copy_before_write: copy_before_write needs writable "
        "registers to copy, and the profile has none"
    )
    assert gateway("copy_before_write = true").copy_before_write


def test_max_read_bits_bounds_a_bit_read_plan() -> None:
    device = "max_read_bits = 8\nunit_stride = { input = 32, holding = 16, discrete_input = 16 }"
    text = gateway_head_text(device, numbered_from_1=False) + (
        '\n[registers.thermo_on]\naddress = 0\ntable = "discrete_input"\ntype = "bool"\n'
        '\n[registers.comm_failure]\naddress = 9\ntable = "discrete_input"\ntype = "bool"\n'
    )
    profile = _parse_profile_text(text, "gw.toml")
    assert profile.max_read_bits == 8
    points = [profile["thermo_on"], profile["comm_failure"]]
    assert len(plan_reads(points, max_bits=profile.max_read_bits)) == 2
    assert len(plan_reads(points)) == 1
    assert all(p.table is Table.DISCRETE_INPUT for p in points)


TWO_POINTS = (
    '\n[registers.thermo_on]\naddress = 0\ntable = "discrete_input"\ntype = "bool"\n'
    '\n[registers.comm_failure]\naddress = 9\ntable = "discrete_input"\ntype = "bool"\n'
)


@pytest.mark.parametrize(("limit", "reads"), [("", 1), ("max_read_bits = 4", 2)])
async def test_the_driver_and_the_simulator_keep_to_max_read_bits(
    tmp_path: Path, limit: str, reads: int
) -> None:
    text = (ROOT / "config" / "profiles" / "reference-head.toml").read_text(encoding="utf-8")
    path = tmp_path / "bits.toml"
    path.write_text(text.replace("[device]\n", f"[device]\n{limit}\n", 1) + TWO_POINTS)
    profile = load_profile_file(path)
    unit = BareHead(profile)
    unit.overrides["comm_failure"] = 1
    server = await start_tcp_server({HEAD_ID: unit}, "127.0.0.1", 0, lambda: None)
    port = tcp_address(server)[1]
    client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
    try:
        async with running(BusScheduler("t", tcp_bus(port))) as bus:
            head = HeadDriver(bus, HEAD_ID, profile)
            values = await head.read_values(["thermo_on", "comm_failure"])
            assert values == {"thermo_on": 0, "comm_failure": 1}
            assert bus.stats(HEAD_ID).requests == reads
        assert await client.connect()
        reply = await client.read_discrete_inputs(0, count=10, device_id=HEAD_ID)
        assert reply.isError() == (reads == 2)
        if reply.isError():
            assert reply.exception_code == 0x03
    finally:
        client.close()
        await server.shutdown()


@given(
    input_stride=st.integers(min_value=1, max_value=60),
    holding_stride=st.integers(min_value=1, max_value=30),
    first=st.integers(min_value=0, max_value=5),
    data=st.data(),
)
def test_units_a_profile_accepts_never_share_an_address(
    input_stride: int, holding_stride: int, first: int, data: st.DataObject
) -> None:
    """Whatever strides the loader accepts, two indices' registers never meet in any table;
    it refuses exactly the strides shorter than a unit's registers (input 24, holding 10)."""
    stride = f"{{ input = {input_stride}, holding = {holding_stride} }}"
    device = f"unit_stride = {stride}\nunit_indices = [{first}, {first + 40}]"
    if input_stride < 24 or holding_stride < 10:
        assert "more than unit_stride" in refused(device)
        return
    template = gateway(device)
    a, b = data.draw(
        st.lists(
            st.integers(min_value=first, max_value=first + 40), min_size=2, max_size=2, unique=True
        )
    )
    taken = {
        (spec.table, address)
        for spec in template.for_unit(a).registers.values()
        for address in range(spec.address, spec.last_address + 1)
    }
    assert not any(
        (spec.table, address) in taken
        for spec in template.for_unit(b).registers.values()
        for address in range(spec.address, spec.last_address + 1)
    )
