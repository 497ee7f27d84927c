"""`minisplit scan`: find the units on a line (docs/commissioning.md).

For each line setting (on a serial line) and each unit id, one short read says whether anything
answers; a unit that answers is read at the identity registers of the shipped profiles
(`[device] identity`), and where none matches, at the unit blocks of the shipped gateway
profiles (`unit_stride`/`unit_indices`): the indices whose registers read plausibly are the
indoor units behind that address. The reads go through the project's bus scheduler, with the
scan's short timeout and no retries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from minisplit.drivers.bus import (
    BusDisconnected,
    BusError,
    BusScheduler,
    DeviceTimeout,
    ModbusExceptionReply,
)
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.profile import (
    DeviceProfile,
    RegisterSpec,
    Table,
    load_profile,
    shipped_profile_names,
)
from minisplit.drivers.registers import ReadBlock, decode, plan_reads
from minisplit.drivers.transport import ModbusClient, TransportError, describe, open_client

MAX_UNIT_ID = 247
#: Per-id answer timeouts by default: an RTU frame at 9600 baud and a unit's turnaround fit in
#: 0.1 s; a TCP endpoint on the local network answers within milliseconds.
DEFAULT_TIMEOUT_S = {"rtu": 0.1, "tcp": 0.03}
#: Registers read for the report where a matched profile has them.
DETAILS = ("firmware_version", "serial_number")
#: What a read that timed out shows in the table (after the unit answered a first read).
NO_ANSWER = "no answer"
#: A flag register of a gateway's unit that says the gateway has lost that unit.
LOST_FLAGS = ("indoor_comm_failure",)


@dataclass(frozen=True)
class LineSetting:
    baudrate: int
    parity: str
    stopbits: int

    def __str__(self) -> str:
        return f"{self.baudrate} 8{self.parity}{self.stopbits}"


#: The line settings the shipped profiles' interfaces use (docs/interfaces.md,
#: docs/reference-unit.md), tried in this order on a serial line.
COMMON_SETTINGS = (
    LineSetting(19200, "E", 1),  # the reference unit; DIII-net with DS1-2 on
    LineSetting(9600, "E", 1),  # DIII-net's default
    LineSetting(9600, "N", 2),  # Intesis's default
    LineSetting(9600, "N", 1),  # CoolMasterNet's default; Intesis takes it too
)


class ScanError(ValueError):
    """Input the scan cannot start with: the message says what is wrong."""


def parse_ids(text: str) -> range:
    """``1-247``, ``11`` or ``10-20``: the unit ids to try."""
    low_text, _, high_text = text.partition("-")
    try:
        low = int(low_text)
        high = int(high_text) if high_text else low
    except ValueError:
        raise ScanError(f"--ids {text!r}: expected a unit id or a range like 1-247") from None
    if not 1 <= low <= high <= MAX_UNIT_ID:
        raise ScanError(
            f"--ids {text!r}: unit ids run from 1 to {MAX_UNIT_ID}, the first not above the last"
        )
    return range(low, high + 1)


def line_settings(
    baudrate: int | None, parity: str | None, stopbits: int | None
) -> list[LineSetting]:
    """The common settings that fit what was fixed; the fixed values alone if none does."""
    fits = [
        s
        for s in COMMON_SETTINGS
        if baudrate in (None, s.baudrate)
        and parity in (None, s.parity)
        and stopbits in (None, s.stopbits)
    ]
    if fits:
        return fits
    parity = parity or "E"
    return [LineSetting(baudrate or 19200, parity, stopbits or (2 if parity == "N" else 1))]


@dataclass
class IndoorUnit:
    index: int
    profile: str


@dataclass
class Found:
    """One unit id that answered, at one line setting."""

    unit_id: int
    setting: LineSetting | None  # None on TCP
    profiles: list[str] = field(default_factory=list)
    details: dict[str, str] = field(default_factory=dict)
    answers: list[str] = field(default_factory=list)  # what it answered, for an unknown device
    garbage: str | None = None  # why its replies could not be used
    indoor_units: list[IndoorUnit] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return bool(self.profiles)


@dataclass
class ScanResult:
    found: list[Found]
    settings: list[LineSetting | None]
    ids: range
    seconds: float


Progress = Callable[[str, int, int, int], None]  # setting, ids done, ids in all, found


def _shipped_profiles() -> list[DeviceProfile]:
    return [load_profile(name) for name in shipped_profile_names()]


def _word_block(spec: RegisterSpec) -> ReadBlock:
    return ReadBlock(spec.table, spec.address, spec.count, (spec,))


def _identity_reads(profiles: Iterable[DeviceProfile]) -> list[RegisterSpec]:
    """One register per distinct identity register location of ``profiles``, in their order."""
    places: dict[tuple[Table, int, int], RegisterSpec] = {}
    for profile in profiles:
        for name in profile.identity:
            places.setdefault(_place(profile[name]), profile[name])
    return list(places.values())


def _place(spec: RegisterSpec) -> tuple[Table, int, int]:
    return spec.table, spec.address, spec.count


def _matches(profile: DeviceProfile, read: dict[tuple[Table, int, int], list[int] | str]) -> bool:
    """Whether every identity register of ``profile`` read one of its values."""
    for name in profile.identity:
        words = read.get(_place(profile[name]))
        if not isinstance(words, list) or decode(profile[name], words) not in (
            profile.identity_raws(name)
        ):
            return False
    return bool(profile.identity)


class _Scanner:
    def __init__(self, bus: BusScheduler, profiles: list[DeviceProfile]) -> None:
        self.bus = bus
        self.profiles = profiles
        self.probes = _identity_reads(profiles)
        self.gateways = [p for p in profiles if p.unit_indices is not None]

    async def _read(self, unit_id: int, block: ReadBlock) -> list[int] | str:
        """The words, or what came instead: an exception reply, or NO_ANSWER."""
        try:
            return await self.bus.read(unit_id, block)
        except ModbusExceptionReply as err:
            return f"exception 0x{err.code:02X}"
        except DeviceTimeout:
            return NO_ANSWER

    async def unit(self, unit_id: int, setting: LineSetting | None) -> Found | None:
        if not self.probes:
            return None
        first, *others = self.probes
        found = Found(unit_id, setting)
        try:
            answers = [(first, await self._read(unit_id, _word_block(first)))]
            if answers[0][1] == NO_ANSWER:
                return None  # nothing at this address: the next id
        except BusDisconnected:
            raise
        except BusError as err:
            found.garbage = _why(err, unit_id)
            return found
        try:
            for probe in others:
                answers.append((probe, await self._read(unit_id, _word_block(probe))))
            for probe, words in answers:
                found.answers.append(f"{probe.table} {probe.address}: {_shown(words)}")
            read = {_place(probe): words for probe, words in answers}
            found.profiles = [p.name for p in self.profiles if _matches(p, read)]
            matched = [p for p in self.profiles if p.name in found.profiles]
            for profile in matched[:1]:
                await self._details(unit_id, profile, found)
            if not matched:
                await self._gateway_units(unit_id, found)
        except BusDisconnected:
            raise
        except BusError as err:
            found.garbage = _why(err, unit_id)
        return found

    async def _details(self, unit_id: int, profile: DeviceProfile, found: Found) -> None:
        for name in DETAILS:
            if name in profile.registers:
                words = await self._read(unit_id, _word_block(profile[name]))
                if isinstance(words, list):
                    found.details[name] = str(decode(profile[name], words))

    async def _gateway_units(self, unit_id: int, found: Found) -> None:
        """The indices of the gateway profiles whose registers read as a unit's."""
        for gateway in self.gateways:
            assert gateway.unit_indices is not None
            first, last = gateway.unit_indices
            units = []
            for index in range(first, last + 1):
                answers = await self._unit_answers(unit_id, gateway.for_unit(index))
                if answers is None:
                    break  # silent at this profile's addresses: not this gateway (bounded time)
                if answers:
                    units.append(IndoorUnit(index, gateway.name))
            if units:
                found.profiles.append(gateway.name)
                found.indoor_units += units

    async def _unit_answers(self, unit_id: int, unit: DeviceProfile) -> bool | None:
        """Whether a gateway's unit reads as one; None when the read got no answer."""
        words_specs = [s for s in unit.registers.values() if not s.table.bits]
        plan = plan_reads(words_specs, unit.max_read_registers, reserved=unit.reserved)
        words = await self._read(unit_id, plan[0])
        if words == NO_ANSWER:
            return None
        if not isinstance(words, list) or all(w in (0, 0xFFFF) for w in words):
            return False
        for name in LOST_FLAGS:
            if name in unit.registers:
                flag = await self._read(unit_id, _word_block(unit[name]))
                if not isinstance(flag, list) or any(flag):
                    return False
        return True


def _shown(words: list[int] | str) -> str:
    return words if isinstance(words, str) else " ".join(f"0x{w:04X}" for w in words)


def _why(err: BusError, unit_id: int) -> str:
    # The bus's message starts with "bus scan: read <table> <range> of unit <id>: ".
    return str(err).partition(f" of unit {unit_id}: ")[2] or str(err)


def _bus_for(
    base: SerialBus | TcpBus, setting: LineSetting | None, timeout_s: float
) -> SerialBus | TcpBus:
    changes: dict[str, object] = {"timeout_s": timeout_s, "retries": 0}
    if setting is not None:
        changes |= {
            "baudrate": setting.baudrate,
            "parity": setting.parity,
            "stopbits": setting.stopbits,
        }
    return base.model_copy(update=changes)


async def scan(
    base: SerialBus | TcpBus,
    ids: range,
    settings: Sequence[LineSetting],
    *,
    timeout_s: float,
    progress: Progress = lambda setting, done, total, found: None,
    profiles: list[DeviceProfile] | None = None,
) -> ScanResult:
    """Scan ``ids`` at each of ``settings`` (ignored on TCP); raises TransportError when the
    line cannot be opened."""
    profiles = _shipped_profiles() if profiles is None else profiles
    loop = asyncio.get_running_loop()
    started = loop.time()
    line: list[LineSetting | None] = list(settings) if isinstance(base, SerialBus) else [None]
    found: list[Found] = []
    for setting in line:
        bus = _bus_for(base, setting, timeout_s)
        factory = _FirstClient()
        await factory.open(bus)  # a TransportError here says why the line is closed
        scheduler = BusScheduler("scan", bus, offline_after=10, client_factory=factory)
        owner = asyncio.create_task(scheduler.run(), name="scan bus")
        try:
            await scheduler.wait_connected()
            scanner = _Scanner(scheduler, profiles)
            taken = {f.unit_id for f in found}
            for done, unit_id in enumerate(ids, 1):
                try:
                    hit = None if unit_id in taken else await scanner.unit(unit_id, setting)
                except BusDisconnected as err:
                    raise TransportError(
                        f"{describe(bus)}: the link dropped during the scan, at id {unit_id} "
                        f"({err})"
                    ) from None
                if hit is not None:
                    found.append(hit)
                progress(str(setting or _line_name(base)), done, len(ids), len(found))
        finally:
            owner.cancel()
            await asyncio.gather(owner, return_exceptions=True)
    return ScanResult(found, line, ids, loop.time() - started)


def _line_name(bus: SerialBus | TcpBus) -> str:
    return f"{bus.host}:{bus.port}" if isinstance(bus, TcpBus) else bus.device


class _FirstClient:
    """The scheduler's client factory: the client opened before the scan (so that a line that
    cannot be opened ends the scan with its reason, where the scheduler would retry), then new
    ones (it reconnects after a dropped link)."""

    def __init__(self) -> None:
        self.opened: ModbusClient | None = None
        self.on_lost: Callable[[], None] = lambda: None

    async def open(self, bus: SerialBus | TcpBus) -> None:
        self.opened = await open_client(bus, lambda: self.on_lost())

    async def __call__(self, bus: SerialBus | TcpBus, on_lost: Callable[[], None]) -> ModbusClient:
        client, self.opened = self.opened, None
        if client is None:
            return await open_client(bus, on_lost)
        self.on_lost = on_lost
        return client
