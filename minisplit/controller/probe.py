"""`minisplit probe`: every register of one unit read and decoded through its profile (name,
value, unit, enum label, raw words, table, address, role), once or refreshed, as text or JSON
(docs/commissioning.md)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from minisplit.controller.config import ConfigError, LoadedConfig, config_file, load_config
from minisplit.controller.unit_access import (
    Driver,
    UnitAccessError,
    UnitTarget,
    controller_stopped,
    driver_for,
    odu_target,
    opened_bus,
    refusal,
    zone_target,
)
from minisplit.drivers.bus import BusError, ModbusExceptionReply
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.capabilities import ROLES, Use
from minisplit.drivers.driver import Reading
from minisplit.drivers.profile import DeviceProfile, ProfileError, load_profile
from minisplit.drivers.transport import describe

ODU = "odu"

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
    """The unit the command line names; UnitAccessError saying what is wrong or missing."""
    direct = args.tcp or args.serial
    if args.config is not None:
        if direct or args.unit_id is not None or args.profile or args.unit_index is not None:
            raise UnitAccessError(
                "-c takes the unit from the config: leave out --tcp/--serial,"
                " --unit-id, --profile and --unit-index"
            )
        return _config_target(loaded_or_refusal(args.config), args.zone, args.unit)
    if args.zone or args.unit:
        raise UnitAccessError("--zone and --unit name a unit of a config: give it with -c")
    if not direct or args.unit_id is None or not args.profile:
        raise UnitAccessError(
            "name a unit: -c CONFIG with --zone or --unit, or --tcp/--serial with"
            " --unit-id and --profile"
        )
    try:
        bus = _direct_bus(args)
    except ValidationError as err:
        problems = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in err.errors())
        raise UnitAccessError(f"the line: {problems}") from None
    try:
        profile = load_profile(args.profile)
        if args.unit_index is not None:
            profile = profile.for_unit(args.unit_index)
    except (ProfileError, ValueError) as err:
        raise UnitAccessError(str(err)) from None
    if not 1 <= args.unit_id <= 247:  # 0 is the broadcast, which no unit answers
        raise UnitAccessError(f"--unit-id {args.unit_id} is outside the unit ids 1..247")
    return UnitTarget(profile.name, "line", bus, args.unit_id, profile)


def _direct_bus(args: argparse.Namespace) -> SerialBus | TcpBus:
    if args.serial:
        return SerialBus(type="rtu", device=args.serial, baudrate=args.baudrate, parity=args.parity)
    host, _, port = str(args.tcp).rpartition(":")
    if not host or not port.isdigit():
        raise UnitAccessError(f"--tcp {args.tcp!r} is not HOST:PORT (e.g. 192.168.1.20:502)")
    return TcpBus(type="tcp", host=host, port=int(port))


def loaded_or_refusal(path: Path) -> LoadedConfig:
    """The config, or UnitAccessError saying what is wrong with it."""
    try:
        return load_config(path)
    except ConfigError as err:
        raise UnitAccessError(f"{err.source}: " + "; ".join(err.problems)) from None


def _config_target(loaded: LoadedConfig, zone_id: str | None, unit: str | None) -> UnitTarget:
    config = loaded.config
    if zone_id is not None:
        zones = {zone.id: zone for zone in config.zones}
        if zone_id not in zones:
            raise UnitAccessError(f"no zone {zone_id!r} in the config (zones: {', '.join(zones)})")
        return zone_target(loaded, zones[zone_id].id)
    if unit is None:
        raise UnitAccessError("with -c, name the unit: --zone ZONE or --unit odu[:SYSTEM]")
    kind, _, system_name = unit.partition(":")
    if kind != ODU:
        raise UnitAccessError(f"--unit {unit!r}: only the outdoor unit, odu or odu:SYSTEM")
    systems = loaded.systems
    if not system_name:
        if len(systems) != 1:
            raise UnitAccessError(f"the config has systems {', '.join(systems)}: --unit odu:SYSTEM")
        system_name = next(iter(systems))
    if system_name not in systems:
        raise UnitAccessError(f"no system {system_name!r} (systems: {', '.join(systems)})")
    target = odu_target(loaded, system_name)
    if target is None:
        raise UnitAccessError(f"system {system_name!r} has no outdoor unit in the config")
    return target


def run_probe(args: argparse.Namespace) -> int:
    """The `probe` command: 0 when every read answered, 1 when the unit did not, 2 on bad
    input (all said on stderr)."""
    try:
        target = target_from_args(args)
    except UnitAccessError as err:
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
    except UnitAccessError as err:
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
    except UnitAccessError as err:
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
