"""`minisplit sim` run as a user runs it, seen through a real pymodbus master: a fault file's
times count from the simulator's start, and `--serial` serves one end of a socat pty pair
with the framing options (or without them) as the README shows."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from minisplit.hil.broker import free_port
from minisplit.testing.harness import DEMO
from minisplit.testing.processes import START_TIMEOUT_S, SimulatorProcess

pytestmark = pytest.mark.integration

ODU, LIVING, KITCHEN = 1, 11, 12
ODU_KIND, HEAD_KIND = 1, 2  # input register 0 of each (docs/reference-unit.md)
SILENT = "silent"
SPEED = 200.0
# Simulated seconds; at SPEED the vanished head returns 3 wall seconds after the start, and
# the kitchen's exceptions begin after 6.
VANISH_S, BUSY_FROM_S = 600.0, 1200.0
# How late past its due time a fault may be seen: one poll's timeout and a loaded machine.
SLACK_S = 2.5

Master = AsyncModbusTcpClient | AsyncModbusSerialClient


async def outcome(client: Master, unit: int) -> int | str:
    """What a read of ``unit``'s input register 0 gets: the value, an exception, or silence."""
    if not client.connected:  # pymodbus drops a TCP link after a few unanswered requests
        await client.connect()
    try:
        response = await client.read_input_registers(0, count=1, device_id=unit)
    except ModbusIOException:
        return SILENT
    if response.isError():
        return f"exception {response.exception_code}"
    return response.registers[0]


async def first_seen(
    process: SimulatorProcess, client: Master, unit: int, wanted: int | str, timeout_s: float
) -> float:
    """The loop time at which ``unit`` first answers ``wanted``, polling (bounded)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while (seen := await outcome(client, unit)) != wanted:
        if not process.running:
            pytest.fail(f"minisplit sim exited:\n{process.output()[-3000:]}")
        if loop.time() > deadline:
            pytest.fail(f"unit {unit} still answers {seen!r}, not {wanted!r}, after {timeout_s} s")
        await asyncio.sleep(0.02)
    return loop.time()


@contextlib.asynccontextmanager
async def simulator(tmp_path: Path, *args: str) -> AsyncIterator[SimulatorProcess]:
    """`minisplit sim -c demo.toml ARGS` (the shipped demo config, copied so that the log
    lands in ``tmp_path``)."""
    config = tmp_path / "demo.toml"
    config.write_text(DEMO)
    process = SimulatorProcess(config, "sim")
    await process.start(*args)
    try:
        yield process
    finally:
        await process.stop()


async def test_a_fault_files_times_count_from_the_simulators_start(tmp_path):
    faults = tmp_path / "faults.toml"
    faults.write_text(
        f'[[faults]]\nkind = "vanish"\ntarget = "living"\nstart_s = 0\nduration_s = {VANISH_S}\n'
        f'[[faults]]\nkind = "exception"\ntarget = "kitchen"\ncode = 6\nstart_s = {BUSY_FROM_S}\n'
    )
    port = free_port()
    loop = asyncio.get_running_loop()
    launched = loop.time()  # the simulator's clock starts after this
    async with simulator(
        tmp_path, "--tcp", f"127.0.0.1:{port}", "--speed", str(SPEED), "--faults", str(faults)
    ) as process:
        client = AsyncModbusTcpClient("127.0.0.1", port=port, timeout=0.3, retries=0)
        try:
            deadline = loop.time() + START_TIMEOUT_S
            while not await client.connect():
                assert process.running and loop.time() < deadline, process.output()[-3000:]
                await asyncio.sleep(0.05)
            # From the first request on: the living room's head is gone (start_s = 0), and the
            # kitchen's fault, due 1200 simulated seconds after the start, has not begun.
            assert await outcome(client, ODU) == ODU_KIND
            assert await outcome(client, KITCHEN) == HEAD_KIND
            assert await outcome(client, LIVING) == SILENT
            serving = loop.time()  # the simulator was serving before this
            back = await first_seen(process, client, LIVING, HEAD_KIND, 20)
            busy = await first_seen(process, client, KITCHEN, "exception 6", 20)
        finally:
            client.close()
    # Neither fault moved before its time (the simulator started after `launched`), and each
    # came when due, give or take a poll on a loaded machine.
    assert back - launched >= VANISH_S / SPEED
    assert back - serving <= VANISH_S / SPEED + SLACK_S
    assert busy - launched >= BUSY_FROM_S / SPEED
    assert busy - serving <= BUSY_FROM_S / SPEED + SLACK_S


@pytest.mark.parametrize(
    "framing", [[], ["--baudrate", "9600", "--parity", "O", "--stopbits", "2"]], ids=str
)
async def test_the_documented_serial_command_serves_one_end_of_a_pty_pair(
    tmp_path, pty_pair, framing
):
    simulator_end, master_end = pty_pair
    async with simulator(tmp_path, "--serial", simulator_end, *framing) as process:
        # A pty carries bytes without framing, and the C library refuses parity on one (see
        # drivers.serial_port.is_pseudo_terminal): the master's end runs without parity, whatever
        # the simulator's is, and sees the same bytes as over a real line.
        client = AsyncModbusSerialClient(
            master_end, baudrate=19200, parity="N", timeout=0.3, retries=0
        )
        assert await client.connect()
        try:
            await first_seen(process, client, ODU, ODU_KIND, START_TIMEOUT_S)
            assert await outcome(client, LIVING) == HEAD_KIND
            assert await outcome(client, 99) == SILENT  # nobody has that id on the line
        finally:
            client.close()
        assert "(a pty: bytes without line framing" in process.output()
