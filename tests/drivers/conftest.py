"""A minimal real Modbus server for the driver tests: pymodbus's SimDevice per unit, with the
register layout taken from the profiles (the full simulator lives in minisplit/hil/)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import pytest
from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from minisplit.drivers.bus import Backoff, BusScheduler
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.profile import DeviceProfile, Table, load_profile
from minisplit.drivers.registers import RegisterValueError, check_writable, decode, encode_value

ODU_ID = 1
HEAD_ID = 11
DEAD_ID = 99  # nothing answers there

# A pty carries bytes, not line signals, so parity means nothing on it; and some kernels refuse
# PARENB on a pty (tcsetattr EINVAL), so the serial tests run the line without parity.
PTY_PARITY = "N"

_FC_TABLE = {3: Table.HOLDING, 4: Table.INPUT, 6: Table.HOLDING, 16: Table.HOLDING}


@dataclass
class FakeUnit:
    """One unit's registers: the test's source of truth, copied into pymodbus on each access."""

    profile: DeviceProfile
    words: dict[Table, dict[int, int]] = field(default_factory=dict)

    def set(self, name: str, value: float | None) -> None:
        spec = self.profile[name]
        for offset, word in enumerate(encode_value(spec, value)):
            self.words[spec.table][spec.address + offset] = word

    def get(self, name: str) -> float | int | None:
        spec = self.profile[name]
        table = self.words[spec.table]
        return decode(spec, [table[spec.address + i] for i in range(spec.count)])

    def span(self, table: Table) -> tuple[int, int]:
        specs = self.profile.table(table)
        return specs[0].address, max(s.last_address for s in specs)


class FakeLine:
    """The units on one line, and what the line saw: every request, in order."""

    def __init__(self, units: dict[int, DeviceProfile]) -> None:
        self.units = {uid: _fresh_unit(profile) for uid, profile in units.items()}
        self.silent: set[int] = set()  # unit ids that drop requests (a dead or unplugged unit)
        self.requests: list[tuple[int, int, int]] = []  # (unit id, function code, address)

    def devices(self) -> list[SimDevice]:
        return [self._sim_device(uid, unit) for uid, unit in self.units.items()]

    def writes(self, unit_id: int) -> list[tuple[int, int]]:
        return [(fc, a) for uid, fc, a in self.requests if uid == unit_id and fc in (6, 16)]

    def trace_pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU | None:
        # Returning None drops the request: the client hears nothing, as on a real line.
        if sending:
            return pdu
        self.requests.append((pdu.dev_id, pdu.function_code, getattr(pdu, "address", -1)))
        if pdu.dev_id not in self.units or pdu.dev_id in self.silent:
            return None
        return pdu

    def _sim_device(self, unit_id: int, unit: FakeUnit) -> SimDevice:
        def block(table: Table) -> list[SimData]:
            first, last = unit.span(table)
            return [SimData(first, count=last - first + 1, datatype=DataType.REGISTERS)]

        no_bits = [SimData(0, datatype=DataType.BITS)]
        return SimDevice(
            id=unit_id,
            simdata=(no_bits, list(no_bits), block(Table.HOLDING), block(Table.INPUT)),
            action=partial(self._access, unit),
        )

    async def _access(
        self,
        unit: FakeUnit,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        """Validate writes like the datasheet's units do; serve reads from the unit's words."""
        table = unit.words[_FC_TABLE[function_code]]
        if set_values is not None:
            new = {address + i: int(v) for i, v in enumerate(set_values)}
            for spec in unit.profile.table(Table.HOLDING):
                touched = range(spec.address, spec.last_address + 1)
                if not any(a in new for a in touched):
                    continue
                try:
                    check_writable(spec, decode(spec, [new.get(a, table[a]) for a in touched]) or 0)
                except RegisterValueError:
                    return ExcCodes.ILLEGAL_VALUE if spec.writable else ExcCodes.ILLEGAL_ADDRESS
            if any(a not in table for a in new):
                return ExcCodes.ILLEGAL_ADDRESS
            table.update(new)
        for a, word in table.items():
            registers[a - start_address] = word
        return None


def _fresh_unit(profile: DeviceProfile) -> FakeUnit:
    unit = FakeUnit(profile, {Table.INPUT: {}, Table.HOLDING: {}})
    for spec in profile.registers.values():
        unit.set(spec.name, spec.default or 0)
    for name in profile.identity:
        unit.set(name, profile.identity_default(name))
    return unit


@pytest.fixture
def odu_profile() -> DeviceProfile:
    return load_profile("reference-odu")


@pytest.fixture
def head_profile() -> DeviceProfile:
    return load_profile("reference-head")


@pytest.fixture
def line(odu_profile: DeviceProfile, head_profile: DeviceProfile) -> FakeLine:
    return FakeLine({ODU_ID: odu_profile, HEAD_ID: head_profile})


class TcpEndpoint:
    """A Modbus TCP server for a line on a loopback port; it can stop and start again on the
    same port (a gateway that reboots) with the units' registers kept."""

    def __init__(self, line: FakeLine) -> None:
        self.line = line
        self.port = 0
        self._server: ModbusTcpServer | None = None

    async def start(self) -> None:
        server = ModbusTcpServer(
            self.line.devices(),
            address=("127.0.0.1", self.port),
            # pymodbus's type omits None, which it reads as "drop the request"
            trace_pdu=self.line.trace_pdu,  # type: ignore[arg-type]
        )
        await server.serve_forever(background=True)
        # pymodbus types `transport` as a connection's; a listening server holds an asyncio.Server.
        self.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        self._server = server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None


async def start_rtu_server(line: FakeLine, port: str) -> ModbusSerialServer:
    """A Modbus RTU server for ``line`` on a serial port (one end of a pty pair)."""
    server = ModbusSerialServer(
        line.devices(),
        framer=FramerType.RTU,
        port=port,
        baudrate=19200,
        parity=PTY_PARITY,
        reconnect_delay=0,
        trace_pdu=line.trace_pdu,  # type: ignore[arg-type]  # None drops a request, as above
    )
    await server.serve_forever(background=True)
    return server


@pytest.fixture
async def tcp_server(line: FakeLine) -> AsyncIterator[TcpEndpoint]:
    endpoint = TcpEndpoint(line)
    await endpoint.start()
    try:
        yield endpoint
    finally:
        await endpoint.stop()


@pytest.fixture
async def rtu_server(line: FakeLine, pty_pair: tuple[str, str]) -> AsyncIterator[str]:
    """A Modbus RTU server for ``line`` on one end of a pty pair; yields the other end."""
    server_end, client_end = pty_pair
    server = await start_rtu_server(line, server_end)
    try:
        yield client_end
    finally:
        await server.shutdown()


def tcp_bus(port: int, **overrides: object) -> TcpBus:
    options: dict[str, object] = {"timeout_s": 0.2, "retries": 1}
    options.update(overrides)
    return TcpBus.model_validate({"type": "tcp", "host": "127.0.0.1", "port": port, **options})


def rtu_bus(device: str, **overrides: object) -> SerialBus:
    options: dict[str, object] = {"timeout_s": 0.3, "retries": 1, "parity": PTY_PARITY}
    options.update(overrides)
    return SerialBus.model_validate({"type": "rtu", "device": device, **options})


FAST_RECONNECT = Backoff(0.05, 0.2)


@contextlib.asynccontextmanager
async def running(scheduler: BusScheduler) -> AsyncIterator[BusScheduler]:
    """Run the scheduler's owner task for the block; connected on entry, stopped on exit."""
    task = asyncio.create_task(scheduler.run(), name=f"bus {scheduler.name}")
    try:
        async with asyncio.timeout(5):
            await scheduler.wait_connected()
        yield scheduler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def tcp_scheduler(tcp_server: TcpEndpoint) -> AsyncIterator[BusScheduler]:
    async with running(
        BusScheduler("test", tcp_bus(tcp_server.port), reconnect_backoff=FAST_RECONNECT)
    ) as scheduler:
        yield scheduler


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, within_s: float = 5.0, every_s: float = 0.02
) -> None:
    """Wait (bounded, on the loop clock) until ``check`` (plain or async) holds; TimeoutError
    otherwise."""
    async with asyncio.timeout(within_s):
        while True:
            outcome = check()
            if inspect.isawaitable(outcome):
                outcome = await outcome
            if outcome:
                return
            await asyncio.sleep(every_s)
