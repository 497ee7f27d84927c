"""`minisplit probe`: every register of one unit read and decoded through its profile (name,
value, unit, enum label, raw words, table, address, role), once or refreshed, as text or JSON;
and the line and driver set-up that `check-config --online` shares (docs/commissioning.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from minisplit.controller.config import ConfigError, LoadedConfig, config_file, load_config
from minisplit.controller.service.persistence import AlreadyRunning, hold_state_lock
from minisplit.drivers.bus import BusError, BusScheduler, ModbusExceptionReply
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.capabilities import ROLES, Use
from minisplit.drivers.driver import DeviceDriver, Reading
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.odu import OutdoorUnitDriver
from minisplit.drivers.profile import DeviceKind, DeviceProfile, ProfileError, load_profile
from minisplit.drivers.transport import describe

#: How long a command waits for the line to open (a TCP connect, a serial port) before it says
#: the line cannot be reached: the scheduler itself keeps trying with backoff, as a service must.
CONNECT_TIMEOUT_S = 3.0
ODU = "odu"

Driver = DeviceDriver[Any, Any, Any]


class ProbeError(Exception):
    """A unit that cannot be named or reached as asked; the message says what to fix."""


@dataclass(frozen=True)
class UnitTarget:
    """One unit to talk to: where it is, its unit id and the profile it is read by."""

    what: str  # "zone living", "outdoor unit", or "unit 3" for one given directly
    bus_name: str
    bus: SerialBus | TcpBus
    unit_id: int
    profile: DeviceProfile
    # The state file of the config it comes from: a controller running with it holds the lock.
    state_file: Path | None = None

    def __str__(self) -> str:
        index = self.profile.unit_index
        behind = "" if index is None else f" index {index}"
        return f"{self.what} (unit {self.unit_id}{behind} on bus {self.bus_name})"


@contextlib.contextmanager
def controller_stopped(state_file: Path | None) -> Iterator[None]:
    """Hold the controller's lock (the one `minisplit run` takes) while a command talks to a
    config's units; ProbeError while a controller runs with the config: it owns the lines (a
    serial line takes one master: requests of both would collide). Where none has run yet (no
    lock file), nothing is made."""
    lock = None
    if state_file is not None and state_file.with_name(state_file.name + ".lock").exists():
        try:
            lock = hold_state_lock(state_file)
        except AlreadyRunning as err:
            raise ProbeError(f"not contacting the units: {err}") from None
    try:
        yield
    finally:
        if lock is not None:
            os.close(lock)


def driver_for(bus: BusScheduler, target: UnitTarget) -> Driver:
    """The project's driver of the target's kind: the one decoding path for its registers."""
    if target.profile.kind is DeviceKind.OUTDOOR_UNIT:
        return OutdoorUnitDriver(bus, target.unit_id, target.profile)
    return HeadDriver(bus, target.unit_id, target.profile)


@contextlib.asynccontextmanager
async def opened_bus(
    name: str, bus: SerialBus | TcpBus, *, timeout_s: float | None = None
) -> AsyncIterator[BusScheduler]:
    """A running scheduler of one line, connected within CONNECT_TIMEOUT_S (else ProbeError);
    ``timeout_s`` replaces the line's response timeout."""
    if timeout_s is not None:
        bus = bus.model_copy(update={"timeout_s": timeout_s})
    scheduler = BusScheduler(name, bus)
    task = asyncio.create_task(scheduler.run(), name=f"bus {name}")
    try:
        try:
            await asyncio.wait_for(scheduler.wait_connected(), CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise ProbeError(
                f"bus {name}: cannot open {describe(bus)} (no connection within "
                f"{CONNECT_TIMEOUT_S:g} s): is the address, the port or the adapter right?"
            ) from None
        yield scheduler
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


# ---- the read-out ----------------------------------------------------------------------


@dataclass(frozen=True)
class RegisterRow:
    """One register as the read-out shows it."""

    name: str
    table: str
    address: int  # as the profile's file (and the manual) numbers it: `address_base` added
    role: str  # what the product uses it for (drivers.capabilities), or "unused"
    unit: str
    words: tuple[int, ...] | None  # None: not read (refused)
    value: float | int | None = None  # None with words: its invalid sentinel
    label: str | None = None  # its enum label, or its set bits' names
    refused: str | None = None  # the unit's exception reply

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "table": self.table,
            "address": self.address,
            "role": self.role,
            "value": self.value,
            "unit": self.unit,
            "label": self.label,
            "raw": None if self.words is None else list(self.words),
            "refused": self.refused,
        }


def rows_of(
    profile: DeviceProfile, reading: Reading, refused: dict[str, ModbusExceptionReply]
) -> list[RegisterRow]:
    """The profile's registers by table and address, decoded from ``reading``."""
    rows = []
    for spec in sorted(profile.registers.values(), key=lambda s: (s.table, s.address, s.shift)):
        common: dict[str, Any] = {
            "name": spec.name,
            "table": str(spec.table),
            "address": spec.address + profile.address_base,
            "role": _role(profile, spec.name),
            "unit": "°C" if spec.fahrenheit else spec.unit,
        }
        if spec.name in refused:
            rows.append(RegisterRow(**common, words=None, refused=refusal(refused[spec.name])))
            continue
        label = reading.label_or_none(spec.name) if spec.enum else None
        if spec.bits:
            label = ",".join(bit for bit, on in reading.flags(spec.name).items() if on) or "-"
        rows.append(
            RegisterRow(
                **common,
                words=tuple(reading.words[spec.name]),
                value=reading.value(spec.name),
                label=label if label is not None or not spec.enum else "(not in its enum)",
            )
        )
    return rows


#: What the exception codes a unit refuses a read with say (Modbus Application Protocol 1.1b3,
#: section 7).
EXCEPTION_NAMES = {
    0x01: "illegal function",
    0x02: "illegal data address",
    0x03: "illegal data value",
    0x04: "device failure",
    0x05: "acknowledge",
    0x06: "busy",
}


def refusal(reply: ModbusExceptionReply) -> str:
    """The unit's exception reply, short: its code and what the code says."""
    name = EXCEPTION_NAMES.get(reply.code)
    return f"exception 0x{reply.code:02X}" + (f" ({name})" if name else "")


def _role(profile: DeviceProfile, name: str) -> str:
    """What the product uses a register for; a register the profile checks at probe is identity
    whatever its role."""
    role = ROLES[profile.kind].get(name)
    if name in profile.identity:
        return str(Use.IDENTITY)
    return "unused" if role is None else str(role.use)


async def read_out(driver: Driver) -> list[RegisterRow]:
    reading, refused = await driver.read_each()
    return rows_of(driver.profile, reading, refused)


def _value_text(row: RegisterRow) -> str:
    if row.words is None:
        return f"refused: {row.refused}"
    if row.value is None:
        return "invalid (its sentinel)"
    value = f"{row.value:g}" if isinstance(row.value, float) else str(row.value)
    text = f"{value} {row.unit}".rstrip()
    return f"{text} ({row.label})" if row.label else text


def table_text(rows: Sequence[RegisterRow]) -> str:
    """The rows as aligned columns."""
    header = ("register", "value", "raw", "table", "address", "role")
    lines = [
        (
            row.name,
            _value_text(row),
            "-" if row.words is None else " ".join(f"0x{w:04X}" for w in row.words),
            row.table,
            str(row.address),
            row.role,
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in (header, *lines)) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False))
        + "  "
        + line[-1]
        for line in (header, *lines)
    )


# ---- the command -----------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """Register `minisplit probe` on the command line's subparsers."""
    probe = sub.add_parser(
        "probe",
        help="read and decode every register of one unit (a zone's head, the outdoor unit)",
        description="Read every register of one unit's profile and print each decoded. Name the"
        " unit in a config (-c with --zone or --unit), or give its line, id and profile.",
    )
    probe.add_argument("-c", "--config", type=config_file, metavar="FILE|NAME", help="a config")
    which = probe.add_mutually_exclusive_group()
    which.add_argument("--zone", metavar="ZONE", help="with -c: the head of this zone")
    which.add_argument(
        "--unit", metavar="odu[:SYSTEM]", help="with -c: the outdoor unit (of SYSTEM)"
    )
    line = probe.add_mutually_exclusive_group()
    line.add_argument("--tcp", metavar="HOST:PORT", help="a Modbus TCP gateway or the simulator")
    line.add_argument("--serial", metavar="DEVICE", help="an RS-485 adapter (Modbus RTU)")
    probe.add_argument("--baudrate", type=int, default=19200, help="with --serial (19200)")
    probe.add_argument("--parity", choices=["N", "E", "O"], default="E", help="with --serial (E)")
    probe.add_argument("--unit-id", type=int, metavar="N", help="the unit's Modbus id")
    probe.add_argument("--profile", metavar="NAME|FILE", help="a shipped profile or a file")
    probe.add_argument("--unit-index", type=int, metavar="N", help="a gateway's unit index")
    probe.add_argument(
        "--timeout", type=float, metavar="SECONDS", help="response timeout (the line's)"
    )
    probe.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        metavar="SECONDS",
        help="read again every SECONDS (2) until Ctrl-C",
    )
    probe.add_argument("--json", action="store_true", help="JSON (one object per read)")


def target_from_args(args: argparse.Namespace) -> UnitTarget:
    """The unit the command line names; ProbeError saying what is wrong or missing."""
    direct = args.tcp or args.serial
    if args.config is not None:
        if direct or args.unit_id is not None or args.profile or args.unit_index is not None:
            raise ProbeError(
                "-c takes the unit from the config: leave out --tcp/--serial,"
                " --unit-id, --profile and --unit-index"
            )
        return _config_target(_loaded(args.config), args.zone, args.unit)
    if args.zone or args.unit:
        raise ProbeError("--zone and --unit name a unit of a config: give it with -c")
    if not direct or args.unit_id is None or not args.profile:
        raise ProbeError(
            "name a unit: -c CONFIG with --zone or --unit, or --tcp/--serial with"
            " --unit-id and --profile"
        )
    try:
        bus = _direct_bus(args)
    except ValidationError as err:
        problems = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in err.errors())
        raise ProbeError(f"the line: {problems}") from None
    try:
        profile = load_profile(args.profile)
        if args.unit_index is not None:
            profile = profile.for_unit(args.unit_index)
    except (ProfileError, ValueError) as err:
        raise ProbeError(str(err)) from None
    if not 0 <= args.unit_id <= 247:
        raise ProbeError(f"--unit-id {args.unit_id} is outside Modbus's 0..247")
    return UnitTarget(profile.name, "line", bus, args.unit_id, profile)


def _direct_bus(args: argparse.Namespace) -> SerialBus | TcpBus:
    if args.serial:
        return SerialBus(type="rtu", device=args.serial, baudrate=args.baudrate, parity=args.parity)
    host, _, port = str(args.tcp).rpartition(":")
    if not host or not port.isdigit():
        raise ProbeError(f"--tcp {args.tcp!r} is not HOST:PORT (e.g. 192.168.1.20:502)")
    return TcpBus(type="tcp", host=host, port=int(port))


def _loaded(path: Path) -> LoadedConfig:
    try:
        return load_config(path)
    except ConfigError as err:
        raise ProbeError(f"{err.source}: " + "; ".join(err.problems)) from None


def _config_target(loaded: LoadedConfig, zone_id: str | None, unit: str | None) -> UnitTarget:
    config = loaded.config
    if zone_id is not None:
        zones = {zone.id: zone for zone in config.zones}
        if zone_id not in zones:
            raise ProbeError(f"no zone {zone_id!r} in the config (zones: {', '.join(zones)})")
        return zone_target(loaded, zones[zone_id].id)
    if unit is None:
        raise ProbeError("with -c, name the unit: --zone ZONE or --unit odu[:SYSTEM]")
    kind, _, system_name = unit.partition(":")
    if kind != ODU:
        raise ProbeError(f"--unit {unit!r}: only the outdoor unit, odu or odu:SYSTEM")
    systems = loaded.systems
    if not system_name:
        if len(systems) != 1:
            raise ProbeError(f"the config has systems {', '.join(systems)}: --unit odu:SYSTEM")
        system_name = next(iter(systems))
    if system_name not in systems:
        raise ProbeError(f"no system {system_name!r} (systems: {', '.join(systems)})")
    target = odu_target(loaded, system_name)
    if target is None:
        raise ProbeError(f"system {system_name!r} has no outdoor unit in the config")
    return target


def zone_target(loaded: LoadedConfig, zone_id: str) -> UnitTarget:
    zone = loaded.config.zone(zone_id)
    bus = loaded.config.buses[zone.bus]
    profile = loaded.head_profile(zone)
    state_file = loaded.config.state_file
    return UnitTarget(f"zone {zone.id}", zone.bus, bus, zone.unit_id, profile, state_file)


def odu_target(loaded: LoadedConfig, system_name: str) -> UnitTarget | None:
    system = loaded.systems[system_name]
    odu, profile = system.outdoor_unit, system.odu_profile
    if odu is None or profile is None:
        return None
    what = "outdoor unit" if system.topic_level is None else f"outdoor unit of {system.name}"
    bus = loaded.config.buses[odu.bus]
    return UnitTarget(what, odu.bus, bus, odu.unit_id, profile, loaded.config.state_file)


def run_probe(args: argparse.Namespace) -> int:
    """The `probe` command: 0 when every read answered, 1 when the unit did not, 2 on bad
    input (all said on stderr)."""
    try:
        target = target_from_args(args)
    except ProbeError as err:
        print(f"minisplit probe: {err}", file=sys.stderr)
        return 2
    if args.watch is not None and args.watch <= 0:
        print("minisplit probe: --watch takes a period above 0 s", file=sys.stderr)
        return 2
    if args.timeout is not None and not 0 < args.timeout <= 10:
        print("minisplit probe: --timeout takes above 0 and at most 10 s", file=sys.stderr)
        return 2
    try:
        with controller_stopped(target.state_file):
            return asyncio.run(_probe(target, args.timeout, args.watch, args.json, print))
    except ProbeError as err:
        print(f"minisplit probe: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


async def _probe(
    target: UnitTarget,
    timeout_s: float | None,
    watch_s: float | None,
    as_json: bool,
    show: Callable[[str], None],
) -> int:
    try:
        async with opened_bus(target.bus_name, target.bus, timeout_s=timeout_s) as bus:
            driver = driver_for(bus, target)
            while True:
                if watch_s is not None and not as_json:
                    if sys.stdout.isatty():  # each read in place of the last, as `watch` does
                        show("\x1b[H\x1b[2J")
                    now = time.strftime("%H:%M:%S")
                    show(f"{now}, read every {watch_s:g} s until Ctrl-C")
                code = await _one_read(target, driver, as_json, show)
                if watch_s is None:
                    return code
                await asyncio.sleep(watch_s)
    except ProbeError as err:
        print(f"minisplit probe: {err}", file=sys.stderr)
        return 1


async def _one_read(
    target: UnitTarget, driver: Driver, as_json: bool, show: Callable[[str], None]
) -> int:
    profile = target.profile
    heading = {
        "unit": target.what,
        "bus": target.bus_name,
        "line": describe(target.bus),
        "unit_id": target.unit_id,
        "unit_index": profile.unit_index,
        "profile": profile.name,
        "address_base": profile.address_base,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    try:
        rows = await read_out(driver)
    except BusError as err:
        if as_json:
            show(json.dumps({**heading, "error": str(err)}))
        else:
            print(f"minisplit probe: {target}: no answer: {err}", file=sys.stderr)
        return 1
    answered = any(row.words is not None for row in rows)
    if as_json:
        show(json.dumps({**heading, "registers": [row.as_dict() for row in rows]}))
    else:
        base = "" if profile.address_base == 0 else ", addresses numbered from 1 as its manual"
        show(f"{target}: profile {profile.name} on {describe(target.bus)}{base}")
        show(table_text(rows))
    if not answered:
        print(f"minisplit probe: {target} refuses every register", file=sys.stderr)
    return 0 if answered else 1
