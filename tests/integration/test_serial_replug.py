"""The supervisor rides out a USB-RS485 adapter that is unplugged and plugged back in: a socat
pty pair that dies and comes back at the same paths, with no process restart."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import pytest

from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import rtu_config, running, wait_until
from tests.fixtures.serial_pty import start_pty_pair, stop_pty_pair

SPEED = 60.0  # one wall second is one simulated minute
REOPEN_ATTEMPTS = 2  # while unplugged: each one fails, none of them floods the log


def serving(simulator: Simulator, port: str) -> AbstractAsyncContextManager[Simulator]:
    return simulator.running(serial=port, baudrate=19200, parity="N")


def everything_available(supervisor: Supervisor) -> bool:
    return supervisor.odu.available and all(z.available for z in supervisor.heads.values())


def nothing_available(supervisor: Supervisor) -> bool:
    return not supervisor.odu.available and not any(z.available for z in supervisor.heads.values())


@pytest.mark.integration
async def test_the_supervisor_reconnects_by_itself_when_the_adapter_comes_back(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="minisplit.drivers.bus")
    loop = asyncio.get_running_loop()
    socat, controller_end, simulator_end = start_pty_pair(tmp_path)
    try:
        async with asyncio.timeout(60):
            loaded = rtu_config(controller_end, tmp_path / "state.json")
            simulator = Simulator(loaded, speed=SPEED)
            async with running(Supervisor(loaded, time_scale=SPEED)) as supervisor:
                bus = next(iter(supervisor.buses.values()))
                async with serving(simulator, simulator_end):
                    await wait_until(lambda: everything_available(supervisor), 20, "all units")
                    caplog.clear()
                    stop_pty_pair(socat)  # the adapter is unplugged: its device path vanishes
                    await wait_until(lambda: not bus.connected, 1, "the port's loss noticed")
                    await wait_until(lambda: nothing_available(supervisor), 5, "all unavailable")

                def reopen_attempts() -> int:
                    return sum("cannot open" in r.getMessage() for r in caplog.records)

                await wait_until(
                    lambda: reopen_attempts() >= REOPEN_ATTEMPTS, 10, "the port reopen attempts"
                )
                assert not bus.connected
                warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
                ours = [r.getMessage() for r in warnings if r.name.startswith("minisplit.drivers.")]
                assert len(ours) == 1 and "link lost" in ours[0], ours
                # and the supervisor's: one per unit that stops answering (the ODU and heads)
                units = 1 + len(supervisor.heads)
                assert len(warnings) <= 1 + units, [r.getMessage() for r in warnings]

                socat, _, simulator_end = start_pty_pair(tmp_path)  # plugged in, same paths
                plugged_in = loop.time()
                async with serving(simulator, simulator_end):
                    await wait_until(lambda: everything_available(supervisor), 15, "recovery")
                    recovered_s = loop.time() - plugged_in
                    print(f"all units available {recovered_s:.2f} s after the adapter came back")
                    assert bus.connected
    finally:
        stop_pty_pair(socat)
