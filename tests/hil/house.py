"""The test house (a four-room config) and helpers that command it like a controller."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from pymodbus.client import AsyncModbusTcpClient

from minisplit.controller.config import LoadedConfig, parse_config
from minisplit.hil.simulator import Simulator

ZONES = ("living", "kitchen", "bedroom", "office")

HOUSE = """
controller_id = "test"

[buses.sim]
type = "tcp"
host = "127.0.0.1"
port = 5020

[outdoor_unit]
bus = "sim"
unit_id = 1

[[zones]]
id = "living"
name = "Living room"
bus = "sim"
unit_id = 11

[[zones]]
id = "kitchen"
name = "Kitchen"
bus = "sim"
unit_id = 12

[[zones]]
id = "bedroom"
name = "Bedroom"
bus = "sim"
unit_id = 13

[[zones]]
id = "office"
name = "Office"
bus = "sim"
unit_id = 14

[simulator]
start = "{start}"

[simulator.rooms.living]
area_m2 = 30.0
aperture_m2 = 2.0
initial_temperature = 18.0

[simulator.rooms.bedroom]
area_m2 = 15.0
initial_temperature = 16.0
"""


def house(start: str = "01-15 06:00") -> LoadedConfig:
    """The test house; 01-15 06:00 is a −8.3 °C January morning in Greensboro."""
    return parse_config(HOUSE.format(start=start), "<test house>")


def without_watchdog(sim: Simulator) -> None:
    """Switch every heartbeat off, for tests about something else."""
    for unit in (sim.odu, *sim.heads.values()):
        unit.write("heartbeat_timeout", 0)


def heat(sim: Simulator, *, request_pct: float = 60.0, hz: float = 50.0, zones=ZONES) -> None:
    """Command heating the way a controller would, register by register."""
    for zone in zones:
        head = sim.head(zone)
        head.write("power", 1)
        head.write("mode", 0)
        head.write("capacity_request", request_pct)
    sim.odu.write("mode", 1)
    sim.odu.write("frequency_setpoint", hz)


async def wait_until(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll ``condition`` until it holds; fail (TimeoutError) after ``timeout_s``."""
    async with asyncio.timeout(timeout_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def served_house(timeout_s: float) -> AsyncIterator[tuple[Simulator, AsyncModbusTcpClient]]:
    """The test house served over Modbus TCP on a free port, with a connected client."""
    sim = Simulator(house())
    async with sim.running(tcp=("127.0.0.1", 0)):
        assert sim.tcp_address is not None
        host, port = sim.tcp_address
        client = AsyncModbusTcpClient(host, port=port, timeout=timeout_s, retries=0)
        assert await client.connect()
        try:
            yield sim, client
        finally:
            client.close()
