"""Fault injection: every kind of fault, seen through a real pymodbus client, and the fault file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from math import nan
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException
from pymodbus.framer.rtu import FramerRTU

from minisplit.controller.config import load_config
from minisplit.hil.faults import Fault, FaultKind, fault_file, load_fault_file
from minisplit.hil.simulator import Simulator
from tests.hil.house import heat, house, served_house, without_watchdog

ODU, LIVING, KITCHEN = 1, 11, 12
STATUS, RETURN_AIR, FAULT_CODE = 10, 11, 14  # head input registers
ODU_STATUS, ODU_FAULT_CODE = 10, 19
RUNNING, DEFROST, FAULT, LOCKOUT, HEARTBEAT_LOST = 0x01, 0x02, 0x08, 0x10, 0x40
SENTINEL = 0x8000
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def served() -> AsyncIterator[tuple[Simulator, AsyncModbusTcpClient]]:
    async with served_house(timeout_s=0.3) as pair:
        yield pair


class RtuLine:
    """A pymodbus RTU master on one end of a pty pair, keeping every byte it receives."""

    def __init__(self, port: str) -> None:
        self.received = bytearray()
        self.client = AsyncModbusSerialClient(
            port, baudrate=19200, parity="N", timeout=0.3, retries=0, trace_packet=self._trace
        )

    def _trace(self, sending: bool, packet: bytes) -> bytes:
        if not sending:
            self.received += packet
        return packet

    def take(self) -> bytes:
        """What arrived since the last call."""
        data = bytes(self.received)
        self.received.clear()
        return data


@pytest.fixture
async def served_rtu(pty_pair) -> AsyncIterator[tuple[Simulator, RtuLine]]:
    """The test house on an RTU line (a socat pty pair, 8N1: ptys refuse parity)."""
    sim_end, master_end = pty_pair
    sim = Simulator(house())
    async with sim.running(serial=sim_end, parity="N"):
        line = RtuLine(master_end)
        assert await line.client.connect()
        try:
            yield sim, line
        finally:
            line.client.close()


def crc_ok(frame: bytes) -> bool:
    return FramerRTU.check_CRC(frame[:-2], int.from_bytes(frame[-2:], "big"))


async def word(client: AsyncModbusTcpClient, unit: int, address: int) -> int:
    response = await client.read_input_registers(address, count=1, device_id=unit)
    assert not response.isError(), response
    return response.registers[0]


async def answers(client: AsyncModbusTcpClient | AsyncModbusSerialClient, unit: int) -> bool:
    try:
        response = await client.read_input_registers(0, count=1, device_id=unit)
    except ModbusIOException:
        return False
    return not response.isError()


async def test_a_vanished_unit_is_silent_and_comes_back(served):
    sim, client = served
    sim.faults.add(Fault(FaultKind.VANISH, "living", duration_s=600))
    assert not await answers(client, LIVING)
    assert await answers(client, KITCHEN)  # the others are not touched
    sim.step(600)
    assert await answers(client, LIVING)
    assert sim.faults.active == []


async def test_no_reply_to_a_share_of_requests(served):
    sim, client = served
    sim.faults.seed(3)
    sim.faults.add(Fault(FaultKind.NO_REPLY, "living", probability=0.5))
    outcomes = [await answers(client, LIVING) for _ in range(10)]
    assert 0 < sum(outcomes) < 10


@pytest.mark.parametrize("code", [0x04, 0x06])
async def test_exception_replies(served, code):
    sim, client = served
    sim.faults.add(Fault(FaultKind.EXCEPTION, "odu", code=code, duration_s=60))
    response = await client.read_holding_registers(100, count=1, device_id=ODU)
    assert response.isError() and response.exception_code == code
    sim.step(60)
    assert await answers(client, ODU)


async def test_slow_replies_arrive_late(served):
    sim, client = served
    sim.faults.add(Fault(FaultKind.SLOW, "kitchen", delay_s=0.2))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await word(client, KITCHEN, 0) == 2  # an indoor head, just late
    assert loop.time() - started >= 0.2


async def test_a_slow_unit_is_late_once_per_request(served):
    sim, client = served
    sim.faults.add(Fault(FaultKind.SLOW, "kitchen", delay_s=0.2))
    loop = asyncio.get_running_loop()
    started = loop.time()
    # A write touches the datastore twice (write, read back): still one delay, within 0.3 s.
    response = await client.write_register(100, 1, device_id=KITCHEN)
    assert not response.isError()
    assert 0.2 <= loop.time() - started < 0.3


async def test_a_late_reply_names_the_request_it_answers():
    async with served_house(timeout_s=2.0) as (sim, client):
        sim.faults.add(Fault(FaultKind.SLOW, "living", delay_s=0.4))
        with pytest.raises(TimeoutError):  # the master gives up on the first request...
            async with asyncio.timeout(0.2):
                await client.read_input_registers(0, count=1, device_id=LIVING)
        # ...and asks for another register; the first reply arrives meanwhile. It names its
        # own transaction, so the master cannot take the device kind (2) for the capacity.
        response = await client.read_input_registers(4, count=1, device_id=LIVING)
        assert response.registers == [2500]


async def test_a_stuck_sensor_keeps_its_value(served):
    sim, client = served
    before = await word(client, LIVING, RETURN_AIR)
    sim.faults.add(Fault(FaultKind.STUCK_SENSOR, "living", register="return_air_temperature"))
    sim.step(3 * 3600)  # an unheated January morning: the room cools
    assert sim.head("living").input_values()["return_air_temperature"] != before / 10
    assert await word(client, LIVING, RETURN_AIR) == before


async def test_out_of_range_and_sentinel_sensor_values(served):
    sim, client = served
    register = "return_air_temperature"
    sim.faults.add(Fault(FaultKind.SENSOR_VALUE, "living", register=register, value=150.0))
    sim.faults.add(Fault(FaultKind.SENSOR_VALUE, "kitchen", register=register))
    assert await word(client, LIVING, RETURN_AIR) == 1500
    assert await word(client, KITCHEN, RETURN_AIR) == SENTINEL
    assert await word(client, KITCHEN, FAULT_CODE) == 0  # only the value is wrong


async def test_a_broken_sensor_reads_the_sentinel_and_raises_a_fault(served):
    sim, client = served
    sim.faults.add(
        Fault(FaultKind.SENSOR_BROKEN, "living", register="return_air_temperature", duration_s=60)
    )
    assert await word(client, LIVING, RETURN_AIR) == SENTINEL
    assert await word(client, LIVING, STATUS) & FAULT
    assert await word(client, LIVING, FAULT_CODE) == 1  # return-air sensor
    sim.step(60)
    assert await word(client, LIVING, RETURN_AIR) != SENTINEL
    assert await word(client, LIVING, FAULT_CODE) == 0


async def test_odu_fault_stops_the_compressor_then_the_restart_lockout_holds(served):
    sim, client = served
    without_watchdog(sim)
    heat(sim)
    sim.step(300)
    assert await word(client, ODU, ODU_STATUS) & RUNNING
    sim.faults.add(Fault(FaultKind.ODU_FAULT, "odu", code="high_pressure", duration_s=60))
    sim.step(10)
    status = await word(client, ODU, ODU_STATUS)
    assert status & FAULT and not status & RUNNING
    assert await word(client, ODU, ODU_FAULT_CODE) == 3  # high pressure
    sim.step(60)
    status = await word(client, ODU, ODU_STATUS)
    assert not status & FAULT and status & LOCKOUT and not status & RUNNING
    assert await word(client, ODU, ODU_FAULT_CODE) == 0
    sim.step(200)
    assert await word(client, ODU, ODU_STATUS) & RUNNING  # restarted after the lockout


async def test_forced_defrost(served):
    sim, client = served
    without_watchdog(sim)
    heat(sim)
    sim.step(300)
    assert not await word(client, ODU, ODU_STATUS) & DEFROST
    sim.faults.add(Fault(FaultKind.DEFROST, "odu"))
    sim.step(4)
    assert await word(client, ODU, ODU_STATUS) & DEFROST


async def test_heartbeat_lapse_sends_the_unit_autonomous(served):
    sim, client = served
    sim.faults.add(Fault(FaultKind.HEARTBEAT_LAPSE, "bedroom", duration_s=120))
    assert await word(client, 13, STATUS) & HEARTBEAT_LOST
    assert not await word(client, LIVING, STATUS) & HEARTBEAT_LOST
    sim.step(120)
    sim.head("bedroom").write("heartbeat", 7)
    assert not await word(client, 13, STATUS) & HEARTBEAT_LOST


async def test_faults_start_late_and_recur_at_random(served):
    sim, client = served
    sim.faults.add(Fault(FaultKind.VANISH, "office", start_s=60, duration_s=30, repeat_per_hour=60))
    assert await answers(client, 14)
    sim.step(61)
    assert not await answers(client, 14)
    for _ in range(360):  # an hour at a fault a minute: many begin, and each one ends
        sim.step(10)
    assert sim.faults.injected > 20
    sim.faults.clear()
    assert await answers(client, 14)


def test_fault_times_count_from_the_simulators_start(sim):
    """Faults added before the simulator runs (a fault file's) count from its start date, not
    from Jan 1 of the weather year: start_s = 0 happens, and start_s = 1800 waits."""
    assert sim.sim_time_s > 14 * 86400  # the test house starts on Jan 15
    at_once = Fault(FaultKind.VANISH, "living", duration_s=600)
    later = Fault(FaultKind.EXCEPTION, "kitchen", code=6, start_s=1800, duration_s=60)
    sim.faults.add(at_once)
    sim.faults.add(later)
    sim.step(1)
    assert sim.faults.active == [at_once]
    sim.step(1789)
    assert sim.faults.active == []  # the first has ended, the second not yet begun
    sim.step(20)
    assert sim.faults.active == [later]


async def test_bad_crc_replies_are_dropped_by_the_master_until_the_fault_ends(served_rtu):
    sim, line = served_rtu
    sim.faults.add(Fault(FaultKind.BAD_CRC, "living", duration_s=600))
    async with asyncio.timeout(10):
        assert not await answers(line.client, LIVING)
        reply = line.take()
        # The whole reply arrived, but its CRC is wrong: pymodbus drops it, the master times out.
        assert reply[:2] == bytes([LIVING, 4]) and not crc_ok(reply)
        assert await answers(line.client, KITCHEN)  # the others' frames are sound
        assert crc_ok(line.take())
        sim.step(600)
        assert await answers(line.client, LIVING)
        assert crc_ok(line.take())


async def test_bad_crc_on_a_share_of_replies(served_rtu):
    sim, line = served_rtu
    sim.faults.seed(5)
    sim.faults.add(Fault(FaultKind.BAD_CRC, "office", probability=0.5))
    async with asyncio.timeout(10):
        outcomes = [await answers(line.client, 14) for _ in range(10)]
    assert 0 < sum(outcomes) < 10


async def test_noise_before_a_reply_costs_the_master_that_reply(served_rtu):
    sim, line = served_rtu
    sim.faults.seed(2)
    sim.faults.add(Fault(FaultKind.GARBAGE, "kitchen", noise_bytes=6, duration_s=600))
    async with asyncio.timeout(10):
        outcomes = [await answers(line.client, KITCHEN) for _ in range(3)]
        received = line.take()
        # Each reply arrived whole, behind its burst of noise; pymodbus hunts through the
        # noise, takes a random byte pair for a frame start, fails its CRC and drops it all.
        frame = received[-7:]  # a one-register read reply: id, fc, count, 2 bytes, CRC
        assert frame[:3] == bytes([KITCHEN, 4, 2]) and crc_ok(frame)
        assert len(received) == 3 * (6 + len(frame))
        assert not any(outcomes)
        sim.step(600)
        assert await answers(line.client, KITCHEN)
        assert len(line.take()) == len(frame)


async def test_frame_faults_need_an_rtu_line(served):
    sim, _ = served
    with pytest.raises(ValueError, match="bad_crc on 'living': frame faults need an RTU line"):
        sim.faults.add(Fault(FaultKind.BAD_CRC, "living"))
    idle = Simulator(house())
    idle.faults.add(Fault(FaultKind.GARBAGE, "odu"))  # not serving yet: nothing to refuse
    with pytest.raises(ValueError, match="garbage on 'odu'"):
        async with idle.running(tcp=("127.0.0.1", 0)):
            pass


def test_faults_are_validated():
    with pytest.raises(ValueError, match="outdoor unit"):
        Fault(FaultKind.DEFROST, "living")
    with pytest.raises(ValueError, match="needs a register"):
        Fault(FaultKind.STUCK_SENSOR, "living")
    with pytest.raises(ValueError):
        Fault(FaultKind.EXCEPTION, "living", code=0x55)
    with pytest.raises(ValueError):
        Fault("melt", "living")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="noise_bytes"):
        Fault(FaultKind.GARBAGE, "living", noise_bytes=0)
    with pytest.raises(ValueError, match="probability"):
        Fault(FaultKind.BAD_CRC, "living", probability=1.5)


@pytest.mark.parametrize("key", ["start_s", "duration_s", "delay_s"])
def test_a_fault_time_that_is_not_a_number_is_refused(key: str) -> None:
    """`start_s = nan` in a fault file passed: a fault that never came, and nothing said so."""
    times = {"start_s": 0.0, "duration_s": 60.0, "delay_s": 1.0} | {key: nan}
    with pytest.raises(ValueError, match=key):
        Fault(
            FaultKind.SLOW,
            "living",
            start_s=times["start_s"],
            duration_s=times["duration_s"],
            delay_s=times["delay_s"],
        )


def test_unknown_target_or_register(sim):
    with pytest.raises(KeyError, match="no fault target 'garage'"):
        sim.faults.add(Fault(FaultKind.VANISH, "garage"))
    with pytest.raises(KeyError):
        sim.faults.add(Fault(FaultKind.STUCK_SENSOR, "living", register="nonsense"))


def test_fault_file(tmp_path, sim):
    path = tmp_path / "faults.toml"
    path.write_text(
        "seed = 7\n"
        '[[faults]]\nkind = "vanish"\ntarget = "bedroom"\nstart_s = 600\nduration_s = 300\n'
        '[[faults]]\nkind = "exception"\ntarget = "odu"\ncode = 6\nrepeat_per_hour = 2\n'
        "duration_s = 20\n"
    )
    faults, seed = load_fault_file(path)
    assert seed == 7
    assert faults == [
        Fault(FaultKind.VANISH, "bedroom", start_s=600, duration_s=300),
        Fault(FaultKind.EXCEPTION, "odu", code=6, duration_s=20, repeat_per_hour=2),
    ]
    path.write_text('[[faults]]\nkind = "vanish"\ntarget = "bedroom"\nstart = 1\n')
    with pytest.raises(ValueError, match="fault 1: unknown keys start"):
        load_fault_file(path)


def test_the_example_fault_file_fits_the_demo_house():
    faults, _ = load_fault_file(ROOT / "config" / "demo-faults.toml")
    sim = Simulator(load_config(ROOT / "config" / "demo.toml"))
    for fault in faults:
        sim.faults.add(fault)  # a target or register the demo house lacks would raise
    assert [f.start_s for f in faults] == [0, 600, 3600]


def test_fault_file_with_frame_faults(tmp_path):
    path = tmp_path / "noisy-line.toml"
    path.write_text(
        '[[faults]]\nkind = "bad_crc"\ntarget = "odu"\nprobability = 0.1\n'
        '[[faults]]\nkind = "garbage"\ntarget = "kitchen"\nnoise_bytes = 3\nrepeat_per_hour = 6\n'
        "duration_s = 30\n"
    )
    assert load_fault_file(path) == (
        [
            Fault(FaultKind.BAD_CRC, "odu", probability=0.1),
            Fault(FaultKind.GARBAGE, "kitchen", noise_bytes=3, repeat_per_hour=6, duration_s=30),
        ],
        0,
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[faults]]\nkind = "garbage"\ntarget = "odu"\nnoise_bytes = 999\n', "fault 1: garbage"),
        ("faults = 3\n", "array of tables"),
        ('seed = "x"\n', "'seed' must be an integer"),
        ("seed = true\n", "'seed' must be an integer"),
        ('[[faults]]\nkind = "vanish"\ntarget = "odu"\nstart_s = "10"\n', "start_s = '10' is"),
        ('[[faults]]\nkind = "vanish"\ntarget = "odu"\nstart_s = true\n', "start_s = True is"),
        ('[[faults]]\nkind = "vanish"\ntarget = 7\n', "target = 7 is of the wrong type"),
        ("[[faults]\n", "faults.toml: "),  # not TOML
    ],
)
def test_bad_fault_files_are_named(tmp_path, text, message):
    path = tmp_path / "faults.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_fault_file(path)


def test_a_fault_file_that_is_a_fifo_is_refused_unread(tmp_path):
    # Read as configs are: a FIFO would block `minisplit sim` until a writer came.
    path = tmp_path / "faults.toml"
    os.mkfifo(path)
    with pytest.raises(ValueError, match="it is a FIFO"):
        load_fault_file(path)


def test_a_fault_file_that_is_not_utf8_is_refused_with_its_line(tmp_path):
    path = tmp_path / "faults.toml"
    path.write_bytes(b"seed = 1\n# caf\xe9\n")
    with pytest.raises(ValueError, match="not UTF-8 text: byte 0xe9 on line 2"):
        load_fault_file(path)


def test_a_shipped_fault_file_is_named_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    faults, _ = load_fault_file(fault_file("demo-faults"))
    assert faults
    with pytest.raises(ValueError, match="nor is it a shipped fault file: demo-faults"):
        load_fault_file(fault_file("demo-fault"))
