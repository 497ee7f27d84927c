"""A unit whose replies are malformed (a wrong byte count, a wrong function code), behind a
hostile man in the middle over TCP and over RTU: only that unit's requests fail, the line stays
up and the other units keep being answered, the outage is logged once and without a traceback."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

import pytest

from minisplit.drivers.bus import Backoff, BusDisconnected, BusError, BusScheduler
from minisplit.drivers.profile import Table
from minisplit.drivers.registers import ReadBlock
from tests.drivers.conftest import (
    HEAD_ID,
    ODU_ID,
    FakeLine,
    TcpEndpoint,
    eventually,
    rtu_bus,
    running,
    start_rtu_server,
    tcp_bus,
)
from tests.fixtures.hostile_modbus import (
    Corruption,
    ReplyCorruptor,
    rtu_corruptor,
    tcp_corruptor,
)

STATUS = ReadBlock(table=Table.INPUT, address=10, count=12, registers=())
REPROBE = Backoff(0.1, 0.1)
OUTAGES = 2
BOUND_S = 60


async def _outage(scheduler: BusScheduler, corruptor: ReplyCorruptor) -> None:
    """The head's replies go bad until the bus takes it offline, then good again until it is
    back: meanwhile the outdoor unit's requests, side by side with the head's, all succeed."""
    corruptor.targets.add(HEAD_ID)
    while scheduler.is_online(HEAD_ID):
        head, odu = await asyncio.gather(
            scheduler.read(HEAD_ID, STATUS), scheduler.read(ODU_ID, STATUS), return_exceptions=True
        )
        assert isinstance(head, BusError) and not isinstance(head, BusDisconnected), head
        assert isinstance(odu, list) and len(odu) == STATUS.count, odu
        assert scheduler.connected
    corruptor.targets.clear()

    async def back() -> bool:
        with contextlib.suppress(BusError):
            await scheduler.read(HEAD_ID, STATUS)
        assert len(await scheduler.read(ODU_ID, STATUS)) == STATUS.count
        return scheduler.is_online(HEAD_ID)

    await eventually(back, within_s=10)
    for _ in range(3):  # as many answers as failures took it offline: the outage is over
        assert len(await scheduler.read(HEAD_ID, STATUS)) == STATUS.count


def _check(scheduler: BusScheduler, caplog: pytest.LogCaptureFixture) -> None:
    odu, head = scheduler.stats(ODU_ID), scheduler.stats(HEAD_ID)
    assert (odu.errors, odu.timeouts, odu.consecutive_failures) == (0, 0, 0)
    assert head.errors >= 3 * OUTAGES and head.online
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert (
        warnings
        == [
            f"bus test: unit {HEAD_ID} failed 3 requests in a row: offline, re-probing with backoff"
        ]
        * OUTAGES
    )


@pytest.mark.parametrize("how", list(Corruption))
async def test_malformed_replies_over_tcp_fail_only_that_units_requests(
    tcp_server: TcpEndpoint, how: Corruption, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)  # as `minisplit run` sets it
    async with (
        asyncio.timeout(BOUND_S),
        tcp_corruptor(("127.0.0.1", tcp_server.port), how) as proxy,
    ):
        bus = tcp_bus(proxy.port, timeout_s=0.5, retries=1)
        scheduler = BusScheduler("test", bus, probe_backoff=REPROBE)
        async with running(scheduler):
            for _ in range(OUTAGES):
                await _outage(scheduler, proxy)
        assert proxy.connections == 1  # the link never dropped
    _check(scheduler, caplog)
    # Over TCP a malformed reply is noticed as it arrives, not after the timeout.
    assert scheduler.stats(HEAD_ID).timeouts == 0


@pytest.mark.integration
@pytest.mark.parametrize("how", list(Corruption))
async def test_malformed_replies_over_rtu_fail_only_that_units_requests(
    tmp_path: Path, line: FakeLine, how: Corruption, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    async with asyncio.timeout(BOUND_S), rtu_corruptor(tmp_path, how) as (injector, ours, theirs):
        server = await start_rtu_server(line, theirs)
        try:
            scheduler = BusScheduler(
                "test", rtu_bus(ours, timeout_s=0.3, retries=1), probe_backoff=REPROBE
            )
            async with running(scheduler):
                for _ in range(OUTAGES):
                    await _outage(scheduler, injector)
        finally:
            await server.shutdown()
    _check(scheduler, caplog)
