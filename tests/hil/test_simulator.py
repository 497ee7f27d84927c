"""The simulator as a whole: config wiring, the loop clock, running and stopping."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient

from minisplit.controller.config import load_config, parse_config
from minisplit.drivers.serial_port import is_pseudo_terminal
from minisplit.hil.scenario import load_scenario, shipped_scenarios
from minisplit.hil.simulator import (
    Simulator,
    endpoint_from_config,
    framing_from_config,
    run_simulator,
)
from minisplit.hil.weather import parse_time_of_year
from tests.hil.house import HOUSE, house, wait_until

CONFIG_DIR = Path(__file__).parents[2] / "config"


def test_endpoint_comes_from_the_outdoor_units_tcp_bus():
    assert endpoint_from_config(load_config(CONFIG_DIR / "demo.toml")) == ("127.0.0.1", 5020)
    assert endpoint_from_config(load_config(CONFIG_DIR / "example.toml")) is None  # RS-485


def test_serial_framing_comes_from_the_outdoor_units_rtu_bus():
    assert framing_from_config(load_config(CONFIG_DIR / "demo.toml")) == (19200, "E", 1)  # TCP
    example = (CONFIG_DIR / "example.toml").read_text()
    rtu = example.replace("baudrate = 19200", "baudrate = 9600").replace(
        'parity = "E"\nstopbits = 1', 'parity = "O"\nstopbits = 2'
    )
    assert framing_from_config(parse_config(rtu)) == (9600, "O", 2)


def test_a_pty_is_told_apart_from_a_serial_port(pty_pair, tmp_path):
    assert is_pseudo_terminal(pty_pair[0])
    assert not is_pseudo_terminal("/dev/null")  # a character device, not a pty
    assert not is_pseudo_terminal(str(tmp_path / "missing"))
    assert not is_pseudo_terminal("socket://127.0.0.1:5020")


async def test_run_simulator_serves_8e1_on_a_pty(pty_pair, caplog):
    """The reference framing (8E1) on one end of a socat pair: a pty has no parity to set (its
    driver drops the bit, and the C library then refuses the change), so it is served without,
    and the log says so."""
    caplog.set_level(logging.INFO, logger="minisplit.hil.simulator")
    simulator_end, master_end = pty_pair
    task = asyncio.create_task(
        run_simulator(house(), tcp=None, serial=simulator_end, speed=1.0, parity="E")
    )
    client = AsyncModbusSerialClient(master_end, baudrate=19200, parity="N", timeout=0.5)
    try:
        await wait_until(
            lambda: any(" Hz " in r.getMessage() for r in caplog.records) or task.done()
        )
        assert not task.done(), task.exception()
        assert await client.connect()
        response = await client.read_input_registers(0, count=1, device_id=1)
        assert response.registers == [1]  # device_kind: outdoor unit
        assert any(
            "a pty: bytes without line framing, so 19200 8E1 is not applied" in r.getMessage()
            for r in caplog.records
        )
    finally:
        client.close()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def test_house_is_built_from_the_config():
    sim = Simulator(house("07-04 13:30"))
    assert sim.sim_time_s == parse_time_of_year("07-04 13:30")
    assert set(sim.heads) == {"living", "kitchen", "bedroom", "office"}
    assert sorted(sim.units) == [1, 11, 12, 13, 14]
    living = sim.plant.building.room("living").params
    assert (living.area_m2, living.aperture_m2) == (30.0, 2.0)
    assert sim.room_temperature("bedroom") == 16.0
    # Defaults for an unlisted room.
    assert sim.plant.building.room("kitchen").params.area_m2 == 25.0
    assert sim.room_temperature("kitchen") == 17.0
    assert sim.outdoor_temperature() > 25.0


def test_unit_ids_must_be_unique_on_the_one_endpoint():
    text = HOUSE.format(start="01-15") + '\n[buses.second]\ntype = "tcp"\nhost = "h"\n'
    text = text.replace('bus = "sim"\nunit_id = 14', 'bus = "second"\nunit_id = 11')
    with pytest.raises(ValueError, match="unit id 11"):
        Simulator(parse_config(text))


def test_unknown_zone_is_named():
    with pytest.raises(KeyError, match="garage"):
        Simulator(house()).head("garage")


@pytest.mark.looptime
async def test_physics_follows_the_loop_clock_times_speed():
    sim = Simulator(house(), speed=60.0)
    start = sim.sim_time_s
    async with sim.running():
        await asyncio.sleep(30.0)
        assert sim.sim_time_s - start == pytest.approx(1800.0, abs=60 * 0.11)
        sim.step(600.0)  # a manual step moves simulated time on, not the clock's pace
        await asyncio.sleep(10.0)
        assert sim.sim_time_s - start == pytest.approx(3000.0, abs=60 * 0.11)
    stopped_at = sim.sim_time_s
    await asyncio.sleep(10.0)
    assert sim.sim_time_s == stopped_at  # no physics once the block has ended
    async with sim.running():
        await asyncio.sleep(1.0)
    assert sim.sim_time_s - stopped_at == pytest.approx(60.0, abs=60 * 0.11)


async def test_running_twice_at_once_is_refused():
    sim = Simulator(house())
    async with sim.running():
        with pytest.raises(RuntimeError):
            async with sim.running():
                pass


async def test_run_simulator_serves_and_logs_until_cancelled(caplog):
    caplog.set_level(logging.INFO, logger="minisplit.hil.simulator")
    task = asyncio.create_task(
        run_simulator(house(), tcp=("127.0.0.1", 0), serial=None, speed=10.0)
    )
    await wait_until(lambda: any(" Hz " in r.getMessage() for r in caplog.records))
    assert any("on tcp 127.0.0.1:" in r.getMessage() for r in caplog.records)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_run_simulator_needs_an_endpoint_for_a_serial_config():
    with pytest.raises(ValueError, match="serial line"):
        await run_simulator(
            load_config(CONFIG_DIR / "example.toml"), tcp=None, serial=None, speed=1.0
        )


async def test_run_simulator_refuses_frame_faults_without_a_serial_line(tmp_path):
    faults = tmp_path / "noisy.toml"
    faults.write_text('[[faults]]\nkind = "bad_crc"\ntarget = "odu"\nprobability = 0.1\n')
    with pytest.raises(ValueError, match="bad_crc on 'odu': frame faults need an RTU line"):
        await run_simulator(house(), tcp=("127.0.0.1", 0), serial=None, speed=1.0, faults=faults)


def test_a_scenario_gives_the_building_and_its_start():
    scenario = load_scenario(
        next(p for p in shipped_scenarios() if p.stem == "unrenovated-january")
    )
    sim = Simulator(house(), scenario=scenario)
    assert sim.sim_time_s == scenario.start_s
    assert sim.plant.building is scenario.building
    assert sim.room_temperature("office") == scenario.building.room("office").initial_c
    # The same firmware objects behind the registers and in the house model.
    assert sim.head("living").firmware is sim.house.heads["living"]
    assert sim.odu.firmware is sim.house.odu
    sim.step(120.0)
    status = sim.odu_register("status")
    assert isinstance(status, int) and status & 0x40  # the watchdog runs as on a real unit
    eight = load_scenario(next(p for p in shipped_scenarios() if p.stem == "eight-zone-january"))
    with pytest.raises(ValueError, match="must be the same"):
        Simulator(house(), scenario=eight)
