"""The simulator serves a config of several systems (issue 13): each system its own heat pump
in its own building of its zones' rooms (rooms of different systems exchange no heat), its
heads as its strategy wants; every bus of the config is served, each TCP bus at its address."""

from __future__ import annotations

import asyncio
import tomllib

import pytest
from pymodbus.client import AsyncModbusTcpClient

from minisplit.controller.config import LoadedConfig, config_file, load_config, parse_config
from minisplit.hil.broker import free_port
from minisplit.hil.scenario import load_scenario, scenario_file
from minisplit.hil.simulator import (
    Simulator,
    SimulatorSetupError,
    run_simulator,
    tcp_endpoints_from_config,
)
from minisplit.testing.rig import to_toml


def two_systems(**downstairs_bus: object) -> LoadedConfig:
    """The shipped two-systems demo; with ``downstairs_bus``, its heads on a bus of their own."""
    data = tomllib.loads(config_file("demo-two-systems").read_text(encoding="utf-8"))
    if downstairs_bus:
        data["buses"]["down"] = downstairs_bus
        for zone in data["zones"]:
            if zone["system"] == "downstairs":
                zone["bus"] = "down"
    return parse_config(to_toml(data), "two.toml")


def test_each_system_is_its_own_heat_pump_in_its_own_building() -> None:
    sim = Simulator(load_config(config_file("demo-two-systems")))
    up, down = sim.houses["upstairs"], sim.houses["downstairs"]
    assert (up.zones, down.zones) == (("bedroom", "office"), ("living", "kitchen"))
    assert not up.odu.follows_heads and down.odu.follows_heads
    assert all(sim.head(z).firmware.thermostat is None for z in up.zones)
    assert all(sim.head(z).firmware.thermostat is not None for z in down.zones)
    assert sim.odu_of("upstairs").firmware is up.odu and sim.served_odu is sim.odu_of("upstairs")
    with pytest.raises(KeyError, match="system 'downstairs' has no outdoor unit"):
        sim.odu_of("downstairs")
    assert sorted(sim.units) == [1, 11, 12, 21, 22]
    # A downstairs head switched on heats its room; the upstairs unit stays off.
    living = sim.head("living")
    living.write("power", 1)
    living.write("mode", 1)  # heat (the manual's code)
    living.write("display_setpoint", 26.0)
    start = {zone: sim.room_temperature(zone) for zone in ("living", "bedroom")}
    sim.step(1800.0)
    assert sim.room_temperature("living") > start["living"] + 1.0
    assert sim.room_temperature("bedroom") < start["bedroom"] + 0.5
    assert up.odu.frequency_hz == 0.0 and down.odu.frequency_hz > 0.0
    assert up.time_s == down.time_s == sim.sim_time_s


def test_a_scenario_is_a_house_of_one_system() -> None:
    with pytest.raises(SimulatorSetupError, match="house of one system; the config has 2"):
        Simulator(two_systems(), scenario=load_scenario(scenario_file("renovated-january")))


def test_a_serial_bus_beside_a_tcp_bus_is_refused_without_an_endpoint() -> None:
    loaded = two_systems(type="rtu", device="/dev/ttyUSB0")
    with pytest.raises(SimulatorSetupError, match="bus 'down' is a serial line beside"):
        tcp_endpoints_from_config(loaded)


async def test_every_tcp_bus_of_the_config_is_served_at_its_address() -> None:
    up_port, down_port = free_port(), free_port()
    loaded = two_systems(type="tcp", host="127.0.0.1", port=down_port)
    data = loaded.config.buses["sim"]
    loaded.config.buses["sim"] = data.model_copy(update={"port": up_port})
    assert tcp_endpoints_from_config(loaded) == [("127.0.0.1", down_port)]
    task = asyncio.create_task(run_simulator(loaded, tcp=None, serial=None, speed=1.0))
    try:
        # The upstairs unit's device kind (input 0: 1, an outdoor unit), the living room
        # interface's power (holding 0, off).
        for port, unit, table, expected in (
            (up_port, 1, "input", 1),
            (down_port, 21, "holding", 0),
        ):
            client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=2)
            async with asyncio.timeout(10):
                while not await client.connect():  # noqa: ASYNC110 - until the simulator listens
                    await asyncio.sleep(0.05)
            read = getattr(client, f"read_{table}_registers")
            reply = await read(0, count=1, device_id=unit)
            client.close()
            assert not reply.isError(), (port, unit, reply)
            assert reply.registers == [expected]
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
