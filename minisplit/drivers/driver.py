"""What the outdoor-unit and head drivers share: probing, polling in the fewest read blocks,
decoding through the profile, writing only what changed, and the heartbeat."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import ClassVar, Generic, TypeVar

from minisplit.drivers.bus import BusScheduler, ModbusExceptionReply, Priority
from minisplit.drivers.profile import (
    MODBUS_MAX_WRITE_BITS,
    DeviceKind,
    DeviceProfile,
    ProfileError,
    RegisterSpec,
)
from minisplit.drivers.registers import (
    ReadBlock,
    RegisterValueError,
    bit_flags,
    decode,
    encode,
    enum_name,
    enum_value,
    plan_reads,
    raw_from_words,
)

# Exception replies that say the request does not fit the unit (no such function, no such
# registers, too many at once): a wrong unit id or profile. A busy (6) or failing (4) unit is
# another matter: it may answer the next time.
_NOT_IN_ITS_MAP = (0x01, 0x02, 0x03)

InfoT = TypeVar("InfoT")
StatusT = TypeVar("StatusT")
CommandT = TypeVar("CommandT")


class DeviceError(Exception):
    """A device that answers, but not as its profile says it should.

    ``fault`` is the short form that MQTT and the status line show, naming the register and
    what it reads (e.g. ``wrong_device: device_kind=2``); the message says what to check."""

    def __init__(self, message: str, fault: str) -> None:
        super().__init__(message)
        self.fault = fault


class UnexpectedDevice(DeviceError):
    """The unit id answers as another kind of device than the profile describes, or has no
    registers where the profile puts them."""


class ImplausibleIdentity(DeviceError):
    """The unit's identity registers hold values no working unit reports (zero, an erased
    register, limits outside the profile's): the control cannot run on them."""


class UndecodableValue(DeviceError):
    """A register holds a value the typed status cannot carry (unknown enum, sentinel)."""


class Reading:
    """The words that one probe or poll read, decoded on demand through the profile."""

    def __init__(self, who: str, profile: DeviceProfile, words: Mapping[str, list[int]]) -> None:
        self._who = who
        self._profile = profile
        self.words = dict(words)

    def raw(self, name: str) -> int:
        return raw_from_words(self._profile[name], self.words[name])

    def value(self, name: str) -> float | int | None:
        """Engineering value; None for the register's invalid sentinel."""
        return decode(self._profile[name], self.words[name])

    def number(self, name: str) -> float:
        value = self.value(name)
        if value is None:
            raise UndecodableValue(
                f"{self._who}: {name} reads its invalid sentinel", f"undecodable: {name}=invalid"
            )
        return value

    def integer(self, name: str) -> int:
        return int(self.number(name))

    def label(self, name: str) -> str:
        """The enum label; an unknown value is an error (the typed status cannot hold it)."""
        label = self.label_or_none(name)
        if label is None:
            raw = self.raw(name)
            raise UndecodableValue(
                f"{self._who}: {name} reads {raw}, not in its enum", f"undecodable: {name}={raw}"
            )
        return label

    def label_or_none(self, name: str) -> str | None:
        return enum_name(self._profile[name], self.raw(name))

    def code(self, name: str) -> str:
        """A fault-code label; a code the profile does not know still comes through."""
        return self.label_or_none(name) or f"unknown_{self.raw(name)}"

    def erased(self, name: str) -> bool:
        """The register reads 0 or all ones: a value never set, or an erased memory."""
        return self.raw(name) in (0, (1 << 16 * self._profile[name].count) - 1)

    def flags(self, name: str) -> dict[str, bool]:
        return bit_flags(self._profile[name], self.raw(name))


class DeviceDriver(ABC, Generic[InfoT, StatusT, CommandT]):
    """One Modbus device on a bus, described by a profile; subclasses say which registers
    make up its identity, status and commands, and how they map to the typed dataclasses."""

    kind: ClassVar[DeviceKind]
    #: Read at probe and decoded into the info record (ratings, firmware); the profile's
    #: `[device] identity` registers are read with them and checked.
    identity_registers: ClassVar[tuple[str, ...]]
    #: Polled every cycle: the live input registers and the read-back of the holding ones.
    status_registers: ClassVar[tuple[str, ...]]
    #: Registers whose enum labels become members of the typed fields' enums (drivers.vocabulary):
    #: the profile may use no others.
    enum_labels: ClassVar[Mapping[str, tuple[str, ...]]]
    #: Bit names the driver reads from bit-field registers: the profile must name them all.
    bit_names: ClassVar[Mapping[str, tuple[str, ...]]]
    _always_needed: ClassVar[tuple[str, ...]] = ("heartbeat", "heartbeat_timeout")

    def __init__(self, bus: BusScheduler, unit_id: int, profile: DeviceProfile) -> None:
        self.bus = bus
        self.unit_id = unit_id
        self.profile = profile
        self._check_profile()
        self._identity_plan = self._plan({*self.identity_registers, *profile.identity})
        self._poll_plan = self._plan(self.status_registers)
        # Words last read back or written, per holding register: what "changed" is measured
        # against. A register missing here is written by the next apply.
        self._known: dict[str, list[int]] = {}
        # Write sequence numbers, per register, so a poll's read-back never overrides a write
        # that overtook it (commands jump the queue) while other registers still take it.
        self._write_seq = 0
        self._written_at: dict[str, int] = {}
        self._heartbeat = 0

    def __str__(self) -> str:
        index = self.profile.unit_index
        behind = "" if index is None else f" index {index}"
        return f"{self.profile.name} unit {self.unit_id}{behind} on bus {self.bus.name}"

    @property
    def reads_per_poll(self) -> int:
        """Modbus read transactions one poll() costs (without retries)."""
        return len(self._poll_plan)

    async def probe(self) -> InfoT:
        """Read the identity registers; raise UnexpectedDevice if one of the profile's
        `[device] identity` registers reads none of its values (another device answers), or if
        the unit has no registers where the profile puts them."""
        reading = await self._read(self._identity_plan)
        for name, accepted in self.profile.identity.items():
            raw = reading.raw(name)
            if raw not in self.profile.identity_raws(name):
                found = reading.label_or_none(name) or raw
                expected = repr(accepted[0]) if len(accepted) == 1 else f"one of {list(accepted)}"
                raise UnexpectedDevice(
                    f"{self}: {name} reads {found!r}, but profile {self.profile.name!r} expects "
                    f"{expected}: is the unit id or the profile wrong?",
                    f"wrong_device: {name}={found}",
                )
        return self._decode_info(reading)

    async def poll(self) -> StatusT:
        started = self._write_seq
        reading = await self._read(self._poll_plan)
        self._known.update(
            (name, words)
            for name, words in reading.words.items()
            if self.profile[name].table.writable and self._written_at.get(name, 0) <= started
        )
        return self._decode_status(reading)

    async def apply(self, command: CommandT) -> None:
        """Write what differs from the device's last known holding registers; nothing is sent
        if any value is refused by the profile (RegisterValueError)."""
        await self._write(self._command_values(command))

    async def heartbeat(self) -> int:
        """Advance the heartbeat register (wrapping after 65535); returns the value written."""
        # Counted on from the read-back when there is one, else from the last value sent (after
        # a failed write the device may hold it or not: the next value differs from both).
        last = self._known.get("heartbeat")
        base = raw_from_words(self.profile["heartbeat"], last) if last else self._heartbeat
        self._heartbeat = (base + 1) % 0x10000
        await self._write({"heartbeat": self._heartbeat})
        return self._heartbeat

    async def set_heartbeat_timeout(self, seconds: int) -> None:
        """The device's own fallback timer (0 = off); written only if it differs."""
        await self._write({"heartbeat_timeout": seconds})

    async def read_values(self, names: Iterable[str]) -> dict[str, float | int | None]:
        """The engineering values of named registers, coils or discrete inputs (a coil or
        discrete input reads 0 or 1), in the fewest reads; for points outside the typed
        status."""
        reading = await self._read(self._plan(names))
        return {name: reading.value(name) for name in reading.words}

    async def write_values(self, values: Mapping[str, float | str]) -> None:
        """Write named holding registers or coils (engineering values or enum labels), as
        `apply` does its command's."""
        await self._write(values)

    # ---- for subclasses ---------------------------------------------------------------

    @abstractmethod
    def _decode_info(self, reading: Reading) -> InfoT: ...

    @abstractmethod
    def _decode_status(self, reading: Reading) -> StatusT: ...

    @abstractmethod
    def _command_values(self, command: CommandT) -> dict[str, float | str]:
        """Register name -> engineering value, or enum label."""

    async def _write(self, values: Mapping[str, float | str], *, force: bool = False) -> None:
        """Write ``values`` (engineering units or enum labels); unchanged registers are skipped
        unless ``force``, and contiguous changed registers go out as one fc16 write (several
        when they are more than the profile's `max_write_registers`); coils likewise, fc15."""
        encoded: dict[str, list[int]] = {}
        for name, value in values.items():
            spec = self.profile[name]
            try:
                number = enum_value(spec, value) if isinstance(value, str) else value
                encoded[name] = encode(spec, number)
            except RegisterValueError as err:
                raise RegisterValueError(f"{self}: refused, nothing written: {err}") from None
        changed = [
            self.profile[name]
            for name, words in encoded.items()
            if force or self._known.get(name) != words
        ]
        if changed and self.profile.copy_before_write:
            changed = await self._with_the_rest(changed, encoded)
        for run in _contiguous_runs(changed, self.profile.max_write_registers):
            table = run[0].table
            self._write_seq += 1
            self._written_at.update((spec.name, self._write_seq) for spec in run)
            words = [w for spec in run for w in encoded[spec.name]]
            try:
                await self.bus.write(
                    self.unit_id, run[0].address, words, priority=Priority.COMMAND, table=table
                )
            except BaseException:
                for spec in run:  # whether the device took it is unknown: rewrite next time
                    self._known.pop(spec.name, None)
                raise
            for spec in run:
                self._known[spec.name] = encoded[spec.name]

    # ---- internals --------------------------------------------------------------------

    async def _with_the_rest(
        self, changed: list[RegisterSpec], encoded: dict[str, list[int]]
    ) -> list[RegisterSpec]:
        """`[device] copy_before_write`: a write carries every writable register of the tables
        it touches, the ones not changing as the unit last read back (read first when there is
        no read-back yet) or, with `copy_from`, as their source reads now: the unit never takes
        a default, or a stale command, for a field nobody meant to set. ``encoded`` gains their
        words."""
        tables = {spec.table for spec in changed}
        names = {spec.name for spec in changed}
        rest = [
            spec
            for spec in self.profile.registers.values()
            if spec.writable and spec.table in tables and spec.name not in names
        ]
        sources = {spec.copy_from for spec in rest if spec.copy_from is not None}
        unread = {s.name for s in rest if s.copy_from is None and s.name not in self._known}
        copied: dict[str, list[int]] = {}
        if sources or unread:
            reading = await self._read(self._plan(sources | unread), Priority.COMMAND)
            self._known.update((name, reading.words[name]) for name in unread)
            copied = reading.words
        for spec in rest:
            source = spec.copy_from
            encoded[spec.name] = self._known[spec.name] if source is None else copied[source]
        return [*changed, *rest]

    async def _read(self, plan: list[ReadBlock], priority: Priority = Priority.POLL) -> Reading:
        words: dict[str, list[int]] = {}
        for block in plan:
            try:
                read = await self.bus.read(self.unit_id, block, priority=priority)
                words.update(block.raw_words(read))
            except ModbusExceptionReply as err:
                if err.code not in _NOT_IN_ITS_MAP:
                    raise
                names = block.registers[0].name
                if len(block.registers) > 1:
                    names += f"..{block.registers[-1].name}"
                raise UnexpectedDevice(
                    f"{self}: {err}: the unit has no {names} where profile "
                    f"{self.profile.name!r} puts them: is the unit id or the profile wrong?",
                    f"wrong_profile: {names} exception 0x{err.code:02X}",
                ) from None
        return Reading(str(self), self.profile, words)

    def _plan(self, names: Iterable[str]) -> list[ReadBlock]:
        return plan_reads(
            (self.profile[name] for name in names),
            max_count=self.profile.max_read_registers,
            reserved=self.profile.reserved,
            max_bits=self.profile.max_read_bits,
        )

    def _check_profile(self) -> None:
        """Refuse, at construction, a profile this driver cannot use: naming what is wrong."""
        where = f"profile {self.profile.name!r} ({self.profile.source})"
        if self.profile.kind is not self.kind:
            raise ProfileError(f"{where} describes a {self.profile.kind}, not a {self.kind}")
        needed = {
            *self._always_needed,
            *self.identity_registers,
            *self.status_registers,
            *self.enum_labels,
            *self.bit_names,
        }
        if missing := sorted(needed - self.profile.registers.keys()):
            driver = type(self).__name__
            raise ProfileError(f"{where}: lacks registers {missing} that {driver} uses")
        for name, labels in self.enum_labels.items():
            enum = self.profile[name].enum
            if not enum or not set(enum.values()) <= set(labels):
                raise ProfileError(
                    f"{where}: registers.{name}.enum must use only {list(labels)}, "
                    f"not {sorted(enum.values())}"
                )
        for name, bits in self.bit_names.items():
            if lacking := sorted(set(bits) - set(self.profile[name].bits.values())):
                raise ProfileError(f"{where}: registers.{name}.bits lacks {lacking}")


def _contiguous_runs(specs: Iterable[RegisterSpec], max_words: int) -> list[list[RegisterSpec]]:
    """Group registers into runs of adjacent addresses of one table (one write each) of at most
    ``max_words`` registers (a 32-bit value is never split), or Modbus's limit of coils."""
    runs: list[list[RegisterSpec]] = []
    for spec in sorted(specs, key=lambda s: (s.table, s.address)):
        limit = MODBUS_MAX_WRITE_BITS if spec.table.bits else max_words
        if (
            runs
            and spec.table is runs[-1][0].table
            and spec.address == runs[-1][-1].last_address + 1
            and spec.last_address - runs[-1][0].address < limit
        ):
            runs[-1].append(spec)
        else:
            runs.append([spec])
    return runs
