"""A gateway's units behind one unit id in the simulator (issue 13): each zone's head at its
index's addresses, read and written by the real driver over Modbus TCP and over RTU through a
pty pair, and found by a plain Modbus client where the manual's formula puts it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusTcpClient

from minisplit.controller.config import LoadedConfig
from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.head import HeadDriver
from minisplit.hil.simulator import Simulator, SimulatorSetupError
from tests.drivers.conftest import PTY_PARITY, rtu_bus, running, tcp_bus
from tests.fixtures.gateway import (
    GATEWAY_ID,
    INDICES,
    gateway_house,
    manual_address,
    write_gateway_profile,
)


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedConfig:
    return gateway_house(write_gateway_profile(tmp_path))


def drivers(loaded: LoadedConfig, bus: BusScheduler) -> dict[str, HeadDriver]:
    return {
        zone.id: HeadDriver(bus, zone.unit_id, loaded.head_profile(zone))
        for zone in loaded.config.zones
    }


async def each_head_is_its_own(sim: Simulator, heads: dict[str, HeadDriver]) -> None:
    """Probe and poll every head at once on the one bus, write each a setpoint of its own,
    and find each value at that head only."""
    infos = await asyncio.gather(*(head.probe() for head in heads.values()))
    assert all(info.rated_capacity_w == 2500 for info in infos)
    polled = await asyncio.gather(*(h.poll() for h in heads.values()))
    statuses = dict(zip(heads, polled, strict=True))
    for zone, status in statuses.items():
        assert status.return_air_temperature == pytest.approx(
            sim.head_register(zone, "return_air_temperature"), abs=0.06
        )
    airs = [s.return_air_temperature for s in statuses.values()]
    assert len(set(airs)) == len(airs)  # four rooms, four readings: no head read twice
    setpoints = {zone: 18.0 + i for i, zone in enumerate(heads)}
    await asyncio.gather(
        *(head.write_values({"display_setpoint": setpoints[z]}) for z, head in heads.items())
    )
    for zone, setpoint in setpoints.items():
        assert sim.head(zone).holding("display_setpoint") == setpoint
        assert (await heads[zone].poll()).display_setpoint == setpoint


async def test_the_driver_reaches_each_head_behind_the_gateway_over_tcp(
    loaded: LoadedConfig,
) -> None:
    sim = Simulator(loaded)
    async with sim.running(tcp=("127.0.0.1", 0)):
        assert sim.tcp_address is not None
        async with running(BusScheduler("line", tcp_bus(sim.tcp_address[1]))) as bus:
            await each_head_is_its_own(sim, drivers(loaded, bus))
            assert bus.is_online(GATEWAY_ID)


async def test_the_driver_reaches_each_head_behind_the_gateway_over_rtu(
    loaded: LoadedConfig, pty_pair: tuple[str, str]
) -> None:
    controller_end, simulator_end = pty_pair
    sim = Simulator(loaded)
    async with (
        sim.running(serial=simulator_end, parity=PTY_PARITY),
        running(BusScheduler("line", rtu_bus(controller_end, timeout_s=1.0))) as bus,
    ):
        await each_head_is_its_own(sim, drivers(loaded, bus))


@asynccontextmanager
async def client_of(sim: Simulator) -> AsyncIterator[AsyncModbusTcpClient]:
    async with sim.running(tcp=("127.0.0.1", 0)):
        assert sim.tcp_address is not None
        client = AsyncModbusTcpClient("127.0.0.1", port=sim.tcp_address[1], timeout=2, retries=0)
        assert await client.connect()
        try:
            yield client
        finally:
            client.close()


async def test_a_plain_client_finds_each_head_where_the_manual_puts_it(
    loaded: LoadedConfig,
) -> None:
    sim = Simulator(loaded)
    for i, zone in enumerate(INDICES):
        sim.head(zone).write("display_setpoint", 20.0 + i)
    async with client_of(sim) as client:
        for i, (zone, index) in enumerate(INDICES.items()):
            setpoint = await client.read_holding_registers(
                manual_address("holding", index, 6), count=1, device_id=GATEWAY_ID
            )
            assert setpoint.registers == [200 + 10 * i]
            air = await client.read_input_registers(
                manual_address("input", index, 11), count=1, device_id=GATEWAY_ID
            )
            expected = sim.head_register(zone, "return_air_temperature")
            assert air.registers[0] / 10 == pytest.approx(expected, abs=0.06)
        # A write lands on the one head whose address it is.
        power = manual_address("holding", INDICES["bedroom"], 0)
        assert not (await client.write_register(power, 1, device_id=GATEWAY_ID)).isError()
        assert sim.head("bedroom").holding("power") == 1
        assert sim.head("living").holding("power") == sim.head("office").holding("power") == 0


async def test_a_read_may_cross_heads_and_a_write_may_not(loaded: LoadedConfig) -> None:
    sim = Simulator(loaded)
    async with client_of(sim) as client:
        # Index 0's holding registers, then the empty blocks of indices 1 and 2: zeros.
        read = await client.read_holding_registers(100, count=32, device_id=GATEWAY_ID)
        assert not read.isError() and read.registers[16:] == [0] * 16
        last_of_0 = manual_address("holding", 0, 9)
        write = await client.write_registers(last_of_0, [0, 1], device_id=GATEWAY_ID)
        assert write.isError() and write.exception_code == 0x02
        past = manual_address("holding", 15, 10)
        read = await client.read_holding_registers(past, count=1, device_id=GATEWAY_ID)
        assert read.isError() and read.exception_code == 0x02


def test_one_index_twice_across_buses_is_refused_by_the_simulator(tmp_path: Path) -> None:
    profile = write_gateway_profile(tmp_path)
    loaded = gateway_house(profile)
    office = loaded.config.zones[2].model_copy(update={"unit_index": 3})
    zones = [*loaded.config.zones[:2], office, *loaded.config.zones[3:]]
    loaded.config = loaded.config.model_copy(update={"zones": zones})
    with pytest.raises(SimulatorSetupError, match="zone 'office': unit id 2 is taken"):
        Simulator(loaded)
