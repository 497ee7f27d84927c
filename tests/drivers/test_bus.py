"""The bus scheduler: against a real pymodbus server (TCP and RTU over a pty pair), and with a
fake client on a fast-forwarded loop clock (looptime) for the backoff schedules."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.bit_message import ReadCoilsResponse, WriteSingleCoilResponse
from pymodbus.pdu.register_message import (
    ReadInputRegistersResponse,
    WriteSingleRegisterResponse,
)

from minisplit.drivers.bus import (
    MIN_SCALED_TIMEOUT_S,
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
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.profile import Table
from minisplit.drivers.registers import ReadBlock
from minisplit.drivers.transport import (
    ClientFactory,
    ModbusClient,
    TransportError,
    describe,
    open_client,
)
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
    with pytest.raises(
        TransportError, match=rf"serial port {device}: cannot open: .* does not exist .*plugged in"
    ):
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
        # the first request is tried twice; once it failed, the unit gets single attempts
        assert (stats.requests, stats.transactions, stats.timeouts) == (3, 4, 4)
        assert (stats.rejected_offline, stats.consecutive_failures) == (1, 3)
        # the other units on the line are not affected
        await scheduler.read(ODU_ID, STATUS)
        assert scheduler.is_online(ODU_ID)


def tolerating_three_lost_polls(server: TcpEndpoint) -> BusScheduler:
    bus = tcp_bus(server.port, timeout_s=0.05, retries=0).model_copy(
        update={"failed_polls_tolerated": 3}
    )
    return BusScheduler("test", bus, probe_backoff=Backoff(60, 60))


async def lose_three_polls_then_answer(scheduler: BusScheduler, line: FakeLine) -> None:
    """Three polls of the silent head time out; it is still online, and once it answers again
    the next poll is answered, not refused as offline."""
    for _ in range(3):
        with pytest.raises(DeviceTimeout):
            await scheduler.read(HEAD_ID, STATUS)
    assert scheduler.is_online(HEAD_ID)
    line.silent.discard(HEAD_ID)
    await scheduler.read(HEAD_ID, STATUS)


async def test_a_line_that_tolerates_more_lost_polls_gives_a_unit_up_only_after_them(
    tcp_server: TcpEndpoint, line: FakeLine
) -> None:
    """With `failed_polls_tolerated = 3` the link holds three lost polls over: the fourth must
    still be tried on the wire (the unit may be back), not refused as offline."""
    scheduler = tolerating_three_lost_polls(tcp_server)
    line.silent.add(HEAD_ID)
    async with running(scheduler):
        await lose_three_polls_then_answer(scheduler, line)
        line.silent.add(HEAD_ID)
        for _ in range(4):
            with pytest.raises(DeviceTimeout):
                await scheduler.read(HEAD_ID, STATUS)
        assert not scheduler.is_online(HEAD_ID)


async def test_a_lost_write_does_not_cost_the_unit_a_poll_its_line_tolerates(
    tcp_server: TcpEndpoint, line: FakeLine
) -> None:
    """The unit vanished while a command was on its way: the write is lost, then the three
    polls the link holds over. The next poll must still go to the wire (the unit is back), not
    be refused as offline because four requests in a row failed."""
    scheduler = tolerating_three_lost_polls(tcp_server)
    line.silent.add(HEAD_ID)
    async with running(scheduler):
        with pytest.raises(DeviceTimeout):
            await scheduler.write(HEAD_ID, 106, [215])
        await lose_three_polls_then_answer(scheduler, line)
        assert scheduler.stats(HEAD_ID).rejected_offline == 0


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
    bus = rtu_bus(client_end, timeout_s=3.0, retries=0)
    scheduler = BusScheduler("rs485", bus, reconnect_backoff=FAST_RECONNECT)
    try:
        async with asyncio.timeout(30), running(scheduler):
            await scheduler.read(ODU_ID, STATUS)
            line.silent.add(HEAD_ID)  # keeps a request on the wire when the adapter goes
            on_the_wire = asyncio.create_task(scheduler.read(HEAD_ID, STATUS))
            queued = asyncio.create_task(scheduler.read(ODU_ID, STATUS))
            await eventually(lambda: (HEAD_ID, 4, 10) in line.requests)
            stop_pty_pair(socat)  # the USB adapter is unplugged
            # both fail long before the head's 3 s timeout: the port's loss is noticed at once
            async with asyncio.timeout(1.0):
                results = await asyncio.gather(on_the_wire, queued, return_exceptions=True)
            assert all(isinstance(r, BusDisconnected) for r in results), results
            assert not scheduler.connected
            assert scheduler.stats(HEAD_ID).timeouts == 0  # the head is not to blame
            await server.shutdown()
            line.silent.clear()
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
    """Answers reads for ``answering`` units; others stay silent. Logs (loop time, unit).

    `fake_factory` opens it (again after each `drop_link`), unless it is ``unplugged``."""

    def __init__(self, answering: set[int]) -> None:
        self.answering = answering
        self.connected = True
        self.sent: list[tuple[float, int]] = []
        self.opened = 0
        self.unplugged = False
        self.on_lost: Callable[[], None] = lambda: None

    def drop_link(self) -> None:
        """The link goes down by itself: the transport reports it as pymodbus does."""
        self.connected = False
        self.on_lost()

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

    async def read_coils(self, address: int, *, count: int = 1, device_id: int = 1) -> ModbusPDU:
        bits = [i % 2 == 1 for i in range(count)] + [False] * (-count % 8)  # padded, as sent
        return await self._answer(device_id, ReadCoilsResponse(bits=bits))

    async def read_discrete_inputs(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> ModbusPDU:
        raise NotImplementedError

    async def write_coil(self, address: int, value: bool, *, device_id: int = 1) -> ModbusPDU:
        return await self._answer(device_id, WriteSingleCoilResponse(address=address, bits=[value]))

    async def write_coils(
        self, address: int, values: list[bool], *, device_id: int = 1
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
        if client.unplugged:
            raise TransportError(f"{describe(bus)}: cannot open: No such file or directory")
        client.opened += 1
        client.connected = True
        client.on_lost = on_lost
        return client

    return factory


LINE = tcp_bus(502, timeout_s=0.3, retries=2, inter_frame_delay_s=0.0)
BOUND_S = 120  # loop seconds: a test on the fake clock that hangs fails, fast-forwarded


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
    probes = [t for t, _ in client.sent][5:]  # after 3 requests: 3 attempts, then 1 and 1
    gaps = [round(b - a) for a, b in itertools.pairwise(probes)]
    assert gaps[:6] == [10, 20, 40, 60, 60, 60]
    first_probe_delay = probes[0] - client.sent[4][0]
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
async def test_response_timeouts_run_at_the_time_scale_but_not_below_a_floor() -> None:
    client = FakeClient(answering=set())
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client), time_scale=60)
    for unit, timeout_s in [(7, 10.0), (8, 1.0), (9, 0.05)]:
        scheduler.configure_device(unit, timeout_s=timeout_s, retries=0)
    async with asyncio.timeout(BOUND_S), running(scheduler):
        costs = [await _cost(scheduler, unit) for unit in (7, 8, 9)]
    # 10 s is 1/6 s at 60x; 1 s would be 17 ms, held at the floor; 0.05 s stays as it is.
    assert costs == pytest.approx([10 / 60, MIN_SCALED_TIMEOUT_S, 0.05], abs=1e-3)


COILS = ReadBlock(table=Table.COIL, address=3, count=11, registers=())


@pytest.mark.looptime
async def test_coils_go_through_the_same_timeouts_retries_and_priorities() -> None:
    client = FakeClient(answering={7})
    scheduler = BusScheduler(
        "t", LINE, client_factory=fake_factory(client), retry_backoff=Backoff(0.1, 0.1)
    )
    async with asyncio.timeout(BOUND_S), running(scheduler):
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(DeviceTimeout):
            await scheduler.read(8, COILS)
        assert loop.time() - start == pytest.approx(3 * 0.3 + 2 * 0.1, abs=0.01)
        # The padding of the reply's last byte is not a coil.
        assert await scheduler.read(7, COILS) == [0, 1] * 5 + [0]
        await scheduler.write(7, 4, [1], table=Table.COIL)
        with pytest.raises(ValueError, match="not coil values"):
            await scheduler.write(7, 4, [2], table=Table.COIL)
        with pytest.raises(ValueError, match="discrete_input is not a table a master writes"):
            await scheduler.write(7, 4, [1], table=Table.DISCRETE_INPUT)
    assert [u for _, u in client.sent] == [8, 8, 8, 7, 7]


async def _cost(scheduler: BusScheduler, unit: int) -> float:
    """Loop seconds one read of ``unit`` takes, whether it is answered or times out."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    with contextlib.suppress(DeviceTimeout):
        await scheduler.read(unit, STATUS)
    return loop.time() - started


@pytest.mark.looptime
async def test_after_a_failed_request_the_unit_gets_one_attempt_until_it_answers() -> None:
    client = FakeClient(answering=set())
    backoff, reprobe = Backoff(0.1, 0.1), Backoff(5, 5)
    scheduler = BusScheduler(
        "t", LINE, client_factory=fake_factory(client), retry_backoff=backoff, probe_backoff=reprobe
    )
    with_retries = (LINE.retries + 1) * LINE.timeout_s + LINE.retries * backoff.initial_s
    async with asyncio.timeout(BOUND_S), running(scheduler):
        assert await _cost(scheduler, 7) == pytest.approx(with_retries)
        for _ in range(2):  # until it is offline
            assert await _cost(scheduler, 7) == pytest.approx(LINE.timeout_s)
        assert not scheduler.is_online(7)
        # an answer (here: to the re-probe) gives the unit its retries back
        await asyncio.sleep(reprobe.initial_s)
        client.answering.add(7)
        assert await _cost(scheduler, 7) == pytest.approx(0)
        assert scheduler.is_online(7)
        client.answering.clear()
        assert await _cost(scheduler, 7) == pytest.approx(with_retries)
    stats = scheduler.stats(7)
    assert (stats.requests, stats.transactions, stats.timeouts) == (5, 9, 8)


class ReadsLostClient(FakeClient):
    """Answers every write, and reads only for ``answering`` units (a gateway that garbles the
    replies of one kind)."""

    async def write_register(self, address: int, value: int, *, device_id: int = 1) -> ModbusPDU:
        self.sent.append((asyncio.get_running_loop().time(), device_id))
        return WriteSingleRegisterResponse(address=address, registers=[value])


@pytest.mark.looptime
async def test_answered_writes_do_not_give_failing_reads_their_retries_back() -> None:
    client = ReadsLostClient(answering=set())
    backoff = Backoff(0.1, 0.1)
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client), retry_backoff=backoff)
    with_retries = (LINE.retries + 1) * LINE.timeout_s + LINE.retries * backoff.initial_s
    async with asyncio.timeout(BOUND_S), running(scheduler):
        costs = []
        for _ in range(3):  # a poll, then a heartbeat: the unit is never offline
            costs.append(await _cost(scheduler, 7))
            await scheduler.write(7, 104, [1])
        assert scheduler.is_online(7)
    # The first failing read has its retries; after that each read costs one timeout.
    assert costs == [pytest.approx(with_retries)] + [pytest.approx(LINE.timeout_s)] * 2


@pytest.mark.looptime
async def test_a_silent_units_retries_wait_behind_the_other_units_requests() -> None:
    client = FakeClient(answering={1, 2})
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client))
    async with asyncio.timeout(BOUND_S), running(scheduler):
        costs = await asyncio.gather(*(_cost(scheduler, unit) for unit in (7, 1, 2)))
    assert [unit for _, unit in client.sent] == [7, 1, 2, 7, 7]
    assert costs[1:] == [pytest.approx(LINE.timeout_s)] * 2  # the first attempt only


@pytest.mark.looptime
async def test_requests_of_a_unit_that_failed_meanwhile_are_not_retried() -> None:
    client = FakeClient(answering=set())
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client))
    async with asyncio.timeout(BOUND_S), running(scheduler):
        results = await asyncio.gather(
            scheduler.read(7, STATUS), scheduler.read(7, IDENTITY), return_exceptions=True
        )
    assert [type(r) for r in results] == [DeviceTimeout, DeviceTimeout]
    stats = scheduler.stats(7)
    assert (stats.transactions, stats.consecutive_failures) == (2, 2)


@pytest.mark.looptime
async def test_a_unit_going_silent_delays_the_others_by_one_timeout_per_cycle() -> None:
    """Poll cycles as the supervisor runs them: every unit's blocks one after the other, the
    units side by side; unit 7 goes silent, until it is offline and then fails fast."""
    client = FakeClient(answering={1, 2, 7})
    scheduler = BusScheduler(
        "t", LINE, client_factory=fake_factory(client), probe_backoff=Backoff(60, 60)
    )

    async def poll(unit: int) -> float:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with contextlib.suppress(BusError):
            for block_ in (IDENTITY, STATUS):
                await scheduler.read(unit, block_)
        return loop.time() - started

    async with asyncio.timeout(BOUND_S), running(scheduler):
        loop = asyncio.get_running_loop()
        client.answering.discard(7)
        went_silent = loop.time()
        cycles: list[list[float]] = []
        while scheduler.is_online(7):
            cycles.append(list(await asyncio.gather(poll(1), poll(7), poll(2))))
        offline_after = loop.time() - went_silent
        fails_fast = list(await asyncio.gather(poll(1), poll(7), poll(2)))
    timeout, backoff = LINE.timeout_s, Backoff(0.02, 0.2)  # the scheduler's retry backoff
    first_failure = (LINE.retries + 1) * timeout + sum(map(backoff.delay, range(LINE.retries)))
    assert len(cycles) == 3  # offline_after
    assert offline_after == pytest.approx(first_failure + 2 * timeout)
    # the others wait for the silent unit's first attempt, and for one retry at most
    assert max(cycles[0][0], cycles[0][2]) <= 2 * timeout + backoff.delay(0) + 1e-6
    assert [max(c[0], c[2]) for c in cycles[1:]] == [pytest.approx(timeout)] * 2
    assert fails_fast == [pytest.approx(0)] * 3


@pytest.mark.looptime
async def test_a_request_on_the_wire_fails_at_once_when_the_link_drops() -> None:
    client = FakeClient(answering={1})
    scheduler = BusScheduler(
        "t", LINE, client_factory=fake_factory(client), reconnect_backoff=Backoff(1, 1)
    )
    scheduler.configure_device(7, timeout_s=5.0)
    async with asyncio.timeout(BOUND_S), running(scheduler):
        loop = asyncio.get_running_loop()
        on_the_wire = asyncio.create_task(scheduler.read(7, STATUS))
        queued = asyncio.create_task(scheduler.read(1, STATUS))
        await eventually(lambda: bool(client.sent))
        dropped = loop.time()
        client.drop_link()
        with pytest.raises(BusDisconnected, match="not connected"):
            await scheduler.read(1, STATUS)
        results = await asyncio.gather(on_the_wire, queued, return_exceptions=True)
        assert loop.time() == pytest.approx(dropped)  # not after unit 7's 5 s timeout
        assert all(isinstance(r, BusDisconnected) for r in results), results
        assert scheduler.stats(7).timeouts == scheduler.stats(7).consecutive_failures == 0
        async with asyncio.timeout(2):
            await scheduler.wait_connected()
        assert client.opened == 2


@pytest.mark.looptime
async def test_an_outage_is_logged_once_however_many_reopen_attempts_it_takes(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="minisplit.drivers.bus")
    client = FakeClient(answering={1})

    def reopen_attempts() -> int:
        return sum("cannot open" in r.getMessage() for r in caplog.records)

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]

    scheduler = BusScheduler(
        "t", LINE, client_factory=fake_factory(client), reconnect_backoff=Backoff(0.5, 4)
    )

    async def outage(reopen_attempts_wanted: int) -> None:
        client.unplugged = True
        client.drop_link()
        await eventually(lambda: reopen_attempts() >= reopen_attempts_wanted, within_s=60)
        client.unplugged = False
        async with asyncio.timeout(10):
            await scheduler.wait_connected()

    async with asyncio.timeout(BOUND_S), running(scheduler):
        await scheduler.read(1, STATUS)
        await outage(6)
        assert len(warnings()) == 1, warnings()
        await scheduler.read(1, STATUS)  # the line carries answers again: a new loss is news
        await outage(12)
        assert len(warnings()) == 2, warnings()
    assert all("link lost" in message for message in warnings())


@pytest.mark.looptime
async def test_a_unit_that_answers_only_now_and_then_is_one_outage_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="minisplit.drivers.bus")
    client = FakeClient(answering=set())
    reprobe = Backoff(1, 1)
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client), probe_backoff=reprobe)

    async def requests(answered: bool, count: int) -> None:
        client.answering = {7} if answered else set()
        for _ in range(count):
            await asyncio.sleep(reprobe.initial_s)  # past any re-probe wait
            with contextlib.suppress(BusError):
                await scheduler.read(7, STATUS)

    def offline_records() -> list[int]:
        return [r.levelno for r in caplog.records if "offline, re-probing" in r.getMessage()]

    async with asyncio.timeout(BOUND_S), running(scheduler):
        await requests(answered=False, count=3)
        for _ in range(3):  # a re-probe answered, then failures again: the same outage
            await requests(answered=True, count=1)
            await requests(answered=False, count=3)
        assert offline_records() == [logging.WARNING] + [logging.INFO] * 3
        await requests(answered=True, count=3)  # as many answers as failures take it offline
        await requests(answered=False, count=3)
    assert offline_records()[-1] == logging.WARNING


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
    scheduler = BusScheduler(
        "t", LINE, client_factory=fake_factory(client), reconnect_backoff=Backoff(1, 1)
    )
    async with running(scheduler):
        client.drop_link()
        await eventually(lambda: not scheduler.connected, within_s=0.5)
        async with asyncio.timeout(2):
            await scheduler.wait_connected()
        assert client.opened == 2


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


class AnswerAtCancelClient(FakeClient):
    """Answers through `asyncio.wait_for`, as pymodbus's transaction manager does; the test
    completes the answer in the same loop step as it cancels the bus owner."""

    def __init__(self) -> None:
        super().__init__(answering=set())
        self.answer: asyncio.Future[ModbusPDU] = asyncio.get_running_loop().create_future()
        self.asked = asyncio.Event()

    async def read_input_registers(
        self, address: int, *, count: int = 1, device_id: int = 1
    ) -> ModbusPDU:
        self.asked.set()
        return await asyncio.wait_for(self.answer, timeout=60)


async def test_the_owner_stops_when_cancelled_as_an_answer_arrives() -> None:
    # Python 3.11's wait_for returns the result and swallows a cancel that meets a completed
    # future: the owner task must still stop, or a supervisor's shutdown hangs for ever.
    client = AnswerAtCancelClient()
    scheduler = BusScheduler("t", LINE, client_factory=fake_factory(client))
    owner = asyncio.create_task(scheduler.run())
    async with asyncio.timeout(5):
        await scheduler.wait_connected()
        reader = asyncio.create_task(scheduler.read(ODU_ID, STATUS))
        await client.asked.wait()
        client.answer.set_result(ReadInputRegistersResponse(registers=[0] * STATUS.count))
        owner.cancel()
        done, _ = await asyncio.wait({owner}, timeout=2)
    assert owner in done and owner.cancelled()
    with contextlib.suppress(BusError):
        await reader


@pytest.mark.integration
async def test_the_reference_framing_8e1_reads_over_a_pty(
    line: FakeLine, pty_pair: tuple[str, str]
) -> None:
    # A pty has no parity to set, and the C library fails the open of an 8E1 one (tcsetattr
    # EINVAL): the controller opens it without parity, as the simulator does, so an RTU config
    # with the units' own line settings works against `minisplit sim --serial` on a pty.
    server_end, client_end = pty_pair
    server = await start_rtu_server(line, server_end)
    try:
        scheduler = BusScheduler("rs485", rtu_bus(client_end, parity="E", timeout_s=0.5))
        async with running(scheduler):
            words = await scheduler.read(ODU_ID, IDENTITY)
        assert len(words) == IDENTITY.count
    finally:
        await server.shutdown()
