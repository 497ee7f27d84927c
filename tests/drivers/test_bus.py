"""The bus scheduler: against a real pymodbus server (TCP and RTU over a pty pair), and with a
fake client on a fast-forwarded loop clock (looptime) for the backoff schedules."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from pathlib import Path

import pytest
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import (
    ReadInputRegistersResponse,
    WriteSingleRegisterResponse,
)

from controller.config import SerialBus, TcpBus
from drivers.bus import (
    Backoff,
    BusDisconnected,
    BusError,
    BusOverloaded,
    BusScheduler,
    DeviceOffline,
    DeviceTimeout,
    ModbusExceptionReply,
    Priority,
)
from drivers.profile import Table
from drivers.registers import ReadBlock
from drivers.transport import ClientFactory, ModbusClient, TransportError, open_client
from tests.drivers.conftest import (
    DEAD_ID,
    FAST_RECONNECT,
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
from tests.fixtures.serial_pty import start_pty_pair, stop_pty_pair


def block(table: Table, address: int, count: int) -> ReadBlock:
    return ReadBlock(table=table, address=address, count=count, registers=())


STATUS = block(Table.INPUT, 10, 12)
IDENTITY = block(Table.INPUT, 0, 9)


# ---- transport ------------------------------------------------------------------------------


async def test_missing_serial_port_is_a_clear_error(tmp_path: Path) -> None:
    device = str(tmp_path / "ttyUSB9")
    with pytest.raises(TransportError, match=rf"serial port {device}: cannot open: .*No such file"):
        await open_client(rtu_bus(device))


async def test_refused_tcp_connection_is_a_clear_error(unused_tcp_port: int) -> None:
    with pytest.raises(TransportError, match=rf"Modbus TCP 127.0.0.1:{unused_tcp_port}: cannot"):
        await open_client(tcp_bus(unused_tcp_port))


@pytest.mark.integration
async def test_kernel_rs485_mode_on_a_port_without_it_is_a_clear_error(
    pty_pair: tuple[str, str],
) -> None:
    with pytest.raises(TransportError, match="cannot enable the kernel's RS-485 mode"):
        await open_client(rtu_bus(pty_pair[0], rs485_mode=True))


# ---- against a real server over TCP ---------------------------------------------------------


async def test_read_returns_the_blocks_words_and_counts(
    tcp_scheduler: BusScheduler, line: FakeLine
) -> None:
    line.units[ODU_ID].set("outdoor_temperature", -7.5)
    words = await tcp_scheduler.read(ODU_ID, STATUS)
    assert len(words) == 12
    assert words[3] == 0x10000 - 75
    stats = tcp_scheduler.stats(ODU_ID)
    assert (stats.requests, stats.transactions, stats.errors) == (1, 1, 0)
    assert stats.online and stats.last_latency_s is not None
    assert tcp_scheduler.total_transactions == 1


async def test_one_word_is_written_with_fc06_and_several_with_fc16(
    tcp_scheduler: BusScheduler, line: FakeLine
) -> None:
    await tcp_scheduler.write(HEAD_ID, 106, [215])
    await tcp_scheduler.write(HEAD_ID, 100, [1, 1, 4])
    assert line.writes(HEAD_ID) == [(6, 106), (16, 100)]
    head = line.units[HEAD_ID]
    assert (head.get("display_setpoint"), head.get("power"), head.get("fan")) == (21.5, 1, 4)


async def test_exception_reply_is_an_answer_not_a_failure(
    tcp_scheduler: BusScheduler, line: FakeLine
) -> None:
    with pytest.raises(ModbusExceptionReply) as past_end:
        await tcp_scheduler.read(ODU_ID, block(Table.INPUT, 20, 4))  # the table ends at 21
    assert past_end.value.code == 0x02
    with pytest.raises(ModbusExceptionReply) as out_of_range:
        await tcp_scheduler.write(ODU_ID, 103, [101])  # demand_limit 0..100
    assert out_of_range.value.code == 0x03
    stats = tcp_scheduler.stats(ODU_ID)
    assert (stats.transactions, stats.exception_replies, stats.consecutive_failures) == (2, 2, 0)
    assert stats.online
    assert line.units[ODU_ID].get("demand_limit") == 0


async def test_commands_jump_ahead_of_queued_polls(
    tcp_scheduler: BusScheduler, line: FakeLine
) -> None:
    polls = [
        asyncio.create_task(tcp_scheduler.read(ODU_ID, STATUS, priority=Priority.POLL))
        for _ in range(5)
    ]
    await asyncio.sleep(0)  # the polls are queued; the first one is on the wire
    command = asyncio.create_task(
        tcp_scheduler.write(HEAD_ID, 106, [230], priority=Priority.COMMAND)
    )
    await asyncio.gather(command, *polls)
    order = [unit for unit, _, _ in line.requests]
    assert order.index(HEAD_ID) <= 1, order
    assert len(order) == 6


async def test_dead_unit_goes_offline_after_three_failures_then_fails_fast(
    tcp_server: TcpEndpoint, line: FakeLine
) -> None:
    bus = tcp_bus(tcp_server.port, timeout_s=0.05, retries=1)
    scheduler = BusScheduler("test", bus, offline_after=3, probe_backoff=Backoff(60, 60))
    async with running(scheduler):
        for _ in range(3):
            with pytest.raises(DeviceTimeout, match=r"unit 99: no answer within 0\.05 s"):
                await scheduler.read(DEAD_ID, STATUS)
        assert not scheduler.is_online(DEAD_ID)
        sent = len(line.requests)
        with pytest.raises(DeviceOffline, match="unit 99 is offline"):
            await scheduler.read(DEAD_ID, STATUS)
        assert len(line.requests) == sent  # nothing went to the wire
        stats = scheduler.stats(DEAD_ID)
        assert (stats.requests, stats.transactions, stats.timeouts) == (3, 6, 6)
        assert (stats.rejected_offline, stats.consecutive_failures) == (1, 3)
        # the other units on the line are not affected
        await scheduler.read(ODU_ID, STATUS)
        assert scheduler.is_online(ODU_ID)


async def test_offline_unit_is_reprobed_later_and_comes_back(
    tcp_server: TcpEndpoint, line: FakeLine
) -> None:
    bus = tcp_bus(tcp_server.port, timeout_s=0.05, retries=0)
    scheduler = BusScheduler("test", bus, probe_backoff=Backoff(0.2, 0.4))
    line.silent.add(HEAD_ID)
    async with running(scheduler):
        for _ in range(3):
            with pytest.raises(DeviceTimeout):
                await scheduler.read(HEAD_ID, STATUS)
        assert not scheduler.is_online(HEAD_ID)

        async def reprobed() -> bool:
            with contextlib.suppress(DeviceOffline, DeviceTimeout):
                await scheduler.read(HEAD_ID, STATUS)
            return scheduler.stats(HEAD_ID).transactions == 4

        await eventually(reprobed)  # one attempt, no retries, still silent
        assert not scheduler.is_online(HEAD_ID)

        line.silent.clear()

        async def back() -> bool:
            with contextlib.suppress(DeviceOffline):
                await scheduler.read(HEAD_ID, STATUS)
            return scheduler.is_online(HEAD_ID)

        await eventually(back)
        stats = scheduler.stats(HEAD_ID)
        assert stats.consecutive_failures == 0
        assert stats.rejected_offline > 0


async def test_link_loss_fails_pending_requests_and_the_bus_reconnects(
    tcp_server: TcpEndpoint, line: FakeLine
) -> None:
    bus = tcp_bus(tcp_server.port, timeout_s=0.5, retries=0)
    scheduler = BusScheduler("test", bus, reconnect_backoff=FAST_RECONNECT)
    async with running(scheduler):
        line.silent.add(ODU_ID)  # keeps the first request on the wire, the others queued
        pending = [asyncio.create_task(scheduler.read(ODU_ID, STATUS)) for _ in range(3)]
        await asyncio.sleep(0.05)
        await tcp_server.stop()  # the gateway goes away
        results = await asyncio.gather(*pending, return_exceptions=True)
        assert all(isinstance(r, BusDisconnected) for r in results), results
        assert scheduler.stats(ODU_ID).consecutive_failures == 0  # the device is not to blame
        with pytest.raises(BusDisconnected, match="not connected"):
            await scheduler.read(ODU_ID, STATUS)

        line.silent.clear()
        await tcp_server.start()  # and comes back on the same port
        async with asyncio.timeout(5):
            await scheduler.wait_connected()
        assert len(await scheduler.read(ODU_ID, STATUS)) == 12


async def test_stopping_the_owner_task_fails_waiting_requests_and_closes_the_client(
    tcp_server: TcpEndpoint, line: FakeLine
) -> None:
    clients: list[ModbusClient] = []

    async def factory(bus: SerialBus | TcpBus, on_lost: Callable[[], None]) -> ModbusClient:
        client = await open_client(bus, on_lost)
        clients.append(client)
        return client

    scheduler = BusScheduler("test", tcp_bus(tcp_server.port, timeout_s=2), client_factory=factory)
    line.silent.add(ODU_ID)
    async with running(scheduler):
        pending = [asyncio.create_task(scheduler.read(ODU_ID, STATUS)) for _ in range(2)]
        await asyncio.sleep(0.05)
    results = await asyncio.gather(*pending, return_exceptions=True)
    assert all(isinstance(r, BusDisconnected) for r in results), results
    assert not clients[0].connected
    assert not scheduler.connected


# ---- over Modbus RTU through a pty pair -----------------------------------------------------


@pytest.mark.integration
async def test_rtu_read_write_exception_and_timeout(rtu_server: str, line: FakeLine) -> None:
    scheduler = BusScheduler("rs485", rtu_bus(rtu_server, timeout_s=0.1, retries=0))
    async with running(scheduler):
        line.units[HEAD_ID].set("return_air_temperature", 19.5)
        words = await scheduler.read(HEAD_ID, block(Table.INPUT, 10, 14))
        assert words[1] == 195
        await scheduler.write(HEAD_ID, 100, [1, 3])
        assert (line.units[HEAD_ID].get("power"), line.units[HEAD_ID].get("mode")) == (1, 3)
        with pytest.raises(ModbusExceptionReply) as reply:
            await scheduler.write(HEAD_ID, 10, [1])  # an input register
        assert reply.value.code == 0x02
        for _ in range(3):
            with pytest.raises(DeviceTimeout):
                await scheduler.read(DEAD_ID, STATUS)
        with pytest.raises(DeviceOffline):
            await scheduler.read(DEAD_ID, STATUS)
        # the line is still in step after the silent unit: no stale frames
        assert len(await scheduler.read(ODU_ID, IDENTITY)) == 9


@pytest.mark.integration
async def test_vanished_serial_port_fails_requests_and_reconnects(
    tmp_path: Path, line: FakeLine
) -> None:
    socat, server_end, client_end = start_pty_pair(tmp_path)
    server = await start_rtu_server(line, server_end)
    bus = rtu_bus(client_end, timeout_s=0.3, retries=0)
    scheduler = BusScheduler("rs485", bus, reconnect_backoff=FAST_RECONNECT)
    try:
        async with running(scheduler):
            await scheduler.read(ODU_ID, STATUS)
            stop_pty_pair(socat)  # the USB adapter is unplugged
            await server.shutdown()

            async def noticed() -> bool:
                return not scheduler.connected

            await eventually(noticed)
            with pytest.raises(BusDisconnected):
                await scheduler.read(ODU_ID, STATUS)

            socat, server_end, _ = start_pty_pair(tmp_path)  # plugged back in, same path
            server = await start_rtu_server(line, server_end)
            async with asyncio.timeout(5):
                await scheduler.wait_connected()
            assert len(await scheduler.read(ODU_ID, STATUS)) == 12
            assert scheduler.stats(ODU_ID).consecutive_failures == 0
    finally:
        await server.shutdown()
        stop_pty_pair(socat)


# ---- on the loop clock, with a fake client --------------------------------------------------


class FakeClient:
    """Answers reads for ``answering`` units; others stay silent. Logs (loop time, unit)."""

    def __init__(self, answering: set[int]) -> None:
        self.answering = answering
        self.connected = True
        self.sent: list[tuple[float, int]] = []

    async def _answer(self, unit: int, response: ModbusPDU) -> ModbusPDU:
        self.sent.append((asyncio.get_running_loop().time(), unit))
        if unit not in self.answering:
            await asyncio.sleep(3600)
        return response

    async def read_input_registers(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> ModbusPDU:
        return await self._answer(device_id, ReadInputRegistersResponse(registers=[0] * count))

    async def read_holding_registers(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> ModbusPDU:
        raise NotImplementedError

    async def write_register(self, address: int, value: int, *, device_id: int = 1) -> ModbusPDU:
        return await self._answer(
            device_id, WriteSingleRegisterResponse(address=address, registers=[value])
        )

    async def write_registers(
        self, address: int, values: list[int], *, device_id: int = 1
    ) -> ModbusPDU:
        raise NotImplementedError

    def close(self) -> None:
        self.connected = False


def fake_factory(client: FakeClient) -> ClientFactory:
    async def factory(bus: SerialBus | TcpBus, on_lost: Callable[[], None]) -> ModbusClient:
        return client

    return factory


LINE = tcp_bus(502, timeout_s=0.3, retries=2, inter_frame_delay_s=0.0)


@pytest.mark.looptime
async def test_offline_reprobe_schedule_doubles_up_to_60_s() -> None:
    client = FakeClient(answering=set())
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client))
    async with running(scheduler):
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < 400:  # a poller asking every 0.1 s
            with contextlib.suppress(BusError):
                await scheduler.read(7, STATUS)
            await asyncio.sleep(0.1)
    probes = [t for t, _ in client.sent][9:]  # after 3 requests x 3 attempts
    gaps = [round(b - a) for a, b in itertools.pairwise(probes)]
    assert gaps[:6] == [10, 20, 40, 60, 60, 60]
    first_probe_delay = probes[0] - client.sent[8][0]
    assert 5 <= first_probe_delay <= 5.5


@pytest.mark.looptime
async def test_per_device_timeout_and_retries() -> None:
    client = FakeClient(answering=set())
    scheduler = BusScheduler(
        "t", LINE, client_factory=fake_factory(client), retry_backoff=Backoff(0.1, 0.1)
    )
    scheduler.configure_device(8, timeout_s=1.0, retries=0)
    async with running(scheduler):
        loop = asyncio.get_running_loop()
        for unit, expected_s in [(7, 3 * 0.3 + 2 * 0.1), (8, 1.0)]:
            start = loop.time()
            with pytest.raises(DeviceTimeout):
                await scheduler.read(unit, STATUS)
            assert loop.time() - start == pytest.approx(expected_s, abs=0.01)
    assert [u for _, u in client.sent] == [7, 7, 7, 8]


@pytest.mark.looptime
async def test_inter_frame_delay_is_kept_between_transactions() -> None:
    client = FakeClient(answering={1})
    line = tcp_bus(502, inter_frame_delay_s=0.05)
    scheduler = BusScheduler("t", line, client_factory=fake_factory(client))
    async with running(scheduler):
        await asyncio.gather(*(scheduler.read(1, STATUS) for _ in range(4)))
    times = [t for t, _ in client.sent]
    assert [round(b - a, 3) for a, b in itertools.pairwise(times)] == [0.05] * 3


@pytest.mark.looptime
async def test_reconnect_backoff_doubles_and_is_capped() -> None:
    attempts: list[float] = []
    client = FakeClient(answering={1})

    async def flaky(bus: SerialBus | TcpBus, on_lost: Callable[[], None]) -> ModbusClient:
        attempts.append(asyncio.get_running_loop().time())
        if len(attempts) < 8:
            raise TransportError("serial port /dev/ttyUSB0: cannot open")
        return client

    scheduler = BusScheduler("t", LINE, client_factory=flaky, reconnect_backoff=Backoff(0.5, 10.0))
    with pytest.raises(BusDisconnected, match="not connected"):
        await scheduler.read(1, STATUS)
    task = asyncio.create_task(scheduler.run())
    try:
        async with asyncio.timeout(100):
            await scheduler.wait_connected()
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(attempts)]
        assert gaps == [0.5, 1, 2, 4, 8, 10, 10]
        assert await scheduler.read(1, STATUS) == [0] * 12
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.looptime
async def test_link_lost_while_idle_is_noticed_without_a_request() -> None:
    client = FakeClient(answering={1})
    lost: list[Callable[[], None]] = []

    async def factory(bus: SerialBus | TcpBus, on_lost: Callable[[], None]) -> ModbusClient:
        lost.append(on_lost)
        return client

    scheduler = BusScheduler("t", LINE, client_factory=factory, reconnect_backoff=Backoff(1, 1))
    async with running(scheduler):
        client.connected = False
        lost[0]()

        async def noticed() -> bool:
            return not scheduler.connected

        await eventually(noticed, within_s=0.5)
        client.connected = True
        async with asyncio.timeout(2):
            await scheduler.wait_connected()
        assert len(lost) == 2


@pytest.mark.looptime
async def test_queue_is_bounded() -> None:
    client = FakeClient(answering=set())
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client), queue_size=2)
    async with running(scheduler):
        requests = [asyncio.create_task(scheduler.read(7, STATUS)) for _ in range(4)]
        results = await asyncio.gather(*requests, return_exceptions=True)
    assert [type(r) for r in results] == [
        DeviceTimeout,
        DeviceTimeout,
        BusOverloaded,
        BusOverloaded,
    ]


@pytest.mark.looptime
async def test_a_caller_that_gives_up_does_not_cost_a_transaction() -> None:
    client = FakeClient(answering=set())
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client))
    async with running(scheduler):
        first = asyncio.create_task(scheduler.read(7, STATUS))
        second = asyncio.create_task(scheduler.read(7, STATUS))
        await asyncio.sleep(0.1)
        second.cancel()
        with pytest.raises(DeviceTimeout):
            await first
        await asyncio.sleep(1)
    assert scheduler.stats(7).requests == 1


async def test_write_refuses_words_that_are_not_16_bit(tcp_scheduler: BusScheduler) -> None:
    with pytest.raises(ValueError, match="not 16-bit words"):
        await tcp_scheduler.write(HEAD_ID, 100, [0x10000])
    with pytest.raises(ValueError, match=r"1\.\.123 words"):
        await tcp_scheduler.write(HEAD_ID, 100, [])
    assert tcp_scheduler.total_transactions == 0
