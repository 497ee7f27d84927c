"""The single owner of one RS-485 line (or Modbus TCP link): a priority queue of requests served one
at a time, with per-device timeouts, retries, counters and offline handling (docs/architecture.md,
'One owner per RS-485 line').

A silent unit must not hold the line: a retry waits behind the requests already queued, a unit
that has failed gets one attempt per request until it answers again, and an offline one none
until its re-probe. A link that drops is noticed at once, not after a timeout.

Every wait here is on the event loop's clock (``loop.time()``, ``asyncio.sleep``,
``asyncio.timeout``), so tests can fast-forward it and the HIL can run accelerated. Run
accelerated (``time_scale``), the response timeouts shrink with the controller's other periods:
a silent unit holds the line for its timeout, and in wall seconds that would be ``time_scale``
times longer in the units' (simulated) time, long enough to lapse the others' heartbeats.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import logging
from dataclasses import dataclass, field, replace

from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.pdu import ModbusPDU

from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.cancellation import raise_if_cancelling
from minisplit.drivers.profile import MODBUS_MAX_WRITE_BITS, Table
from minisplit.drivers.registers import ReadBlock
from minisplit.drivers.transport import (
    ClientFactory,
    MalformedReply,
    ModbusClient,
    TransportError,
    describe,
    open_client,
)

log = logging.getLogger(__name__)

#: Exception codes a gateway sends for a device behind it that did not answer: for the
#: scheduler these are timeouts of that device, not answers from it.
_GATEWAY_NO_ANSWER = frozenset({ExcCodes.GATEWAY_PATH_UNAVIABLE, ExcCodes.GATEWAY_NO_RESPONSE})
_MAX_WORDS_PER_WRITE = 123
#: The shortest wall time an accelerated scheduler waits for a reply: frames on the wire and the
#: simulator's answer take real time whatever the time scale (a few ms on loopback, ~20 ms for
#: a block at 19200 baud); kept well above that, so that a loaded machine is not a dead unit.
MIN_SCALED_TIMEOUT_S = 0.1


class Priority(enum.IntEnum):
    """Lower is served first. User commands jump ahead of the poll cycle's reads."""

    COMMAND = 1
    POLL = 2


class BusError(Exception):
    """A request that could not be completed on the bus."""


class BusDisconnected(BusError):
    """The line is not open (port vanished, gateway down, scheduler stopped)."""


class BusOverloaded(BusError):
    """The request queue is full: the line cannot keep up with what is asked of it."""


class DeviceOffline(BusError):
    """The device failed repeatedly; its requests fail fast until a re-probe succeeds."""


class DeviceTimeout(BusError):
    """No usable answer from the device within its timeout, after all retries."""


class ModbusExceptionReply(BusError):
    """The device answered with a Modbus exception (it is alive; the request is not retried)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff: ``initial_s`` doubling per attempt, capped at ``max_s``."""

    initial_s: float
    max_s: float

    def delay(self, attempt: int) -> float:
        growth: float = 2 ** min(attempt, 30)
        return min(self.max_s, self.initial_s * growth)


@dataclass
class DeviceStats:
    """Counters of one unit id on one bus (a copy is handed out; it does not change later)."""

    requests: int = 0  # requests that went to the wire (re-probes included)
    transactions: int = 0  # frames sent to the device, retries included
    errors: int = 0  # transactions without a normal answer: timeouts, bad frames, exceptions
    timeouts: int = 0
    exception_replies: int = 0
    rejected_offline: int = 0  # requests failed fast while the device was offline
    consecutive_failures: int = 0  # failed requests in a row (an exception reply is an answer)
    online: bool = True
    last_latency_s: float | None = None


class _Op(enum.Enum):
    READ = "read"
    WRITE = "write"


@dataclass
class _Device:
    timeout_s: float
    retries: int
    stats: DeviceStats = field(default_factory=DeviceStats)
    failed_probes: int = 0
    next_probe_at: float = 0.0
    # Transactions without an answer since the unit last answered one of the same kind: its
    # answered writes do not make its reads worth retrying (a gateway may garble one kind).
    failed_attempts: dict[_Op, int] = field(default_factory=lambda: dict.fromkeys(_Op, 0))
    answers_in_a_row: int = 0  # requests answered since one failed
    # Reads failed in a row since the unit last answered anything: only these give it up for
    # offline. A failed write is no poll: counted with them, one lost write plus the polls the
    # link tolerates refused the next poll untried (the unit may be back by then).
    failed_reads: int = 0
    # Its going offline was warned of: a unit that answers now and then (writes, not reads) is
    # one outage, not one warning per flip, until it answers `offline_after` requests in a row.
    outage_warned: bool = False


@dataclass(eq=False)
class _Request:
    unit_id: int
    op: _Op
    table: Table
    address: int
    count: int
    words: list[int]
    priority: Priority
    future: asyncio.Future[list[int]]
    attempts: int = 0
    failure: BusError | None = None  # why the last attempt failed
    retry_at: float = 0.0  # loop time before which a retry is not sent

    def __str__(self) -> str:
        last = self.address + self.count - 1
        return f"{self.op.value} {self.table} {self.address}..{last} of unit {self.unit_id}"


class _ConnectionLost(Exception):
    pass


_LINK_LOST = 0  # queue priority of the "link dropped" marker: ahead of everything


DEFAULT_OFFLINE_AFTER = 3  # failed requests in a row before a unit is taken for offline


class BusScheduler:
    """Owns one line: ``run()`` is its task; drivers call ``read()`` and ``write()``."""

    def __init__(
        self,
        name: str,
        bus: SerialBus | TcpBus,
        *,
        offline_after: int | None = None,
        client_factory: ClientFactory | None = None,
        queue_size: int = 64,
        reconnect_backoff: Backoff = Backoff(0.5, 10.0),
        probe_backoff: Backoff = Backoff(5.0, 60.0),
        retry_backoff: Backoff = Backoff(0.02, 0.2),
        time_scale: float = 1.0,
    ) -> None:
        if offline_after is None:
            # A unit is given up on (requests refused until a re-probe) only once its polls
            # have failed more often than the line tolerates: else a poll the link would hold
            # over could be refused without being tried, and a unit that is back would be
            # reported unavailable for a period (`failed_polls_tolerated`).
            offline_after = max(DEFAULT_OFFLINE_AFTER, bus.failed_polls_tolerated + 1)
        if offline_after < 1:
            raise ValueError("offline_after must be at least 1")
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.name = name
        self.bus = bus
        self._offline_after = offline_after
        self._client_factory: ClientFactory = client_factory or open_client
        self._queue_size = queue_size
        self._reconnect_backoff = reconnect_backoff
        self._probe_backoff = probe_backoff
        self._retry_backoff = retry_backoff
        self._time_scale = time_scale
        # The bound is enforced in _submit, so the link-lost marker always fits.
        self._queue: asyncio.PriorityQueue[tuple[int, int, _Request | None]] = (
            asyncio.PriorityQueue()
        )
        self._seq = itertools.count()
        self._devices: dict[int, _Device] = {}
        self._connected = asyncio.Event()
        self._link_generation = 0
        self._reconnect_failures = 0
        self._last_frame_end = float("-inf")
        self._in_flight: _Request | None = None
        # The wait for the answer on the wire: cut short when the link drops.
        self._answer_deadline: asyncio.Timeout | None = None
        self.total_transactions = 0

    # ---- public API -------------------------------------------------------------------

    async def read(
        self, unit_id: int, block: ReadBlock, *, priority: Priority = Priority.POLL
    ) -> list[int]:
        """The words of ``block`` from ``unit_id`` (fc03 holding / fc04 input), or its bits as
        0 and 1 (fc01 coils / fc02 discrete inputs)."""
        return await self._submit(
            _Op.READ, unit_id, block.table, block.address, block.count, [], priority
        )

    async def write(
        self,
        unit_id: int,
        address: int,
        words: list[int],
        *,
        priority: Priority = Priority.COMMAND,
        table: Table = Table.HOLDING,
    ) -> None:
        """Write holding registers: fc06 for one word, fc16 for several; or coils, each word
        0 or 1: fc05 for one, fc15 for several."""
        if not table.writable:
            raise ValueError(f"{table} is not a table a master writes")
        limit, top, unit, what = (
            (MODBUS_MAX_WRITE_BITS, 1, "coils", "coil values (0 or 1)")
            if table.bits
            else (_MAX_WORDS_PER_WRITE, 0xFFFF, "words", "16-bit words")
        )
        if not 1 <= len(words) <= limit:
            raise ValueError(f"a write carries 1..{limit} {unit}, not {len(words)}")
        if any(not 0 <= w <= top for w in words):
            raise ValueError(f"not {what}: {words}")
        await self._submit(_Op.WRITE, unit_id, table, address, len(words), list(words), priority)

    def configure_device(
        self, unit_id: int, *, timeout_s: float | None = None, retries: int | None = None
    ) -> None:
        """Override the bus's timeout or retries for one slow or flaky device."""
        device = self._device(unit_id)
        if timeout_s is not None:
            if not 0 < timeout_s <= 10:
                raise ValueError(f"timeout_s {timeout_s} is outside (0, 10]")
            device.timeout_s = timeout_s
        if retries is not None:
            if not 0 <= retries <= 10:
                raise ValueError(f"retries {retries} is outside 0..10")
            device.retries = retries

    def stats(self, unit_id: int) -> DeviceStats:
        return replace(self._device(unit_id).stats)

    def is_online(self, unit_id: int) -> bool:
        return self._device(unit_id).stats.online

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def run(self) -> None:
        """The owner task: (re)connect with backoff and serve requests until cancelled."""
        try:
            while True:
                client = await self._connect()
                try:
                    await self._serve(client)
                except _ConnectionLost as lost:
                    self._log_outage("bus %s: link lost (%s); reconnecting with backoff", lost)
                    self._fail_waiting(BusDisconnected(f"bus {self.name}: link lost ({lost})"))
                finally:
                    self._connected.clear()
                    client.close()
                await asyncio.sleep(self._reconnect_backoff.delay(self._reconnect_failures))
                self._reconnect_failures += 1
        finally:
            self._connected.clear()
            self._fail_waiting(BusDisconnected(f"bus {self.name}: stopped"))

    # ---- the owner task -----------------------------------------------------------------

    async def _connect(self) -> ModbusClient:
        while True:
            self._link_generation += 1
            generation = self._link_generation
            try:
                client = await self._client_factory(
                    self.bus, functools.partial(self._on_link_lost, generation)
                )
            except TransportError as err:
                self._log_outage("bus %s: %s; retrying with backoff", err)
                await asyncio.sleep(self._reconnect_backoff.delay(self._reconnect_failures))
                self._reconnect_failures += 1
                continue
            log.info("bus %s: connected to %s", self.name, describe(self.bus))
            self._connected.set()
            return client

    def _log_outage(self, message: str, reason: object) -> None:
        # Loudly once per outage: until the line carries an answer again it is the same outage,
        # and a vanished adapter must not flood the log with one line per reopen attempt.
        level = logging.WARNING if self._reconnect_failures == 0 else logging.DEBUG
        log.log(level, message, self.name, reason)

    def _on_link_lost(self, generation: int) -> None:
        if generation != self._link_generation or not self._connected.is_set():
            return
        # New requests fail at once, and the owner task stops waiting for an answer that
        # cannot come (pymodbus leaves a request on a lost link waiting for its timeout).
        self._connected.clear()
        self._queue.put_nowait((_LINK_LOST, next(self._seq), None))
        deadline = self._answer_deadline
        if deadline is not None and not deadline.expired():
            deadline.reschedule(asyncio.get_running_loop().time())

    async def _serve(self, client: ModbusClient) -> None:
        while True:
            raise_if_cancelling()  # pymodbus may have swallowed it (drivers/cancellation.py)
            _, _, request = await self._queue.get()
            if request is None:
                raise _ConnectionLost("the transport reported a disconnect")
            if request.future.done():  # the caller gave up while it waited
                continue
            # Left set if the link drops or the task is cancelled: _fail_waiting settles it.
            self._in_flight = request
            try:
                words = await self._attempt(client, request)
            except (_ConnectionLost, asyncio.CancelledError):
                raise
            except BusError as err:
                _settle(request, err)
            except Exception as err:
                # A surprise from the Modbus stack fails this request, not the line's owner.
                log.exception("bus %s: %s failed unexpectedly", self.name, request)
                _settle(request, BusError(f"bus {self.name}: {request}: {err!r}"))
            else:
                if words is None:
                    # The retry queues up behind what is already waiting: a silent unit's
                    # retries never hold back the other units' requests for long.
                    self._queue.put_nowait((int(request.priority), next(self._seq), request))
                else:
                    _settle(request, words)
            self._in_flight = None

    async def _attempt(self, client: ModbusClient, request: _Request) -> list[int] | None:
        """One transaction for ``request``: the words read ([] for a write), or None when it is
        to be tried again; raises BusError when it fails for good."""
        loop = asyncio.get_running_loop()
        device = self._device(request.unit_id)
        stats = device.stats
        if request.failure is None:
            if not stats.online and loop.time() < device.next_probe_at:
                stats.rejected_offline += 1
                raise self._offline_error(request.unit_id)
            stats.requests += 1
        elif not self._may_retry(device, request):
            # While it waited, another request of the unit failed: no more tries for this one.
            self._mark_failed(request)
            raise request.failure
        else:
            await asyncio.sleep(max(0.0, request.retry_at - loop.time()))
        await self._keep_inter_frame_gap()
        self._raise_if_link_down(client)  # it may have dropped while this request waited
        request.attempts += 1
        stats.transactions += 1
        self.total_transactions += 1
        started = loop.time()
        timeout_s = scaled_timeout(device.timeout_s, self._time_scale)
        try:
            async with asyncio.timeout(timeout_s) as self._answer_deadline:
                response = await _call(client, request)
        except TimeoutError:
            self._raise_if_link_down(client)
            stats.timeouts += 1
            failure: BusError = DeviceTimeout(
                f"bus {self.name}: {request}: no answer within {timeout_s:g} s "
                f"({_attempts(request.attempts)})"
            )
        except ConnectionException as err:
            raise _ConnectionLost(str(err)) from None
        except ModbusException as err:  # a frame for someone else, a bad CRC, ...
            self._raise_if_link_down(client)
            failure = BusError(f"bus {self.name}: {request}: {err}")
        else:
            outcome = self._judge(request, response, loop.time() - started)
            if not isinstance(outcome, BusError):
                return outcome
            failure = outcome
        finally:
            self._answer_deadline = None
            self._last_frame_end = loop.time()
        stats.errors += 1
        device.failed_attempts[request.op] += 1
        request.failure = failure
        request.retry_at = loop.time() + self._retry_backoff.delay(request.attempts - 1)
        if self._may_retry(device, request):
            return None
        self._mark_failed(request)
        raise failure

    def _judge(
        self, request: _Request, response: ModbusPDU, latency: float
    ) -> list[int] | BusError:
        """The words of a reply, or what makes it a failed attempt; raises ModbusExceptionReply
        for an exception from the device itself (an answer: it is alive, no retry)."""
        stats = self._device(request.unit_id).stats
        if response.isError():
            code = getattr(response, "exception_code", 0)
            if code in _GATEWAY_NO_ANSWER:
                stats.timeouts += 1
                return DeviceTimeout(
                    f"bus {self.name}: {request}: the gateway reports no answer (0x{code:02X})"
                )
            stats.errors += 1
            stats.exception_replies += 1
            stats.last_latency_s = latency
            self._mark_alive(request)
            raise ModbusExceptionReply(
                code, f"bus {self.name}: {request}: exception reply 0x{code:02X}"
            )
        problem = _check_reply(request, response)
        if problem:
            return BusError(f"bus {self.name}: {request}: {problem}")
        stats.last_latency_s = latency
        self._mark_alive(request)
        if request.op is _Op.WRITE:
            return []
        if request.table.bits:  # the reply pads the bits to whole bytes
            return [int(bit) for bit in response.bits[: request.count]]
        return list(response.registers)

    @staticmethod
    def _may_retry(device: _Device, request: _Request) -> bool:
        """Retries are for a unit that answers and lost one frame: once a request of the unit
        has failed (or another one failed meanwhile), each request gets a single attempt until
        the unit answers again, and an offline unit's re-probe gets one attempt."""
        return (
            request.attempts <= device.retries
            and device.stats.consecutive_failures == 0
            and device.failed_attempts[request.op] <= request.attempts
        )

    async def _keep_inter_frame_gap(self) -> None:
        now = asyncio.get_running_loop().time()
        wait = self._last_frame_end + self.bus.inter_frame_delay_s - now
        if wait > 0:
            await asyncio.sleep(wait)

    def _raise_if_link_down(self, client: ModbusClient) -> None:
        # A silent line may be a vanished port: then no device is to blame.
        if not (client.connected and self._connected.is_set()):
            raise _ConnectionLost("the transport closed the link")

    def _mark_alive(self, request: _Request) -> None:
        unit_id = request.unit_id
        device = self._device(unit_id)
        self._reconnect_failures = 0  # a link that carries answers is sound again
        device.stats.consecutive_failures = 0
        device.failed_probes = 0
        device.failed_attempts[request.op] = 0
        device.failed_reads = 0
        device.answers_in_a_row += 1
        if device.answers_in_a_row >= self._offline_after:
            device.outage_warned = False
        if not device.stats.online:
            device.stats.online = True
            log.info("bus %s: unit %d answers again: back online", self.name, unit_id)

    def _mark_failed(self, request: _Request) -> None:
        unit_id = request.unit_id
        device = self._device(unit_id)
        stats = device.stats
        stats.consecutive_failures += 1
        if request.op is _Op.READ:
            device.failed_reads += 1
        device.answers_in_a_row = 0
        now = asyncio.get_running_loop().time()
        if not stats.online:
            device.failed_probes += 1
            device.next_probe_at = now + self._probe_backoff.delay(device.failed_probes)
        elif device.failed_reads >= self._offline_after:
            stats.online = False
            device.failed_probes = 0
            device.next_probe_at = now + self._probe_backoff.delay(0)
            level = logging.INFO if device.outage_warned else logging.WARNING
            device.outage_warned = True
            log.log(
                level,
                "bus %s: unit %d failed %d requests in a row: offline, re-probing with backoff",
                self.name,
                unit_id,
                stats.consecutive_failures,
            )

    def _offline_error(self, unit_id: int) -> DeviceOffline:
        wait = self._device(unit_id).next_probe_at - asyncio.get_running_loop().time()
        return DeviceOffline(
            f"bus {self.name}: unit {unit_id} is offline (next re-probe in {max(wait, 0):.1f} s)"
        )

    def _fail_waiting(self, error: BusError) -> None:
        """Fail the request on the wire (if any) and every queued one."""
        if self._in_flight is not None:
            _settle(self._in_flight, error)
            self._in_flight = None
        while not self._queue.empty():
            _, _, request = self._queue.get_nowait()
            if request is not None:
                _settle(request, error)

    # ---- callers' side ----------------------------------------------------------------

    async def _submit(
        self,
        op: _Op,
        unit_id: int,
        table: Table,
        address: int,
        count: int,
        words: list[int],
        priority: Priority,
    ) -> list[int]:
        if not self._connected.is_set():
            raise BusDisconnected(f"bus {self.name}: not connected ({describe(self.bus)})")
        device = self._device(unit_id)
        if not device.stats.online and asyncio.get_running_loop().time() < device.next_probe_at:
            device.stats.rejected_offline += 1
            raise self._offline_error(unit_id)
        if self._queue.qsize() >= self._queue_size:
            raise BusOverloaded(f"bus {self.name}: {self._queue.qsize()} requests already waiting")
        future: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        request = _Request(unit_id, op, table, address, count, words, priority, future)
        self._queue.put_nowait((int(priority), next(self._seq), request))
        return await future

    def _device(self, unit_id: int) -> _Device:
        if not 1 <= unit_id <= 247:
            raise ValueError(f"unit id {unit_id} is outside 1..247")
        device = self._devices.get(unit_id)
        if device is None:
            device = _Device(timeout_s=self.bus.timeout_s, retries=self.bus.retries)
            self._devices[unit_id] = device
        return device


def scaled_timeout(timeout_s: float, time_scale: float) -> float:
    """The wall seconds to wait for a reply: ``timeout_s`` at ``time_scale``, but not below
    MIN_SCALED_TIMEOUT_S (nor above ``timeout_s`` for that floor's sake)."""
    return max(timeout_s / time_scale, min(timeout_s, MIN_SCALED_TIMEOUT_S))


async def _call(client: ModbusClient, request: _Request) -> ModbusPDU:
    unit, address, count, words = request.unit_id, request.address, request.count, request.words
    if request.op is _Op.WRITE and request.table is Table.COIL:
        if count == 1:
            return await client.write_coil(address, bool(words[0]), device_id=unit)
        return await client.write_coils(address, [bool(w) for w in words], device_id=unit)
    if request.op is _Op.WRITE:
        if count == 1:
            return await client.write_register(address, words[0], device_id=unit)
        return await client.write_registers(address, words, device_id=unit)
    read = {
        Table.INPUT: client.read_input_registers,
        Table.HOLDING: client.read_holding_registers,
        Table.COIL: client.read_coils,
        Table.DISCRETE_INPUT: client.read_discrete_inputs,
    }[request.table]
    return await read(address, count=count, device_id=unit)


def _check_reply(request: _Request, response: ModbusPDU) -> str | None:
    """Why a normal reply does not fit the request, or None when it does."""
    if isinstance(response, MalformedReply):
        return str(response)
    expected = _function_code(request)
    if response.function_code != expected:
        return f"reply has function code 0x{response.function_code:02X}, not 0x{expected:02X}"
    if request.op is _Op.READ and request.table.bits:
        # Bits come in whole bytes: a reply of the right length holds count rounded up to 8.
        got = len(response.bits)
        return None if got == -(-request.count // 8) * 8 else f"reply has {got} bits"
    if request.op is _Op.READ:
        got = len(response.registers)
        return None if got == request.count else f"reply has {got} registers, not {request.count}"
    if response.address != request.address:
        return f"write acknowledged for address {response.address}"
    return None


def _function_code(request: _Request) -> int:
    """The function code _call sends for ``request`` (and a normal reply carries)."""
    if request.op is _Op.WRITE:
        single, multiple = (5, 15) if request.table is Table.COIL else (6, 16)
        return single if request.count == 1 else multiple
    return {Table.COIL: 1, Table.DISCRETE_INPUT: 2, Table.HOLDING: 3, Table.INPUT: 4}[request.table]


def _attempts(count: int) -> str:
    return f"{count} attempt{'s' if count > 1 else ''}"


def _settle(request: _Request, outcome: list[int] | BusError) -> None:
    if request.future.done():
        return
    if isinstance(outcome, BusError):
        request.future.set_exception(outcome)
    else:
        request.future.set_result(outcome)
