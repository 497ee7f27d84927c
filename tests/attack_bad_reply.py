"""The bad-reply attack: the real supervisor and the real simulator, with one head's replies
made malformed (a wrong byte count, a wrong function code) by a hostile man in the middle
(tests/fixtures/hostile_modbus.py) over Modbus TCP or RTU on socat ptys. It counts what the line
goes through: transactions per unit, the other units' polls, warnings, tracebacks, link losses.

Run by tests/integration/test_bad_replies.py, and for longer by
`python -m tests.attack_bad_reply [--seconds S] [tcp|rtu ...]`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import logging
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from minisplit.controller.service.state_report import ODU_UNIT
from minisplit.controller.service.supervisor import Supervisor
from minisplit.drivers.bus import DeviceStats
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import (
    rtu_config,
    running,
    tcp_config,
    wait_until,
    with_heartbeat,
)
from tests.fixtures.hostile_modbus import (
    Corruption,
    ReplyCorruptor,
    TcpReplyCorruptor,
    rtu_corruptor,
    tcp_corruptor,
)

SPEED = 60.0  # the demo's: a 10 s control period is 1/6 wall second
# Simulated seconds: the attack is on one head's replies, not on the heartbeats, which a loaded
# machine could otherwise lapse at 60x (minisplit.testing.harness.with_heartbeat).
HEARTBEAT_TIMEOUT_S = 600
TARGET = "kitchen"
BUS = "sim"
SETTLE_S = 30.0  # wall seconds for the system to come up, and for the head to come back
CYCLE_WAIT_S = 10.0  # wall seconds: a control cycle that takes longer is a stalled loop


class Transport(enum.StrEnum):
    TCP = "tcp"
    RTU = "rtu"


@dataclass
class CycleWatch:
    """What the control cycles showed of each watched unit."""

    cycles: int = 0
    missed: dict[str, int] = field(default_factory=dict)  # polls without an answer
    unavailable: dict[str, int] = field(default_factory=dict)  # cycles it was shown unavailable
    max_gap_s: dict[str, float] = field(default_factory=dict)  # wall s between answered polls


@dataclass
class AttackReport:
    transport: Transport
    corruption: Corruption
    seconds: float
    corrupted: int  # replies the man in the middle corrupted
    before: CycleWatch  # the same time span before the attack
    during: CycleWatch
    ok: dict[str, int]  # per unit: transactions answered normally during the attack
    failed: dict[str, int]  # per unit: transactions without a normal answer
    warnings: list[str]  # WARNING and above, any logger, from the attack's start to recovery
    tracebacks: int  # log records that carry one, any logger, the whole run
    link_losses: int
    recovery_s: float  # wall seconds from the end of the attack to the head's return

    def lines(self) -> list[str]:
        others = [u for u in self.during.missed]
        gaps = ", ".join(
            f"{u} {self.before.max_gap_s[u]:.2f}->{self.during.max_gap_s[u]:.2f}" for u in others
        )
        return [
            f"{self.transport.upper()} {self.corruption.value}: {self.seconds:g} s wall at "
            f"{SPEED:g}x, {self.corrupted} replies corrupted, {self.during.cycles} control cycles "
            f"({self.before.cycles} in as long before)",
            "  transactions ok/failed: "
            + ", ".join(f"{u} {self.ok[u]}/{self.failed[u]}" for u in self.ok),
            "  other units' polls missed: "
            + ", ".join(f"{u} {n}" for u, n in self.during.missed.items())
            + "; cycles shown unavailable: "
            + ", ".join(f"{u} {n}" for u, n in self.during.unavailable.items()),
            f"  other units' longest gap between answered polls, before->during (wall s): {gaps}",
            f"  warnings {len(self.warnings)}, tracebacks {self.tracebacks}, "
            f"link losses {self.link_losses}, head back {self.recovery_s:.2f} s after the attack",
            *(f"    {message}" for message in self.warnings),
        ]


class _LogCounter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.warnings: list[str] = []
        self.tracebacks = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.WARNING:
            self.warnings.append(f"{record.name}: {record.getMessage()}")
        if record.exc_info:
            self.tracebacks += 1


@contextlib.contextmanager
def _counting_logs() -> Iterator[_LogCounter]:
    counter = _LogCounter()
    root = logging.getLogger()
    pymodbus = logging.getLogger("pymodbus")
    saved = root.level, pymodbus.level
    root.setLevel(logging.INFO)
    pymodbus.setLevel(logging.CRITICAL)  # as `minisplit run` sets it
    root.addHandler(counter)
    try:
        yield counter
    finally:
        root.removeHandler(counter)
        root.setLevel(saved[0])
        pymodbus.setLevel(saved[1])


@contextlib.asynccontextmanager
async def _hostile_system(
    transport: Transport, how: Corruption, directory: Path
) -> AsyncIterator[tuple[Supervisor, ReplyCorruptor]]:
    """The simulator behind the corruptor, the supervisor in front of it, both running."""
    state = directory / "state.json"
    if transport is Transport.TCP:
        sim_port = free_port()
        async with tcp_corruptor(("127.0.0.1", sim_port), how) as proxy:
            loaded = with_heartbeat(tcp_config(proxy.port, state), HEARTBEAT_TIMEOUT_S)
            simulator = Simulator(loaded, speed=SPEED)
            async with (
                simulator.running(tcp=("127.0.0.1", sim_port)),
                running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
            ):
                yield supervisor, proxy
    else:
        async with rtu_corruptor(directory, how) as (injector, ours, theirs):
            loaded = with_heartbeat(rtu_config(ours, state), HEARTBEAT_TIMEOUT_S)
            simulator = Simulator(loaded, speed=SPEED)
            async with (
                simulator.running(serial=theirs, baudrate=19200, parity="N"),
                running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
            ):
                yield supervisor, injector


def _unit_ids(supervisor: Supervisor) -> dict[str, int]:
    assert supervisor.loaded.config.outdoor_unit is not None
    ids = {ODU_UNIT: supervisor.loaded.config.outdoor_unit.unit_id}
    ids.update((zone.id, zone.unit_id) for zone in supervisor.loaded.config.zones)
    return ids


async def _watch(supervisor: Supervisor, units: list[str], seconds: float) -> CycleWatch:
    """Follow the control cycles for ``seconds``: which of ``units`` answered each one."""
    loop = asyncio.get_running_loop()
    watch = CycleWatch(
        missed=dict.fromkeys(units, 0),
        unavailable=dict.fromkeys(units, 0),
        max_gap_s=dict.fromkeys(units, 0.0),
    )
    last_answer = dict.fromkeys(units, loop.time())
    end = loop.time() + seconds
    while loop.time() < end:
        async with asyncio.timeout(CYCLE_WAIT_S):
            await supervisor.cycle_done.wait()
        now = loop.time()
        watch.cycles += 1
        for unit in units:
            if unit == ODU_UNIT:
                answered, available = supervisor.odu.failed_polls == 0, supervisor.odu.available
            else:
                zone = supervisor.heads[unit]
                answered, available = zone.failed_polls == 0, zone.available
            if answered:
                watch.max_gap_s[unit] = max(watch.max_gap_s[unit], now - last_answer[unit])
                last_answer[unit] = now
            else:
                watch.missed[unit] += 1
            watch.unavailable[unit] += not available
    return watch


def _all_up(supervisor: Supervisor) -> bool:
    return (
        supervisor.odu.available
        and all(zone.available for zone in supervisor.heads.values())
        and not any(link.autonomous for link in supervisor.links)
    )


async def run_attack(
    transport: Transport, how: Corruption, seconds: float, directory: Path
) -> AttackReport:
    """One attack of ``seconds`` wall seconds on the head of zone TARGET."""
    with _counting_logs() as logs:
        async with _hostile_system(transport, how, directory) as (supervisor, corruptor):
            bus = supervisor.buses[BUS]
            ids = _unit_ids(supervisor)
            others = [unit for unit in ids if unit != TARGET]
            await wait_until(lambda: _all_up(supervisor), SETTLE_S, "every unit answering")
            before = await _watch(supervisor, others, seconds)
            start = {unit: bus.stats(uid) for unit, uid in ids.items()}
            warned = len(logs.warnings)
            losses = _link_losses(logs)
            corruptor.targets.add(ids[TARGET])
            during = await _watch(supervisor, others, seconds)
            end = {unit: bus.stats(uid) for unit, uid in ids.items()}
            corruptor.targets.clear()
            loop = asyncio.get_running_loop()
            stopped = loop.time()
            await wait_until(lambda: _all_up(supervisor), SETTLE_S, f"the {TARGET} head back")
            recovery_s = loop.time() - stopped
        link_losses = _link_losses(logs) - losses
        if isinstance(corruptor, TcpReplyCorruptor):
            link_losses = max(link_losses, corruptor.connections - 1)
        return AttackReport(
            transport=transport,
            corruption=how,
            seconds=seconds,
            corrupted=sum(corruptor.corrupted.values()),
            before=before,
            during=during,
            ok={u: _ok(end[u]) - _ok(start[u]) for u in ids},
            failed={u: end[u].errors - start[u].errors for u in ids},
            warnings=logs.warnings[warned:],
            tracebacks=logs.tracebacks,
            link_losses=link_losses,
            recovery_s=recovery_s,
        )


def _ok(stats: DeviceStats) -> int:
    return stats.transactions - stats.errors


def _link_losses(logs: _LogCounter) -> int:
    return sum("link lost" in message for message in logs.warnings)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.attack_bad_reply")
    parser.add_argument("transports", nargs="*", choices=[*Transport, []], metavar="tcp|rtu")
    parser.add_argument("--seconds", type=float, default=30.0, help="wall seconds per attack")
    args = parser.parse_args(argv)
    transports = [Transport(t) for t in args.transports] or list(Transport)

    async def all_attacks() -> list[AttackReport]:
        reports = []
        for transport in transports:
            for how in Corruption:
                with tempfile.TemporaryDirectory(prefix="minisplit-attack-") as tmp:
                    reports.append(await run_attack(transport, how, args.seconds, Path(tmp)))
        return reports

    for report in asyncio.run(all_attacks()):
        print("\n".join(report.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
