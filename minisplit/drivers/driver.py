"""What the outdoor-unit and head drivers share: probing, polling in the fewest read blocks,
decoding through the profile, writing only what changed, and the heartbeat."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Generic, TypeVar

from minisplit.drivers.bus import BusScheduler, ModbusExceptionReply, Priority
from minisplit.drivers.capabilities import ROLES, Role, Use, capabilities
from minisplit.drivers.profile import (
    MODBUS_MAX_WRITE_BITS,
    DeviceKind,
    DeviceProfile,
    ProfileError,
    RegisterSpec,
    Table,
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

    def has(self, name: str) -> bool:
        """The register was read (the profile declares it)."""
        return name in self.words

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

    def enum_of(self, name: str) -> Mapping[int, str]:
        return self._profile[name].enum

    def code(self, name: str) -> str:
        """A fault-code label; a code the profile does not know still comes through."""
        return self.label_or_none(name) or f"unknown_{self.raw(name)}"

    def erased(self, name: str) -> bool:
        """The register reads 0 or all ones: a value never set, or an erased memory."""
        return self.raw(name) in (0, (1 << self._profile[name].value_bits) - 1)

    def flags(self, name: str) -> dict[str, bool]:
        return bit_flags(self._profile[name], self.raw(name))

    # ---- optional roles: None where the profile does not declare the register ------------

    def optional_value(self, name: str) -> float | int | None:
        """Engineering value; None if undeclared or its invalid sentinel."""
        return self.value(name) if name in self.words else None

    def optional_number(self, name: str) -> float | None:
        """Engineering value, None if undeclared; a sentinel is an error (as `number`)."""
        return self.number(name) if name in self.words else None

    def optional_integer(self, name: str) -> int | None:
        return self.integer(name) if name in self.words else None

    def optional_label(self, name: str) -> str | None:
        """The enum label, None if undeclared; an unknown value is an error (as `label`)."""
        return self.label(name) if name in self.words else None

    def optional_code(self, name: str) -> str | None:
        return self.code(name) if name in self.words else None

    def switch(self, name: str) -> bool | None:
        """An on/off register (its enum's "on", or non-zero without one); None if undeclared."""
        if name not in self.words:
            return None
        if self._profile[name].enum:
            return self.label(name) == "on"
        return self.raw(name) != 0

    def fault(self) -> bool | None:
        """The device's fault flag (`fault`, a register or a bit of `status`); where the
        profile has none, its `fault_code`: any code but `none` (0 without an enum label) is a
        fault. None when it has neither."""
        flag = self.flag("fault", "status")
        if flag is not None or "fault_code" not in self.words:
            return flag
        label = self.label_or_none("fault_code")
        return label != "none" if label is not None else self.raw("fault_code") != 0

    def flag(self, name: str, bit_of: str) -> bool | None:
        """A yes/no role: its own register, coil or discrete input (non-zero is yes), or the
        bit of that name in the bit field ``bit_of``; None when the profile has neither."""
        if name in self.words:
            return self.raw(name) != 0
        if bit_of in self.words:
            return self.flags(bit_of).get(name)
        return None


class DeviceDriver(ABC, Generic[InfoT, StatusT, CommandT]):
    """One Modbus device on a bus, described by a profile; subclasses map the roles its
    registers play (drivers.capabilities) to the typed dataclasses. Only the roles the profile
    declares are read and written: what it lacks is None in the records, and never sent."""

    kind: ClassVar[DeviceKind]

    def __init__(self, bus: BusScheduler, unit_id: int, profile: DeviceProfile) -> None:
        self.bus = bus
        self.unit_id = unit_id
        self.profile = profile
        where = f"profile {profile.name!r} ({profile.source})"
        if profile.kind is not self.kind:
            raise ProfileError(f"{where} describes a {profile.kind}, not a {self.kind}")
        self.capabilities = capabilities(profile)
        roles = ROLES[self.kind]
        identity = [name for name in profile.registers if _use(roles, name) is Use.IDENTITY]
        polled = [name for name in profile.registers if _use(roles, name) in _POLLED]
        self._identity_plan = self._plan({*identity, *profile.identity})
        # The live readings and the read-back of the levers.
        self._poll_plan = self._plan(polled)
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
        levers = self.capabilities.levers
        await self._write(
            {name: v for name, v in self._command_values(command).items() if name in levers}
        )

    async def heartbeat(self) -> int | None:
        """Advance the heartbeat register (wrapping after 65535); returns the value written, or
        None when the profile has no heartbeat."""
        if "heartbeat" not in self.capabilities.levers:
            return None
        # Counted on from the read-back when there is one, else from the last value sent (after
        # a failed write the device may hold it or not: the next value differs from both).
        last = self._known.get("heartbeat")
        base = raw_from_words(self.profile["heartbeat"], last) if last else self._heartbeat
        self._heartbeat = (base + 1) % 0x10000
        await self._write({"heartbeat": self._heartbeat})
        return self._heartbeat

    async def set_heartbeat_timeout(self, seconds: int) -> None:
        """The device's own fallback timer (0 = off); written only if it differs, and only
        where the profile has one."""
        if "heartbeat_timeout" in self.capabilities.levers:
            await self._write({"heartbeat_timeout": seconds})

    async def read_values(self, names: Iterable[str]) -> dict[str, float | int | None]:
        """The engineering values of named registers, coils or discrete inputs (a coil or
        discrete input reads 0 or 1), in the fewest reads; for points outside the typed
        status."""
        reading = await self._read(self._plan(names))
        return {name: reading.value(name) for name in reading.words}

    async def read_each(
        self, names: Iterable[str] | None = None
    ) -> tuple[Reading, dict[str, ModbusExceptionReply]]:
        """Named registers (every one of the profile's by default) in the fewest reads, for a
        read-out or a check (`minisplit probe`, `check-config --online`): a block the unit
        refuses with an exception reply is read again register by register, so that only what
        it refuses is missing from the reading; those come back with the unit's reply."""
        words: dict[str, list[int]] = {}
        refused: dict[str, ModbusExceptionReply] = {}
        pending = self._plan(self.profile.registers if names is None else names)
        while pending:
            block = pending.pop(0)
            try:
                read = await self.bus.read(self.unit_id, block, priority=Priority.COMMAND)
            except ModbusExceptionReply as err:
                if len(block.registers) == 1:
                    refused[block.registers[0].name] = err
                else:  # which of them it refuses: one at a time
                    pending[:0] = [self._plan([spec.name])[0] for spec in block.registers]
                continue
            words.update(block.raw_words(read))
        return Reading(str(self), self.profile, words), refused

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
        """Register name -> engineering value, or enum label, for every lever the command
        sets; `apply` drops those the profile lacks."""

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
        await self._send(encoded, force=force)

    async def _send(self, encoded: dict[str, list[int]], *, force: bool = False) -> None:
        """Write registers' ``encoded`` words, as `_write` says."""
        changed = [
            self.profile[name]
            for name, words in encoded.items()
            if force or self._known.get(name) != words
        ]
        if changed:
            changed = await self._with_the_rest(changed, encoded)
        for run in _contiguous_runs(_slots(changed, encoded), self.profile.max_write_registers):
            names = [name for slot in run for name in slot.names]
            self._write_seq += 1
            self._written_at.update((name, self._write_seq) for name in names)
            words = [w for slot in run for w in slot.words]
            try:
                await self.bus.write(
                    self.unit_id,
                    run[0].address,
                    words,
                    priority=Priority.COMMAND,
                    table=run[0].table,
                )
            except BaseException:
                for name in names:  # whether the device took it is unknown: rewrite next time
                    self._known.pop(name, None)
                raise
            for name in names:
                self._known[name] = encoded[name]

    # ---- internals --------------------------------------------------------------------

    async def _with_the_rest(
        self, changed: list[RegisterSpec], encoded: dict[str, list[int]]
    ) -> list[RegisterSpec]:
        """What a write of ``changed`` carries besides: the other fields of each word it
        touches (a word is written whole), as last read back (read first when there is none
        yet); and with `[device] copy_before_write`, every writable register of the tables it
        touches, the ones not changing as the unit last read back or, with `copy_from`, as
        their source reads now: the unit never takes a default, or a stale command, for a field
        nobody meant to set. ``encoded`` gains their words."""
        registers = self.profile.registers.values()
        names = {spec.name for spec in changed}
        tables = {spec.table for spec in changed} if self.profile.copy_before_write else set()
        rest = [s for s in registers if s.writable and s.table in tables and s.name not in names]
        words = {(s.table, s.address) for s in (*changed, *rest) if s.bit_range is not None}
        rest += [
            s
            for s in registers
            if s.bit_range is not None
            and (s.table, s.address) in words
            and s.name not in names
            and s not in rest
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


_POLLED = (Use.READING, Use.LEVER)


def _use(roles: Mapping[str, Role], name: str) -> Use | None:
    role = roles.get(name)
    return None if role is None else role.use


@dataclass(frozen=True)
class _Slot:
    """The words one register, or the fields of one word, put on the wire."""

    table: Table
    address: int
    words: tuple[int, ...]
    names: tuple[str, ...]

    @property
    def last_address(self) -> int:
        return self.address + len(self.words) - 1


def _slots(specs: Iterable[RegisterSpec], encoded: Mapping[str, list[int]]) -> list[_Slot]:
    """One slot per register, the fields of one word merged into one (each holds its own bits
    only), by table and address."""
    words: dict[tuple[Table, int], _Slot] = {}
    for spec in specs:
        key = (spec.table, spec.address)
        mine = tuple(encoded[spec.name])
        if key in words:
            slot = words[key]
            words[key] = _Slot(
                spec.table, spec.address, (slot.words[0] | mine[0],), (*slot.names, spec.name)
            )
        else:
            words[key] = _Slot(spec.table, spec.address, mine, (spec.name,))
    return [words[key] for key in sorted(words)]


def _contiguous_runs(slots: Iterable[_Slot], max_words: int) -> list[list[_Slot]]:
    """Group slots into runs of adjacent addresses of one table (one write each) of at most
    ``max_words`` registers (a 32-bit value is never split), or Modbus's limit of coils."""
    runs: list[list[_Slot]] = []
    for slot in slots:
        limit = MODBUS_MAX_WRITE_BITS if slot.table.bits else max_words
        if (
            runs
            and slot.table is runs[-1][0].table
            and slot.address == runs[-1][-1].last_address + 1
            and slot.last_address - runs[-1][0].address < limit
        ):
            runs[-1].append(slot)
        else:
            runs.append([slot])
    return runs
