"""Fault injection for the simulator: what goes wrong, on which unit, when and for how long.

Faults come from Python (`Simulator.faults.add(Fault(...))`) or from a TOML file
(`minisplit sim --faults FILE`). The `FaultInjector` switches them on and off on the
simulator's clock, and answers the Modbus server's questions about each request (no reply?
late? an exception instead? what bytes go on the wire?).

Time base: `start_s` and `duration_s` are simulated seconds counted from when the fault is
added. A fault file's faults are added as the simulator starts, so there `start_s = 0` means
from the first request on, and `start_s = 1800` half an hour of simulated time later (30 wall
seconds at `--speed 60`), whatever calendar date `[simulator] start` sets. The delay of a slow
reply is in wall seconds, like the master's timeout it is meant to approach.

A fault file holds an optional `seed` and one `[[faults]]` table per fault, whose keys are the
fields of `Fault` below (see `load_fault_file`; config/demo-faults.toml is an example).

Frame faults (`bad_crc`, `garbage`) exist only on an RTU line: Modbus TCP has no CRC, and TCP's
own checksums drop a corrupted segment before Modbus sees it, so a simulator that serves TCP
only refuses them; one that serves both applies them to its serial line alone."""

from __future__ import annotations

import asyncio
import enum
import math
import random
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from pymodbus.constants import ExcCodes

from minisplit.drivers.textfile import (
    TomlError,
    UnreadableFile,
    named_file,
    parse_toml,
    read_text,
    shipped_files,
    shipped_names,
)
from minisplit.hil.firmware import OutdoorFirmware
from minisplit.hil.modbus_units import IndoorHead, OutdoorUnit

ODU_TARGET = "odu"


class FaultKind(enum.StrEnum):
    NO_REPLY = "no_reply"  # a share (`probability`) of the unit's requests get no reply
    VANISH = "vanish"  # the unit answers nothing at all, then comes back
    EXCEPTION = "exception"  # exception reply `code` (4 device failure, 6 busy) instead
    SLOW = "slow"  # replies `delay_s` wall seconds late
    STUCK_SENSOR = "stuck_sensor"  # `register` keeps the value it had when the fault began
    SENSOR_VALUE = "sensor_value"  # `register` reads `value` (out of range), or the sentinel
    SENSOR_BROKEN = "sensor_broken"  # the unit's own sensor fails: sentinel and fault code
    ODU_FAULT = "odu_fault"  # the ODU raises fault `code` (e.g. "high_pressure") and stops
    DEFROST = "defrost"  # the ODU defrosts now (in heating), frost or not
    HEARTBEAT_LAPSE = "heartbeat_lapse"  # the unit's heartbeat watchdog lapses: autonomous
    BAD_CRC = "bad_crc"  # a share of the unit's RTU replies go out with a corrupted CRC
    GARBAGE = "garbage"  # a burst of `noise_bytes` random bytes on the line before a reply


FRAME_KINDS = frozenset({FaultKind.BAD_CRC, FaultKind.GARBAGE})
_LINE_KINDS = {FaultKind.NO_REPLY, FaultKind.VANISH, FaultKind.EXCEPTION, FaultKind.SLOW}
_ODU_ONLY = {FaultKind.ODU_FAULT, FaultKind.DEFROST}
# A burst longer than an RTU frame (256 bytes) is a broken line, not noise.
MAX_NOISE_BYTES = 256


def _exception_code(code: int | str | None) -> ExcCodes:
    if not isinstance(code, int):
        raise ValueError(f"{code!r} is not a Modbus exception code")
    return ExcCodes(code)


@dataclass(frozen=True)
class Fault:
    kind: FaultKind
    target: str  # "odu" or a zone id
    start_s: float = 0.0
    duration_s: float = math.inf
    # > 0: after the first time, it recurs at random (Poisson), this often per simulated hour.
    repeat_per_hour: float = 0.0
    register: str | None = None  # sensor faults
    value: float | None = None  # sensor_value: None reads as the invalid sentinel
    code: int | str | None = None  # exception: 4 or 6; odu_fault: a fault_code label
    delay_s: float = 0.0  # slow
    probability: float = 1.0  # line and frame faults: the share of requests affected
    noise_bytes: int = 8  # garbage: the length of each burst

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", FaultKind(self.kind))
        # Written so that a NaN fails too (it compares false): it scheduled a fault never due.
        if not (self.start_s >= 0 and self.duration_s > 0 and self.repeat_per_hour >= 0):
            raise ValueError(f"{self.kind}: start_s >= 0, duration_s > 0, repeat_per_hour >= 0")
        if not self.delay_s >= 0:
            raise ValueError(f"{self.kind}: delay_s >= 0")
        if not 0 < self.probability <= 1:
            raise ValueError(f"{self.kind}: probability must be in (0, 1]")
        if self.kind in _ODU_ONLY and self.target != ODU_TARGET:
            raise ValueError(f"{self.kind} targets the outdoor unit ({ODU_TARGET!r})")
        needs_register = {FaultKind.STUCK_SENSOR, FaultKind.SENSOR_VALUE, FaultKind.SENSOR_BROKEN}
        if self.kind in needs_register and self.register is None:
            raise ValueError(f"{self.kind} needs a register")
        if self.kind is FaultKind.EXCEPTION:
            _exception_code(self.code)  # ValueError for a code Modbus does not have
        if self.kind is FaultKind.ODU_FAULT and not isinstance(self.code, str):
            raise ValueError("odu_fault needs a fault_code label as code, e.g. 'high_pressure'")
        if self.kind is FaultKind.GARBAGE and not 1 <= self.noise_bytes <= MAX_NOISE_BYTES:
            raise ValueError(f"garbage: noise_bytes must be in 1..{MAX_NOISE_BYTES}")


@dataclass
class _Schedule:
    fault: Fault
    starts_at: float
    ends_at: float
    active: bool = False


class FaultInjector:
    """The faults of one simulator, on its units (by target: "odu" or a zone id)."""

    def __init__(
        self, units: Mapping[str, IndoorHead | OutdoorUnit], now_s: float, seed: int = 0
    ) -> None:
        """``now_s``: the simulator's clock now (seconds since Jan 1 of the weather year), the
        origin of faults added before it first moves."""
        self._units = dict(units)
        self._rng = random.Random(seed)
        self._schedules: list[_Schedule] = []
        self._now = now_s
        # Whether the simulator serves an RTU line: None until it serves at all.
        self._serial_line: bool | None = None
        self.injected = 0  # how many times a fault began

    def seed(self, seed: int) -> None:
        self._rng.seed(seed)

    def add(self, fault: Fault) -> None:
        """Schedule a fault, its start counted from now."""
        unit = self._unit(fault.target)
        if fault.register is not None:
            unit.profile[fault.register]  # KeyError now for a register the unit does not have
        if self._serial_line is False:
            _refuse_frame_faults([fault])
        starts_at = self._now + fault.start_s
        self._schedules.append(_Schedule(fault, starts_at, starts_at + fault.duration_s))
        self.update(self._now)

    def serve(self, *, serial_line: bool | None) -> None:
        """Say whether the simulator now serves an RTU line (None: it stopped serving).

        Without one, frame faults cannot happen: refused with a ValueError, scheduled or new."""
        if serial_line is False:
            _refuse_frame_faults(s.fault for s in self._schedules)
        self._serial_line = serial_line

    def clear(self) -> None:
        """End every fault now; nothing recurs."""
        for schedule in self._schedules:
            if schedule.active:
                self._switch(schedule.fault, on=False)
        self._schedules.clear()

    @property
    def active(self) -> list[Fault]:
        return [s.fault for s in self._schedules if s.active]

    def update(self, now_s: float) -> None:
        """Switch faults on and off up to simulated time ``now_s``."""
        self._now = now_s
        for schedule in list(self._schedules):
            if not schedule.active and schedule.starts_at <= now_s < schedule.ends_at:
                schedule.active = True
                self.injected += 1
                self._switch(schedule.fault, on=True)
            if schedule.active and now_s >= schedule.ends_at:
                schedule.active = False
                self._switch(schedule.fault, on=False)
            if not schedule.active and now_s >= schedule.ends_at:
                rate = schedule.fault.repeat_per_hour
                if rate > 0:
                    schedule.starts_at = now_s + self._rng.expovariate(rate / 3600.0)
                    schedule.ends_at = schedule.starts_at + schedule.fault.duration_s
                else:
                    self._schedules.remove(schedule)

    # ---- what the Modbus server asks (hil.server.LineFaults) ----

    def silent(self, unit_id: int) -> bool:
        return any(
            f.kind is FaultKind.VANISH
            or (f.kind is FaultKind.NO_REPLY and self._rng.random() < f.probability)
            for f in self._active_on(unit_id, _LINE_KINDS)
        )

    async def before_reply(self, unit_id: int) -> ExcCodes | None:
        code = None
        for fault in self._active_on(unit_id, _LINE_KINDS):
            if self._rng.random() >= fault.probability:
                continue
            if fault.kind is FaultKind.SLOW:
                await asyncio.sleep(fault.delay_s)
            elif fault.kind is FaultKind.EXCEPTION:
                code = _exception_code(fault.code)
        return code

    def on_the_wire(self, unit_id: int, frame: bytes) -> bytes:
        """The bytes that go on the RTU line for ``frame``, a reply of ``unit_id``."""
        for fault in self._active_on(unit_id, FRAME_KINDS):
            if self._rng.random() >= fault.probability:
                continue
            if fault.kind is FaultKind.BAD_CRC:
                # The CRC is the frame's last two bytes; any flipped bit there breaks it.
                frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
            else:
                frame = self._rng.randbytes(fault.noise_bytes) + frame
        return frame

    # ---- internals ----

    def _unit(self, target: str) -> IndoorHead | OutdoorUnit:
        try:
            return self._units[target]
        except KeyError:
            raise KeyError(
                f"no fault target {target!r} (targets: {', '.join(self._units)})"
            ) from None

    def _active_on(self, unit_id: int, kinds: Container[FaultKind]) -> Iterable[Fault]:
        for schedule in self._schedules:
            fault = schedule.fault
            if (
                schedule.active
                and fault.kind in kinds
                and self._units[fault.target].unit_id == unit_id
            ):
                yield fault

    def _switch(self, fault: Fault, *, on: bool) -> None:
        unit = self._unit(fault.target)
        firmware = unit.firmware
        register = fault.register or ""
        match fault.kind:
            case FaultKind.STUCK_SENSOR:
                if on:
                    unit.overrides[register] = unit.value(register)
                else:
                    unit.overrides.pop(register, None)
            case FaultKind.SENSOR_VALUE:
                if on:
                    unit.overrides[register] = fault.value
                else:
                    unit.overrides.pop(register, None)
            case FaultKind.SENSOR_BROKEN:
                (firmware.broken_sensors.add if on else firmware.broken_sensors.discard)(register)
            case FaultKind.ODU_FAULT:
                assert isinstance(firmware, OutdoorFirmware)
                firmware.fault = str(fault.code) if on else None
            case FaultKind.DEFROST:
                assert isinstance(firmware, OutdoorFirmware)
                if on:
                    firmware.force_defrost()
            case FaultKind.HEARTBEAT_LAPSE:
                firmware.watchdog.lapsed = on
            case _:  # line and frame faults act per request (silent, before_reply, on_the_wire)
                pass


def _refuse_frame_faults(faults: Iterable[Fault]) -> None:
    for fault in faults:
        if fault.kind in FRAME_KINDS:
            raise ValueError(
                f"{fault.kind} on {fault.target!r}: frame faults need an RTU line, and this "
                "simulator serves none (Modbus TCP has no CRC, and TCP's checksums drop "
                "corrupted segments before Modbus sees them); serve a serial port to inject it"
            )


# What each key of a fault file holds; the others are numbers. Checked as the config's keys
# are (strictly): `start_s = "10"` was a TypeError's text, `start_s = true` a start at 1 s.
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "kind": str,
    "target": str,
    "register": str,
    "code": (int, str),
    "noise_bytes": int,
}


def _is(value: object, kind: type | tuple[type, ...]) -> bool:
    """``isinstance``, except that a bool is no number and an int is a float too."""
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds:
        kinds = (*kinds, int)
    return not isinstance(value, bool) and isinstance(value, kinds)


def shipped_fault_files() -> list[Path]:
    """The fault files that come with the package (`demo-faults`), by name."""
    return shipped_files("minisplit_data", suffix="-faults.toml")


def fault_file(text: str) -> Path:
    """The fault file that ``text`` names: a file, or a shipped one by its name (`named_file`)."""
    return named_file(text, shipped_fault_files())


def load_fault_file(path: Path) -> tuple[list[Fault], int]:
    """The faults and the random seed of a TOML fault file::

    seed = 1
    [[faults]]
    kind = "vanish"
    target = "bedroom"
    start_s = 600
    duration_s = 300
    repeat_per_hour = 2
    [[faults]]
    kind = "garbage"      # frame faults need the simulator on a serial line
    target = "kitchen"
    noise_bytes = 4
    probability = 0.2
    """
    try:
        data = parse_toml(read_text(path))
    except UnreadableFile as err:
        hint = shipped_names(path, shipped_fault_files(), "fault file")
        raise ValueError("; ".join([str(err), *hint])) from None
    except TomlError as err:
        raise ValueError(f"{path}: {err}") from None
    unknown = set(data) - {"seed", "faults"}
    if unknown:
        raise ValueError(f"{path}: unknown keys {', '.join(sorted(unknown))}")
    entries = data.get("faults", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ValueError(f"{path}: 'faults' must be an array of tables ([[faults]])")
    if not _is(data.get("seed", 0), int):
        raise ValueError(f"{path}: 'seed' must be an integer")
    known = {f.name for f in fields(Fault)}
    faults = []
    for number, entry in enumerate(entries, start=1):
        extra = set(entry) - known
        if extra:
            raise ValueError(f"{path}: fault {number}: unknown keys {', '.join(sorted(extra))}")
        for key, value in entry.items():
            if not _is(value, _FIELD_TYPES.get(key, float)):
                raise ValueError(f"{path}: fault {number}: {key} = {value!r} is of the wrong type")
        try:
            faults.append(Fault(**entry))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{path}: fault {number}: {err}") from None
    return faults, data.get("seed", 0)
