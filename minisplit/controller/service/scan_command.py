"""The `minisplit scan` command: its options, the progress on stderr, the table on stdout and the
draft config (`--write-config`); the scan itself is scan.py (docs/commissioning.md)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import TextIO

from minisplit.controller.config import ConfigError, parse_config
from minisplit.controller.service.scan import (
    DEFAULT_TIMEOUT_S,
    Found,
    LineSetting,
    ScanError,
    ScanResult,
    line_settings,
    parse_ids,
    scan,
)
from minisplit.drivers.bus_config import SerialBus, TcpBus
from minisplit.drivers.profile import DeviceKind, load_profile
from minisplit.drivers.transport import TransportError

BUS_NAME = "line"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    scan_parser = sub.add_parser(
        "scan", help="find the units on a serial line or behind a Modbus TCP gateway"
    )
    where = scan_parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial", metavar="DEVICE", help="an RS-485 port, e.g. /dev/ttyUSB0")
    where.add_argument("--tcp", metavar="HOST:PORT", help="a Modbus TCP gateway")
    scan_parser.add_argument("--ids", default="1-247", help="unit ids to try (default 1-247)")
    scan_parser.add_argument(
        "--baudrate", type=int, choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
    )
    scan_parser.add_argument("--parity", choices=("N", "E", "O"))
    scan_parser.add_argument("--stopbits", type=int, choices=(1, 2))
    scan_parser.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help="seconds to wait for each id's answer (default 0.1 serial, 0.03 TCP)",
    )
    scan_parser.add_argument(
        "--write-config", type=Path, metavar="FILE", help="write a draft config of what answers"
    )


def run(args: argparse.Namespace) -> int:
    """Run `minisplit scan` with its parsed options: 0 when a unit answered, 1 when none did or
    the line cannot be opened, 2 for bad options."""
    try:
        base = _base_bus(args)
        ids = parse_ids(args.ids)
        if args.timeout is not None and not 0 < args.timeout <= 10:
            raise ScanError(f"--timeout {args.timeout:g}: expected more than 0 and at most 10 s")
        if isinstance(base, TcpBus) and (args.baudrate or args.parity or args.stopbits):
            raise ScanError("--baudrate, --parity and --stopbits need --serial")
    except ScanError as err:
        print(f"minisplit scan: {err}", file=sys.stderr)
        return 2
    settings = line_settings(args.baudrate, args.parity, args.stopbits)
    timeout_s = args.timeout or DEFAULT_TIMEOUT_S[base.type]
    rounds = len(settings) if isinstance(base, SerialBus) else 1
    print(
        f"scanning ids {ids.start}-{ids.stop - 1} at {rounds} line setting(s), "
        f"{timeout_s:g} s per silent id: about {rounds * len(ids) * timeout_s:.1f} s, and a"
        " few reads more per unit that answers",
        file=sys.stderr,
    )
    try:
        result = asyncio.run(
            scan(base, ids, settings, timeout_s=timeout_s, progress=_Progress(sys.stderr))
        )
    except TransportError as err:
        print(f"minisplit scan: {err}", file=sys.stderr)
        return 1
    print(table(result))
    if not result.found:
        print(f"minisplit scan: {nothing_found(result, base)}", file=sys.stderr)
        return 1
    if args.write_config is not None:
        return _write_config(args.write_config, result, base)
    return 0


def _base_bus(args: argparse.Namespace) -> SerialBus | TcpBus:
    if args.serial is not None:
        return SerialBus(type="rtu", device=args.serial)
    host, _, port = str(args.tcp).rpartition(":")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ScanError(f"--tcp {args.tcp!r}: expected HOST:PORT, the port 1-65535")
    return TcpBus(type="tcp", host=host, port=int(port))


class _Progress:
    """One line on stderr, redrawn on a terminal; a line per line setting elsewhere."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.setting = ""

    def __call__(self, setting: str, done: int, total: int, found: int) -> None:
        if self.tty:
            bar = "#" * (20 * done // total)
            end = "\n" if done == total else ""
            self.out.write(f"\r{setting}: [{bar:<20}] {done}/{total} ids, {found} found{end}")
        elif setting != self.setting or done == total:
            self.out.write(f"{setting}: {done}/{total} ids, {found} found\n")
        self.setting = setting
        self.out.flush()


def nothing_found(result: ScanResult, base: SerialBus | TcpBus) -> str:
    ids = f"ids {result.ids.start}-{result.ids.stop - 1}"
    if isinstance(base, TcpBus):
        return (
            f"no unit answered at {base.host}:{base.port} ({ids}): check the gateway's "
            "serial settings and the units' addresses, or a longer --timeout"
        )
    tried = ", ".join(str(s) for s in result.settings)
    return (
        f"no unit answered on {base.device} at {tried} ({ids}): check A/B (swapped?), the "
        "line settings (--baudrate/--parity/--stopbits) and the units' addresses"
    )


def _line(found: Found) -> str:
    return "tcp" if found.setting is None else str(found.setting)


def table(result: ScanResult) -> str:
    rows = [("id", "line", "profile", "firmware", "serial", "what answered")]
    for found in sorted(result.found, key=lambda f: f.unit_id):
        rows.append(
            (
                str(found.unit_id),
                _line(found),
                ", ".join(found.profiles) or "unknown device",
                found.details.get("firmware_version", ""),
                found.details.get("serial_number", ""),
                _answered(found),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    summary = f"{len(result.found)} unit id(s) answered in {result.seconds:.1f} s"
    return "\n".join([*lines, summary])


def _answered(found: Found) -> str:
    if found.garbage is not None:
        return f"answers garbage: {found.garbage}"
    if found.indoor_units:
        indices = ", ".join(str(u.index) for u in found.indoor_units)
        return f"indoor units at index {indices}"
    if not found.known:
        return f"unknown device, answers at {_line(found)}: " + "; ".join(found.answers)
    return ""


def draft_config(result: ScanResult, base: SerialBus | TcpBus) -> str:
    """A config of what answered: one zone per head, the outdoor unit, the bus."""
    usable = [f for f in result.found if f.known and f.garbage is None]
    lines = [
        "# Draft written by `minisplit scan`: name the zones, add [mqtt], then check it with",
        "# `minisplit check-config` (docs/commissioning.md).",
        'controller_id = "house"',
        "",
        f"[buses.{BUS_NAME}]",
    ]
    if isinstance(base, TcpBus):
        lines += ['type = "tcp"', f'host = "{base.host}"', f"port = {base.port}"]
    else:
        setting = next((f.setting for f in usable if f.setting is not None), None)
        lines += ['type = "rtu"', f'device = "{base.device}"']
        if setting is not None:
            lines += [
                f"baudrate = {setting.baudrate}",
                f'parity = "{setting.parity}"',
                f"stopbits = {setting.stopbits}",
            ]
    lines.append("")
    for found in usable:
        profile = load_profile(found.profiles[0])
        if profile.kind is DeviceKind.OUTDOOR_UNIT:
            lines += [
                "[outdoor_unit]",
                f'bus = "{BUS_NAME}"',
                f"unit_id = {found.unit_id}",
                f'profile = "{profile.name}"',
                "",
            ]
    for found in usable:
        if load_profile(found.profiles[0]).kind is not DeviceKind.INDOOR_HEAD:
            continue
        heads: list[tuple[int | None, str]] = [(u.index, u.profile) for u in found.indoor_units]
        heads = heads or [(None, found.profiles[0])]
        for index, profile_name in heads:
            zone = f"unit{found.unit_id}" + ("" if index is None else f"_{index}")
            name = f"Unit {found.unit_id}" + ("" if index is None else f" index {index}")
            lines += [
                "[[zones]]",
                f'id = "{zone}"',
                f'name = "{name}"',
                f'bus = "{BUS_NAME}"',
                f"unit_id = {found.unit_id}",
            ]
            if index is not None:
                lines.append(f"unit_index = {index}")
            lines += [
                f'profile = "{profile_name}"',
                '# initial_mode = "heat"     # the mode of its first start (else off)',
                "",
            ]
    lines += [
        "# The broker Home Assistant uses (docs/install.md, step 9):",
        "# [mqtt]",
        '# host = "localhost"',
        '# username = "minisplit"',
        '# password_file = "/etc/minisplit/mqtt-password"',
        "",
    ]
    return "\n".join(lines)


def _write_config(path: Path, result: ScanResult, base: SerialBus | TcpBus) -> int:
    text = draft_config(result, base)
    settings = {f.setting for f in result.found if f.known}
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as err:
        print(f"minisplit scan: cannot write {path}: {err}", file=sys.stderr)
        return 1
    print(f"draft config written to {path}", file=sys.stderr)
    if len(settings) > 1:
        print(
            "  warning: units answered at different line settings; the draft's bus has the "
            "first: one line needs one setting",
            file=sys.stderr,
        )
    try:
        parse_config(text, str(path), path.parent)
    except ConfigError as err:
        print(f"  warning: `minisplit check-config {path}` refuses the draft:", file=sys.stderr)
        for problem in err.problems:
            print(f"    {problem}", file=sys.stderr)
        return 1
    return 0


__all__ = ["LineSetting", "add_parser", "draft_config", "run", "table"]
