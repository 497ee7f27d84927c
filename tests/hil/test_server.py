"""The Modbus server, through a real pymodbus client: register-exact to docs/reference-unit.md."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from minisplit.drivers.profile import DeviceProfile, Table
from minisplit.drivers.registers import plan_reads
from minisplit.hil.modbus_units import OutdoorUnit
from minisplit.hil.server import start_tcp_server, tcp_address
from minisplit.hil.simulator import Simulator
from tests.hil.house import house, served_house

ODU, HEAD = 1, 11
ILLEGAL_ADDRESS, ILLEGAL_VALUE = 0x02, 0x03


@pytest.fixture
async def served() -> AsyncIterator[tuple[Simulator, AsyncModbusTcpClient]]:
    async with served_house(timeout_s=2) as pair:
        yield pair


async def read(client, table: Table, address: int, count: int, unit: int):
    call = client.read_input_registers if table is Table.INPUT else client.read_holding_registers
    return await call(address, count=count, device_id=unit)


def exception_code(response) -> int | None:
    return response.exception_code if response.isError() else None


async def read_profile(client, profile: DeviceProfile, unit: int) -> dict[str, float | None]:
    """Read every register of a profile in the blocks a driver would plan."""
    values: dict[str, float | None] = {}
    for block in plan_reads(profile.registers.values(), max_count=profile.max_read_registers):
        response = await read(client, block.table, block.address, block.count, unit)
        assert not response.isError(), (block, response)
        values.update(block.values(response.registers))
    return values


async def test_every_datasheet_block_reads(served):
    sim, client = served
    odu = await read_profile(client, sim.odu.profile, ODU)
    assert odu["device_kind"] == 1
    assert odu["rated_heating_capacity"] == 7000
    assert odu["rated_cooling_capacity"] == 6500
    assert (odu["min_frequency"], odu["max_frequency"], odu["max_heads"]) == (20.0, 90.0, 8)
    assert odu["heartbeat_timeout"] == 60
    assert odu["demand_limit"] == 100
    assert odu["outdoor_temperature"] == pytest.approx(sim.outdoor_temperature(), abs=0.06)
    head = await read_profile(client, sim.head("living").profile, HEAD)
    assert head["device_kind"] == 2
    assert head["rated_capacity"] == 2500
    assert head["capabilities"] == 0b111
    assert head["display_setpoint"] == 21.0
    assert head["remote_setpoint"] is None  # no remote press yet: the sentinel
    assert head["return_air_temperature"] == pytest.approx(sim.room_temperature("living"), abs=0.06)
    humidity = head["humidity"]
    assert humidity is not None and 0 < humidity < 100
    for unit, values in ((sim.odu, odu), (sim.head("living"), head)):
        for name, value in values.items():
            assert value == pytest.approx(unit.value(name), abs=0.11), name


async def test_whole_tables_in_one_read_with_gaps_reading_zero(served):
    _, client = served
    odu = await read(client, Table.INPUT, 0, 22, ODU)
    assert len(odu.registers) == 22
    assert odu.registers[9] == 0
    head = await read(client, Table.INPUT, 0, 24, HEAD)
    assert head.registers[6:10] == [0, 0, 0, 0]
    assert head.registers[17:20] == [0, 0, 0]
    assert len((await read(client, Table.HOLDING, 100, 10, HEAD)).registers) == 10


@pytest.mark.parametrize(
    ("table", "address", "count", "unit"),
    [
        (Table.INPUT, 0, 23, ODU),  # one past the last input register
        (Table.INPUT, 22, 1, ODU),
        (Table.INPUT, 20, 5, HEAD),
        (Table.HOLDING, 100, 7, ODU),
        (Table.HOLDING, 99, 2, ODU),  # before the table
        (Table.HOLDING, 0, 1, HEAD),
        (Table.HOLDING, 110, 1, HEAD),
    ],
)
async def test_reads_outside_a_table_are_illegal_addresses(served, table, address, count, unit):
    _, client = served
    assert exception_code(await read(client, table, address, count, unit)) == ILLEGAL_ADDRESS


async def test_reads_longer_than_32_registers_are_illegal_values(served):
    _, client = served
    assert exception_code(await read(client, Table.INPUT, 0, 33, ODU)) == ILLEGAL_VALUE
    assert exception_code(await read(client, Table.HOLDING, 100, 40, HEAD)) == ILLEGAL_VALUE


async def test_writes_to_unmapped_registers_are_illegal_addresses(served):
    sim, client = served
    for address, unit in ((99, ODU), (106, ODU), (9, ODU), (110, HEAD), (0, HEAD)):
        response = await client.write_register(address, 1, device_id=unit)
        assert exception_code(response) == ILLEGAL_ADDRESS, (address, unit)
    response = await client.write_registers(104, [7, 30, 1], device_id=ODU)  # runs past 105
    assert exception_code(response) == ILLEGAL_ADDRESS
    assert sim.odu_register("heartbeat") == 0


async def test_coils_and_discrete_inputs_do_not_exist(served):
    _, client = served
    assert exception_code(await client.read_coils(0, count=1, device_id=ODU)) == ILLEGAL_ADDRESS
    response = await client.read_discrete_inputs(0, count=8, device_id=HEAD)
    assert exception_code(response) == ILLEGAL_ADDRESS
    assert exception_code(await client.write_coil(0, True, device_id=ODU)) == ILLEGAL_ADDRESS


async def test_out_of_range_writes_are_illegal_values(served):
    sim, client = served
    response = await client.write_register(101, 150, device_id=ODU)  # 15.0 Hz < minimum
    assert exception_code(response) == ILLEGAL_VALUE
    response = await client.write_register(106, 400, device_id=HEAD)  # 40.0 °C display setpoint
    assert exception_code(response) == ILLEGAL_VALUE
    response = await client.write_registers(100, [1, 1, 9], device_id=HEAD)  # fan 9
    assert exception_code(response) == ILLEGAL_VALUE
    assert sim.head_register("living", "power") == 0  # nothing of a refused block applies


async def test_writes_reach_the_unit(served):
    sim, client = served
    response = await client.write_registers(100, [1, 1, 3, 6, 2, 455, 215], device_id=HEAD)
    assert not response.isError()
    assert sim.head_register("living", "mode") == 1
    assert sim.head_register("living", "vane_vertical") == 6
    assert sim.head_register("living", "capacity_request") == 45.5
    assert sim.head_register("living", "display_setpoint") == 21.5
    response = await client.write_register(101, 455, device_id=ODU)
    assert not response.isError()
    assert response.registers == [455]  # function 06 echoes the request
    assert sim.odu_register("frequency_setpoint") == 45.5
    holding = await read(client, Table.HOLDING, 100, 6, ODU)
    assert holding.registers == [0, 455, 0, 100, 0, 60]


async def test_signed_temperature_below_zero(served):
    sim, client = served
    assert sim.outdoor_temperature() < -5.0  # a January morning
    response = await read(client, Table.INPUT, 13, 1, ODU)
    word = response.registers[0]
    assert word >= 0x8000  # two's complement on the wire
    assert (word - 0x10000) / 10 == pytest.approx(sim.outdoor_temperature(), abs=0.06)


async def test_energy_is_u32_high_word_first(served):
    sim, client = served
    sim.odu.firmware.energy_wh = 0x0001_2345 + 0.25
    response = await read(client, Table.INPUT, 17, 2, ODU)
    assert response.registers == [0x0001, 0x2345]


async def test_sensor_fault_reads_0x8000(served):
    sim, client = served
    sim.head("living").firmware.broken_sensors.add("return_air_temperature")
    response = await read(client, Table.INPUT, 10, 5, HEAD)
    status, return_air, _coil, _humidity, fault_code = response.registers
    assert return_air == 0x8000
    assert status & 1 << 3
    assert fault_code == 1


async def test_status_bits_follow_the_remote(served):
    sim, client = served
    sim.press_remote("living", power=True, setpoint=22.5)
    response = await read(client, Table.INPUT, 10, 1, HEAD)
    assert response.registers[0] & 1 << 4
    assert (await read(client, Table.INPUT, 22, 1, HEAD)).registers == [225]
    await client.write_register(107, 1, device_id=HEAD)
    response = await read(client, Table.INPUT, 10, 1, HEAD)
    assert not response.registers[0] & 1 << 4


async def test_absent_unit_ids_get_no_answer(served):
    sim, _ = served
    assert sim.tcp_address is not None
    host, port = sim.tcp_address
    client = AsyncModbusTcpClient(host, port=port, timeout=0.3, retries=0)
    await client.connect()
    try:
        with pytest.raises(ModbusIOException):
            await client.read_input_registers(0, count=1, device_id=99)
    finally:
        client.close()


async def test_an_endpoint_in_use_is_reported():
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    sim = Simulator(house())
    try:
        with pytest.raises(OSError, match=f"127.0.0.1:{port}"):
            async with sim.running(tcp=("127.0.0.1", port)):
                pass
    finally:
        blocker.close()
        await blocker.wait_closed()
    async with sim.running():  # and the simulator can still run afterwards
        pass


async def test_serves_several_units_over_rtu(pty_pair):
    sim_end, controller_end = pty_pair
    sim = Simulator(house())
    # Linux ptys refuse parity (EINVAL on PARENB), so the pty link runs 8N1.
    async with sim.running(serial=sim_end, baudrate=19200, parity="N"):
        client = AsyncModbusSerialClient(
            controller_end, baudrate=19200, parity="N", stopbits=1, timeout=1, retries=1
        )
        assert await client.connect()
        try:
            odu = await client.read_input_registers(0, count=9, device_id=ODU)
            assert odu.registers[:1] == [1] and odu.registers[4] == 7000
            head = await client.read_input_registers(0, count=6, device_id=14)
            assert head.registers[0] == 2 and head.registers[5] == 0b111
            response = await client.write_register(100, 1, device_id=14)
            assert not response.isError()
            assert sim.head_register("office", "power") == 1
            response = await client.write_register(101, 100, device_id=ODU)
            assert exception_code(response) == ILLEGAL_VALUE
        finally:
            client.close()


async def test_a_reserved_address_inside_a_table_is_served_around(sim):
    """A profile may reserve an address between two registers of one table (interfaces refuse
    reads there): the server is still built over the whole table, reads on either side answer,
    and a read over the reserved address is an illegal address. (It failed to build the unit.)"""
    profile = dataclasses.replace(sim.odu.profile, reserved=((9, 9),))
    odu = OutdoorUnit(profile, sim.odu.unit_id, sim.odu.firmware)
    server = await start_tcp_server({odu.unit_id: odu}, "127.0.0.1", 0, lambda: None)
    client = AsyncModbusTcpClient("127.0.0.1", port=tcp_address(server)[1])
    try:
        await client.connect()
        assert exception_code(await read(client, Table.INPUT, 0, 9, odu.unit_id)) is None
        assert exception_code(await read(client, Table.INPUT, 10, 4, odu.unit_id)) is None
        assert exception_code(await read(client, Table.INPUT, 8, 3, odu.unit_id)) == 0x02
    finally:
        client.close()
        await server.shutdown()
