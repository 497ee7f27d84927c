"""Soak: the real controller against the simulator for simulated hours under random faults,
watched from the units' side (issue 5).

    .venv/bin/python -m tests.soak --hours 24 --speed 60 --seed 1 [--faults-per-minute 1]

The simulator (Modbus TCP on loopback) runs in this process, with a real mosquitto (always:
the controller's view of its zones is read where a user reads it, on MQTT); the controller is
a real `minisplit run --time-scale SPEED` subprocess, so the RSS measured is its own. About
once a simulated minute a fault of a random kind (every kind the simulator has that a TCP line
can carry: not the RTU frame faults) begins on a random unit, for 10 s to 10 min
(log-uniform); about once an hour a user changes a zone's mode or setpoint over MQTT. Watched
independently of the controller:
- every ODU command the unit receives, against the interlocks (docs/architecture.md, 'Layered
  safety'): frequency 0 or within the unit's range, minimum on and off time, heat↔cool only
  through stop + wait, at most `max_starts_per_hour` starts per calendar hour;
- every unit back under control (available on MQTT, written to, heartbeat kept) within
  `RECOVERY_CYCLES` of the controller's cycles after its last fault ended;
- zone-minutes unavailable, as the controller publishes its zones' availability;
- the controller's RSS, that it never exits, and what its log says.
Prints a summary; exits 1 on any violation. `tests/integration/test_soak.py` runs the same
code for two simulated hours."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import random
import signal
import statistics
import sys
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from minisplit.controller.config import Strategy
from minisplit.controller.core.interlocks import InterlockLimits
from minisplit.controller.tuning import control_tuning, setpoint_tuning
from minisplit.drivers.profile import Table
from minisplit.drivers.records import OduCommand
from minisplit.hil.broker import free_port
from minisplit.hil.faults import FRAME_KINDS, ODU_TARGET, Fault, FaultKind
from minisplit.hil.heatpump import SERVED_HEAD_MODES
from minisplit.hil.modbus_units import IndoorHead, OutdoorUnit
from minisplit.hil.register_map import ModbusUnit, RegisterAccessError
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import Mosquitto
from minisplit.testing.processes import (
    BASE,
    ControllerProcess,
    broker_in_temporary_directory,
    controller_config,
)
from tests.soak_heads import SetpointWatch

PERIOD_S = 10.0  # the controller's period, simulated seconds
RECOVERY_CYCLES = 6  # a unit is back under control within this many cycles of its fault's end
RECOVERY_LIMIT_S = 600.0  # and within this many simulated seconds, however slow the cycles
FAULT_MIN_S, FAULT_MAX_S = 10.0, 600.0
USER_CHANGES_PER_HOUR = 1.0
RSS_SAMPLE_S = 600.0  # simulated
RSS_WARM_S = 3600.0  # RSS "flat": the end compared with the first sample after this long
RSS_GROWTH_ALLOWED_KIB = 4096
STEP_S = 2.0  # simulated seconds between the watcher's looks (at least 10 ms wall)
START_TIMEOUT_S = 30.0  # wall
# A fault of these kinds may cost the controller its link to the unit.
UNREACHABLE_KINDS = frozenset(
    {FaultKind.VANISH, FaultKind.NO_REPLY, FaultKind.EXCEPTION, FaultKind.SLOW}
)
HEAD_SENSORS = ("return_air_temperature", "coil_temperature")
ODU_SENSORS = ("outdoor_temperature", "outdoor_coil_temperature", "discharge_temperature")
OUT_OF_RANGE_C = (-99.0, 150.0, 600.0)
ALWAYS_HEATING = ("living", "bedroom")
# The shipped demo houses a soak can run (`--config`); every one has the zones above.
SOAK_CONFIGS = (
    "demo",
    "demo-intesis",
    "demo-gateway",
    "demo-two-systems",
)  # zones the user keeps in heat (the others may change)


# ---- the faults ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Injected:
    fault: Fault
    start_s: float
    end_s: float


class FaultPlan:
    """Random faults, about ``per_minute`` a simulated minute, and a log of what was injected."""

    def __init__(
        self,
        rng: random.Random,
        sim: Simulator,
        per_minute: float,
        slow_delay_s: float,
        odu_codes: Sequence[str],
    ) -> None:
        self._rng = rng
        self._sim = sim
        self._rate_per_s = per_minute / 60.0
        self._slow_delay_s = slow_delay_s
        self._odu_codes = tuple(odu_codes)
        # Frame faults need an RTU line; the soak's is Modbus TCP. A house without an outdoor
        # unit served has no unit faults or defrosts to inject, and heads behind interfaces
        # keep no heartbeat with the controller to lapse.
        self.targets = (*([ODU_TARGET] if sim.served_odu is not None else []), *sim.heads)
        self.heartbeat_targets = [t for t in self.targets if _keeps_heartbeat(sim, t)]
        absent = set(FRAME_KINDS)
        if sim.served_odu is None:
            absent |= {FaultKind.ODU_FAULT, FaultKind.DEFROST}
        if not self.heartbeat_targets:
            absent.add(FaultKind.HEARTBEAT_LAPSE)
        self.kinds = tuple(k for k in FaultKind if k not in absent)
        self.injected: list[Injected] = []
        self.next_at = math.inf

    def start(self, now: float) -> None:
        self.next_at = now + self._rng.expovariate(self._rate_per_s)

    def inject_due(self, now: float) -> list[Injected]:
        began = []
        while self.next_at <= now:
            fault = self._random_fault()
            self._sim.faults.add(fault)
            began.append(Injected(fault, now, now + fault.duration_s))
            self.next_at += self._rng.expovariate(self._rate_per_s)
        self.injected += began
        return began

    def overlapping(
        self, target: str, start_s: float, end_s: float, kinds: frozenset[FaultKind] | None = None
    ) -> bool:
        """Whether a fault on ``target`` (of ``kinds``) was active at some time in the span."""
        return any(
            i.fault.target == target
            and (kinds is None or i.fault.kind in kinds)
            and i.start_s <= end_s
            and i.end_s >= start_s
            for i in self.injected
        )

    def _random_fault(self) -> Fault:
        rng = self._rng
        kind = rng.choice(self.kinds)
        odu_only = kind in (FaultKind.ODU_FAULT, FaultKind.DEFROST)
        targets = self.heartbeat_targets if kind is FaultKind.HEARTBEAT_LAPSE else self.targets
        target = ODU_TARGET if odu_only else rng.choice(targets)
        unit = self._sim.odu if target == ODU_TARGET else self._sim.head(target)
        sensors = tuple(
            r
            for r in (ODU_SENSORS if target == ODU_TARGET else HEAD_SENSORS)
            if r in unit.profile.registers  # an interface may read only the return air
        )
        duration = math.exp(rng.uniform(math.log(FAULT_MIN_S), math.log(FAULT_MAX_S)))
        share = rng.uniform(0.2, 1.0)
        match kind:
            case FaultKind.NO_REPLY:
                return Fault(kind, target, duration_s=duration, probability=share)
            case FaultKind.EXCEPTION:
                code = rng.choice((4, 6))
                return Fault(kind, target, duration_s=duration, code=code, probability=share)
            case FaultKind.SLOW:
                delay = self._slow_delay_s * rng.uniform(0.5, 1.5)
                return Fault(kind, target, duration_s=duration, delay_s=delay, probability=share)
            case FaultKind.STUCK_SENSOR:
                return Fault(kind, target, duration_s=duration, register=rng.choice(sensors))
            case FaultKind.SENSOR_BROKEN:
                # A broken sensor reads the sentinel: only where the register has one (a
                # CoolMasterNet's has none; its sensor then sticks instead).
                marked = [r for r in sensors if unit.profile[r].invalid is not None]
                if not marked:
                    kind = FaultKind.STUCK_SENSOR
                register = rng.choice(marked or sensors)
                return Fault(kind, target, duration_s=duration, register=register)
            case FaultKind.SENSOR_VALUE:
                register = rng.choice(sensors)
                # The sentinel only where the register has one (a CoolMasterNet's has none).
                sentinel = (None,) if unit.profile[register].invalid is not None else ()
                value = rng.choice((*sentinel, *OUT_OF_RANGE_C))
                return Fault(kind, target, duration_s=duration, register=register, value=value)
            case FaultKind.ODU_FAULT:
                label = rng.choice(self._odu_codes)
                return Fault(kind, target, duration_s=duration, code=label)
            case _:  # vanish, defrost, heartbeat lapse: nothing more to choose
                return Fault(kind, target, duration_s=duration)


def _keeps_heartbeat(sim: Simulator, target: str) -> bool:
    unit = sim.odu if target == ODU_TARGET else sim.head(target)
    return unit.firmware.watchdog.timeout_s > 0


# ---- the interlocks, from the unit's side --------------------------------------------------


@dataclass
class CompressorWatch:
    """Every command the outdoor unit receives, checked against the interlocks on the unit's
    clock. A stop before the minimum on time is excused when the controller had no choice: the
    unit had stopped by itself, the controller had lost the unit, or every head of the run was
    faulty or off. The off time runs from the commanded stop, or from when the unit stopped a
    commanded run by itself if that came first. Times can differ from the controller's own by
    the write's latency, hence ``tolerance_s``."""

    limits: InterlockLimits
    min_hz: float
    max_hz: float
    max_starts_per_hour: int
    tolerance_s: float
    commands: int = 0
    starts: int = 0
    running: bool = False
    mode: str = "off"  # the mode of the current or last commanded run
    started_at: float = -math.inf
    stopped_at: float | None = None  # when the compressor last stopped (commanded or by itself)
    # Whether the controller had lost the unit during the run that the last stop ended.
    lost_contact: Callable[[float, float], bool] = lambda _start, _end: False
    stop_on_reconnect: bool = False
    starts_by_hour: Counter[int] = field(default_factory=Counter)
    shortest_on_s: float = math.inf
    shortest_off_s: float = math.inf
    excused_stops: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    recent: deque[tuple[float, OduCommand]] = field(default_factory=lambda: deque(maxlen=20))

    def command(
        self,
        cmd: OduCommand,
        now: float,
        controller_now: float,
        unit_stopped_at: float | None,
        excuse: Callable[[float], str | None],
    ) -> None:
        """``unit_stopped_at``: when the unit stopped its compressor, None while it runs;
        ``excuse(started_at)`` says why an early stop could not be helped, or None."""
        self.commands += 1
        self.recent.append((now, cmd))
        at = f"t={now:.0f} s: {cmd}"
        hz = cmd.frequency_hz
        if hz != 0 and not self.min_hz <= hz <= self.max_hz:
            self.violations.append(f"{at}: frequency outside 0 or {self.min_hz}..{self.max_hz}")
        if cmd.mode == "off" and hz != 0:
            self.violations.append(f"{at}: mode off with a frequency")
        runs = cmd.mode != "off" and hz > 0
        if self.running and runs and cmd.mode != self.mode:
            self.violations.append(f"{at}: mode change {self.mode} -> {cmd.mode} while running")
        elif self.running and not runs:
            self._stop(now, unit_stopped_at, excuse, at)
        elif not self.running and runs:
            self._start(cmd.mode, now, controller_now, at)
        self.running = runs

    def _stop(
        self,
        now: float,
        unit_stopped_at: float | None,
        excuse: Callable[[float], str | None],
        at: str,
    ) -> None:
        on_for = now - self.started_at
        # The compressor may have stopped by itself before the command (fault, no head open).
        self.stopped_at = now if unit_stopped_at is None else min(now, unit_stopped_at)
        self.stop_on_reconnect = self.lost_contact(self.started_at, now)
        if on_for >= self.limits.min_on_s - self.tolerance_s:
            self.shortest_on_s = min(self.shortest_on_s, on_for)
            return
        reason = "stopped by itself" if unit_stopped_at is not None else excuse(self.started_at)
        if reason is None:
            self.violations.append(f"{at}: stop after {on_for:.0f} s of running")
        else:
            self.excused_stops[reason] += 1

    def _start(self, mode: str, now: float, controller_now: float, at: str) -> None:
        if self.stopped_at is not None:
            off_for = now - self.stopped_at
            wait = self.limits.min_off_s
            if mode != self.mode:
                wait = max(wait, self.limits.mode_change_wait_s)
            self.shortest_off_s = min(self.shortest_off_s, off_for)
            if off_for < wait - self.tolerance_s:
                self.violations.append(
                    f"{at}: start {off_for:.0f} s after a stop (after {self.mode}: {wait:.0f} s)"
                    + (" sent once the unit answered again" if self.stop_on_reconnect else "")
                )
        hour = int(controller_now // 3600)
        self.starts_by_hour[hour] += 1
        if self.starts_by_hour[hour] == self.max_starts_per_hour + 1:
            self.violations.append(f"{at}: more than {self.max_starts_per_hour} starts in hour")
        self.starts += 1
        self.mode = mode
        self.started_at = now


# ---- what the controller says over MQTT ----------------------------------------------------


@dataclass
class ControllerView:
    """The controller's published view: its status, each zone's and the unit's availability
    (with the time spent unavailable), and the zones' states."""

    clock: Callable[[], float]
    online: bool = False
    available: dict[str, bool] = field(default_factory=dict)
    counted_to: dict[str, float] = field(default_factory=dict)
    unavailable_s: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    went_offline: list[tuple[str, float]] = field(default_factory=list)
    zone_states: dict[str, dict[str, object]] = field(default_factory=dict)
    errors: list[bytes] = field(default_factory=list)
    counting_from: float = math.inf
    # The watched outdoor unit's state topic (under a system's name where there are several).
    unit_topic: list[str] = field(default_factory=lambda: ["unit", "state"])

    def handle(self, topic: str, payload: bytes) -> None:
        parts = topic.removeprefix(f"{BASE}/").split("/")
        if parts == ["status"]:
            self.online = payload == b"online"
        elif parts == ["error"]:
            self.errors.append(payload)
        elif parts == self.unit_topic:
            self._set(ODU_TARGET, bool(json.loads(payload)["available"]))
        elif len(parts) == 3 and parts[0] == "zone" and parts[2] == "availability":
            self._set(parts[1], payload == b"online")
        elif len(parts) == 3 and parts[0] == "zone" and parts[2] == "state":
            self.zone_states[parts[1]] = json.loads(payload)

    def _set(self, target: str, available: bool) -> None:
        now = self.clock()
        before = self.available.get(target)
        if before is False and now > self.counting_from:
            self.unavailable_s[target] += now - max(self.counted_to[target], self.counting_from)
        if before is True and not available and now >= self.counting_from:
            self.went_offline.append((target, now))
        self.counted_to[target] = now
        self.available[target] = available

    def close(self) -> None:
        """Count the unavailability still running."""
        for target, available in self.available.items():
            if not available:
                self._set(target, False)


# ---- recovery after faults -----------------------------------------------------------------


@dataclass
class RecoveryWatch:
    """Each unit, once its last fault has ended, must be back under control within
    ``limit_cycles`` of the controller's cycles (counted by its status polls: every cycle
    polls every unit it can reach once) and ``limit_s`` simulated seconds."""

    limit_cycles: int
    limit_s: float
    # target -> when its faults ended, which kinds they were, the poll counts then
    pending: dict[str, tuple[float, str, dict[str, int]]] = field(default_factory=dict)
    delays: list[tuple[float, int, str]] = field(default_factory=list)  # (s, cycles, what)
    interrupted: int = 0
    late: list[str] = field(default_factory=list)

    def fault_began(self, target: str) -> None:
        if self.pending.pop(target, None) is not None:
            self.interrupted += 1

    def faults_ended(self, target: str, at: float, kinds: str, polls: dict[str, int]) -> None:
        self.pending[target] = (at, kinds, dict(polls))

    def check(self, now: float, polls: dict[str, int], back: Callable[[str, float], bool]) -> None:
        for target, (ended, kinds, polls_then) in list(self.pending.items()):
            cycles = max(polls[unit] - polls_then[unit] for unit in polls)
            if back(target, ended):
                self.delays.append((now - ended, cycles, f"{target} after {kinds}"))
                del self.pending[target]
            elif cycles > self.limit_cycles or now - ended > self.limit_s:
                self.late.append(
                    f"t={ended:.0f} s: {target} not back under control {now - ended:.0f} s "
                    f"({cycles} cycles) after {kinds} ended"
                )
                del self.pending[target]


# ---- the run -------------------------------------------------------------------------------


@dataclass
class SoakReport:
    hours: float
    speed: float
    seed: int
    demo: str = "demo"
    wall_s: float = 0.0
    faults: Counter[str] = field(default_factory=Counter)
    zone_minutes_unavailable: float = 0.0
    odu_minutes_unavailable: float = 0.0
    offline_without_fault: list[str] = field(default_factory=list)
    interlocks: CompressorWatch | None = None
    setpoint_heads: SetpointWatch | None = None
    recoveries: RecoveryWatch | None = None
    rss_kib: list[tuple[float, int]] = field(default_factory=list)  # (simulated s, KiB)
    poll_intervals_s: list[float] = field(default_factory=list)
    user_changes: int = 0
    settings_lost: list[str] = field(default_factory=list)
    refused_writes: list[str] = field(default_factory=list)
    crash: str | None = None
    log_problems: list[str] = field(default_factory=list)
    mqtt_errors: int = 0

    def rss_growth_kib(self) -> int:
        """End RSS minus the first sample after the warm-up (or the start, on a short run)."""
        if not self.rss_kib:
            return 0
        warm = next((kib for at, kib in self.rss_kib if at >= RSS_WARM_S), self.rss_kib[0][1])
        return self.rss_kib[-1][1] - warm

    def violations(self) -> list[str]:
        found = [f"crash: {self.crash}"] if self.crash else []
        if self.interlocks is not None:
            found += [f"interlock: {v}" for v in self.interlocks.violations]
        if self.setpoint_heads is not None:
            found += [f"setpoint heads: {v}" for v in self.setpoint_heads.violations]
        if self.recoveries is not None:
            found += [f"recovery: {v}" for v in self.recoveries.late]
        found += [f"refused write: {w}" for w in self.refused_writes]
        found += [f"settings: {s}" for s in self.settings_lost]
        found += [f"log: {p}" for p in self.log_problems]
        if self.mqtt_errors:
            found.append(f"{self.mqtt_errors} commands rejected on {BASE}/error")
        if self.rss_growth_kib() > RSS_GROWTH_ALLOWED_KIB:
            found.append(f"memory: RSS grew {self.rss_growth_kib()} KiB after the warm-up")
        return found

    def summary(self) -> str:
        watch, rec = self.interlocks, self.recoveries
        lines = [
            f"soak: config/{self.demo}.toml, {self.hours:g} simulated h at {self.speed:g}x, "
            f"seed {self.seed}, "
            f"{self.wall_s:.0f} s wall",
            f"faults injected: {sum(self.faults.values())} ("
            + ", ".join(f"{k} {n}" for k, n in sorted(self.faults.items()))
            + ")",
            f"zone-minutes unavailable: {self.zone_minutes_unavailable:.1f} "
            f"(outdoor unit: {self.odu_minutes_unavailable:.1f} min); "
            f"went offline without a fault on it: {len(self.offline_without_fault)}",
        ]
        if watch is not None:
            on = f"{watch.shortest_on_s:.0f}" if watch.shortest_on_s < math.inf else "-"
            off = f"{watch.shortest_off_s:.0f}" if watch.shortest_off_s < math.inf else "-"
            most = max(watch.starts_by_hour.values(), default=0)
            excused = ", ".join(f"{r} {n}" for r, n in watch.excused_stops.items()) or "none"
            lines.append(
                f"ODU commands: {watch.commands}, starts {watch.starts} (at most {most} in an "
                f"hour), shortest run {on} s, shortest stop {off} s; early stops excused: "
                f"{excused}; interlock violations: {len(watch.violations)}"
            )
        if self.setpoint_heads is not None:
            lines.append(self.setpoint_heads.summary())
        if rec is not None:
            slowest = max(rec.delays, default=(0.0, 0, "-"))
            most = max((cycles for _, cycles, _ in rec.delays), default=0)
            lines.append(
                f"recoveries: {len(rec.delays)}, slowest {slowest[0]:.0f} s ({slowest[1]} "
                f"cycles: {slowest[2]}), most cycles {most}; interrupted by a new fault "
                f"{rec.interrupted}, late {len(rec.late)}, still pending at the end "
                f"{len(rec.pending)}"
            )
        if self.poll_intervals_s:
            intervals = sorted(self.poll_intervals_s)
            lines.append(
                f"control cycle (ODU polls): median {statistics.median(intervals):.1f} s, "
                f"99th percentile {intervals[int(0.99 * (len(intervals) - 1))]:.1f} s, "
                f"max {intervals[-1]:.1f} s (period {PERIOD_S:g} s)"
            )
        if self.rss_kib:
            peak = max(kib for _, kib in self.rss_kib)
            lines.append(
                f"controller RSS: start {self.rss_kib[0][1] / 1024:.1f} MiB, end "
                f"{self.rss_kib[-1][1] / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, growth "
                f"after warm-up {self.rss_growth_kib() / 1024:+.1f} MiB"
            )
        lines.append(
            f"user changes: {self.user_changes}, settings lost: {len(self.settings_lost)}; "
            f"controller crashed: {'yes' if self.crash else 'no'}"
        )
        violations = self.violations()
        lines.append(f"violations: {len(violations)}")
        lines += [f"  {v}" for v in violations[:50]]
        return "\n".join(lines)


def observe_writes(
    unit: IndoorHead | OutdoorUnit, on_write: Callable[[], None], on_refused: Callable[[str], None]
) -> None:
    """Hook the unit's Modbus writes (the controller's only way to command it)."""
    write_words = unit.write_words

    def observed(address: int, words: Sequence[int]) -> None:
        try:
            write_words(address, words)
        except RegisterAccessError as err:
            on_refused(f"unit {unit.unit_id}: holding {address} = {list(words)}: {err}")
            raise
        on_write()

    unit.write_words = observed  # type: ignore[method-assign]


def observe_polls(unit: ModbusUnit, register: str, on_poll: Callable[[], None]) -> None:
    """Hook the unit's reads that cover ``register`` (the controller's status poll)."""
    words = unit.words
    watched = unit.profile[register]

    def observed(table: Table, address: int, count: int) -> list[int]:
        result = words(table, address, count)
        if table is watched.table and address <= watched.address < address + count:
            on_poll()
        return result

    unit.words = observed  # type: ignore[method-assign]


class Soak:
    """One soak run: the simulator with its watchers, the broker client, the controller."""

    def __init__(
        self,
        directory: Path,
        broker: Mosquitto,
        *,
        hours: float,
        speed: float,
        seed: int,
        faults_per_minute: float = 1.0,
        bus_timeout_s: float = 0.1,
        demo: str = "demo",
    ) -> None:
        self.hours = hours
        self.speed = speed
        self.broker = broker
        self.rng = random.Random(seed)
        self.modbus_port = free_port()
        self.config, self.loaded = controller_config(
            directory,
            self.modbus_port,
            broker.port,
            period_s=PERIOD_S,
            bus_extra=f"timeout_s = {bus_timeout_s}\nretries = 1",
            demo=demo,
        )
        self.sim = Simulator(self.loaded, speed=speed)
        self.sim.faults.seed(seed)
        self.report = SoakReport(hours, speed, seed, demo)
        self.odu = self.sim.served_odu  # the (first) outdoor unit the controller reaches
        self.plan = FaultPlan(
            self.rng,
            self.sim,
            faults_per_minute,
            bus_timeout_s,
            odu_fault_codes(self.sim.served_odu),
        )
        tolerance_s = max(2.0, 0.1 * speed)
        self.watch: CompressorWatch | None = None
        if self.odu is not None:
            system = next(n for n, odu in self.sim.served_odus.items() if odu is self.odu)
            tuning = control_tuning(self.loaded, self.loaded.systems[system]).coordinator
            self.watch = CompressorWatch(
                tuning.limits,
                self.odu.ratings.min_hz,
                self.odu.ratings.max_hz,
                tuning.max_starts_per_hour,
                tolerance_s=tolerance_s,
                lost_contact=lambda start, end: self.plan.overlapping(
                    ODU_TARGET, start, end, UNREACHABLE_KINDS
                ),
            )
            # The heads that compressor serves (another system's have theirs).
            self.odu_heads = [z.id for z in self.loaded.systems[system].zones]
        self.user_changed_at: dict[str, float] = {}
        self.defrosted_at = -math.inf
        # The zones driven by their setpoints, and the loop's rules for them (one set per
        # house: the demo configs have at most one setpoint system).
        setpoint_systems = [
            s for s in self.loaded.systems.values() if s.strategy is Strategy.SETPOINT
        ]
        self.setpoint_zones = {z.id for s in setpoint_systems for z in s.zones}
        self.heads_watch: SetpointWatch | None = None
        if setpoint_systems:
            self.heads_watch = SetpointWatch(
                setpoint_tuning(self.loaded, setpoint_systems[0]),
                tolerance_s,
                lambda zone: self.user_changed_at.get(zone, -math.inf),
                lambda: self.defrosted_at,
                lambda zone, start, end: self.unreachable(zone, start, end, UNREACHABLE_KINDS),
            )
        self.recoveries = RecoveryWatch(RECOVERY_CYCLES, RECOVERY_LIMIT_S)
        # Each target's address mates, itself included: a line fault on a gateway's slave
        # address silences every head behind it.
        self.mates = {
            target: [t for t in self.plan.targets if self._unit_id(t) == self._unit_id(target)]
            for target in self.plan.targets
        }
        self.view = ControllerView(self.now)
        if len(self.loaded.systems) > 1 and self.watch is not None:
            self.view.unit_topic = ["unit", system, "state"]
        self.units: dict[str, IndoorHead | OutdoorUnit] = {
            **({ODU_TARGET: self.odu} if self.odu is not None else {}),
            **self.sim.heads,
        }
        self.written_at: dict[str, float] = {}
        self.polled_at: dict[str, float] = {}
        # target -> when its last fault ends, and the kinds of its faults since it had none
        self.active: dict[str, tuple[float, set[FaultKind]]] = {}
        self.last_command = self.odu.firmware.command if self.odu is not None else None
        self.last_poll: float | None = None
        # What the ODU served, to explain a violation: each status poll with whether the
        # compressor ran ("p1"/"p0"), each write with the frequency it left commanded ("w20").
        self.odu_timeline: deque[tuple[float, str]] = deque(maxlen=400)
        self.wanted: dict[str, tuple[str, float]] = {}  # zone -> (mode, target) the user set
        for target, unit in self.units.items():
            observe_writes(unit, self._written(target), self.report.refused_writes.append)
        self.polls = dict.fromkeys(self.units, 0)  # status polls per unit
        for target, unit in self.units.items():
            # Every poll reads the status word; an interface's heads, their power.
            polled = "status" if "status" in unit.profile.registers else "power"
            observe_polls(unit, polled, self._polled(target))
        self.process = ControllerProcess(self.config, "soak-controller")

    def _unit_id(self, target: str) -> int:
        return self.sim.odu.unit_id if target == ODU_TARGET else self.sim.head(target).unit_id

    def unreachable(
        self, target: str, start_s: float, end_s: float, kinds: frozenset[FaultKind] | None
    ) -> bool:
        """Whether a fault (of ``kinds``) on the target, or a line fault on an address mate,
        was active at some time in the span."""
        return self.plan.overlapping(target, start_s, end_s, kinds) or any(
            self.plan.overlapping(mate, start_s, end_s, UNREACHABLE_KINDS)
            for mate in self.mates[target]
            if mate != target
        )

    def now(self) -> float:
        """Simulated seconds, brought up to the loop's clock."""
        self.sim.outdoor_temperature()  # catches the physics (and the faults) up
        return self.sim.sim_time_s

    async def run(self) -> SoakReport:
        started = time.perf_counter()
        async with (
            self.sim.running(tcp=("127.0.0.1", self.modbus_port)),
            self.broker.client() as client,
        ):
            await client.subscribe(f"{BASE}/#", qos=1)
            follower = asyncio.create_task(self._follow(client))
            await self.process.start("--time-scale", f"{self.speed:g}")
            try:
                await self._start(client)
                await self._soak(client)
                await self._finish()
            finally:
                await self.process.stop()
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await follower
        self._read_log()
        self.report.wall_s = time.perf_counter() - started
        return self.report

    async def _follow(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            assert isinstance(message.payload, bytes)
            self.view.handle(message.topic.value, message.payload)

    async def _start(self, client: aiomqtt.Client) -> None:
        """The controller up with every unit, then every zone heating."""
        await self._wait(
            lambda: self.view.online and all(self.view.available.get(t) for t in self.units),
            "the controller online with every unit",
        )
        for zone in self.sim.heads:
            await self._set_zone(client, zone, "heat", 21.0 if zone != "bedroom" else 19.0)
        await self._wait(
            lambda: all(self._shows_wanted(zone) for zone in self.wanted), "every zone heating"
        )

    async def _wait(self, condition: Callable[[], bool], what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_TIMEOUT_S
        while not condition():
            if loop.time() > deadline or not self.process.running:
                raise RuntimeError(
                    f"no {what} within {START_TIMEOUT_S:g} s:\n{self.process.output()[-3000:]}"
                )
            await asyncio.sleep(0.05)

    async def _soak(self, client: aiomqtt.Client) -> None:
        t0 = self.now()
        end = t0 + self.hours * 3600.0
        self.view.counting_from = t0
        self.plan.start(t0)
        next_change = t0 + self.rng.expovariate(USER_CHANGES_PER_HOUR / 3600.0)
        next_rss = t0
        step_wall = max(0.01, STEP_S / self.speed)
        while (now := self.now()) < end:
            if not self.process.running:
                self.report.crash = f"the controller exited ({self.process.process.returncode})"  # type: ignore[union-attr]
                return
            for injected in self.plan.inject_due(now):
                fault = injected.fault
                for mate in self.mates[fault.target]:  # what it silences, it interrupts
                    self.recoveries.fault_began(mate)
                until, kinds = self.active.get(fault.target, (0.0, set()))
                self.active[fault.target] = (max(until, injected.end_s), kinds | {fault.kind})
                self.report.faults[str(fault.kind)] += 1
            for target, (until, kinds) in list(self.active.items()):
                if until <= now:
                    del self.active[target]
                    what = "+".join(sorted(kinds))
                    self.recoveries.faults_ended(target, until, what, self.polls)
            self.recoveries.check(now, self.polls, self._back)
            if any(house.odu.defrosting for house in self.sim.houses.values()):
                self.defrosted_at = now
            if now >= next_change:
                await self._user_change(client)
                next_change += self.rng.expovariate(USER_CHANGES_PER_HOUR / 3600.0)
            if now >= next_rss:
                self.report.rss_kib.append((now - t0, self.process.rss_kib()))
                next_rss += RSS_SAMPLE_S
            await asyncio.sleep(step_wall)

    async def _finish(self) -> None:
        """The last figures: availability to the end, pending recoveries, settings shown."""
        now = self.now()
        report = self.report
        self.view.close()
        zones = list(self.sim.heads)
        report.zone_minutes_unavailable = sum(self.view.unavailable_s[z] for z in zones) / 60
        if self.odu is not None:
            report.odu_minutes_unavailable = self.view.unavailable_s[ODU_TARGET] / 60
        for target, at in self.view.went_offline:
            if not self.unreachable(target, at - 2 * PERIOD_S, at, None):
                report.offline_without_fault.append(f"{target} at t={at:.0f} s")
        self.recoveries.check(now, self.polls, self._back)
        report.interlocks = self.watch
        report.setpoint_heads = self.heads_watch
        report.recoveries = self.recoveries
        if self.process.running:
            report.rss_kib.append((now - self.view.counting_from, self.process.rss_kib()))
        for zone, (mode, setpoint) in self.wanted.items():
            if not self._shows_wanted(zone):
                shown = self.view.zone_states.get(zone, {})
                report.settings_lost.append(
                    f"{zone}: set {mode} {setpoint}, shows {shown.get('mode')} "
                    f"{shown.get('target_temperature')}"
                )
        report.mqtt_errors = len(self.view.errors)

    def _read_log(self) -> None:
        for line in self.process.output().splitlines():
            if "Traceback" in line or "refused by the safety check" in line:
                self.report.log_problems.append(line.strip()[:200])
        code = self.process.process.returncode if self.process.process else None
        if code not in (0, -signal.SIGTERM):
            self.report.log_problems.append(f"the controller's exit code at SIGTERM was {code}")

    # ---- watchers ----

    def _written(self, target: str) -> Callable[[], None]:
        def written() -> None:
            now = self.sim.sim_time_s  # the server caught the physics up for this request
            self.written_at[target] = now
            if target in self.setpoint_zones and self.heads_watch is not None:
                self.heads_watch.written(target, self.sim.head(target), now)
            if target != ODU_TARGET or self.odu is None or self.watch is None:
                return
            firmware = self.odu.firmware
            command = firmware.command
            self.odu_timeline.append((now, f"w{command.frequency_hz:g}"))
            if command != self.last_command:
                self.last_command = command
                controller_now = asyncio.get_running_loop().time() * self.speed
                stopped_at = None if firmware.running else firmware.stopped_at
                violations = len(self.watch.violations)
                self.watch.command(command, now, controller_now, stopped_at, self._stop_excuse(now))
                if len(self.watch.violations) > violations:
                    self.watch.violations[-1] += self._odu_context(now)

        return written

    def _polled(self, target: str) -> Callable[[], None]:
        def polled() -> None:
            self.polls[target] += 1
            self.polled_at[target] = self.sim.sim_time_s
            if target == ODU_TARGET:
                self._odu_polled()

        return polled

    def _odu_polled(self) -> None:
        now = self.sim.sim_time_s
        last = self.last_poll
        # A poll cannot come through while the unit is unreachable: that gap is the fault's.
        if (
            last is not None
            and self.view.counting_from <= last
            and not self.plan.overlapping(ODU_TARGET, last, now, UNREACHABLE_KINDS)
        ):
            self.report.poll_intervals_s.append(now - last)
        self.last_poll = now
        assert self.odu is not None
        self.odu_timeline.append((now, f"p{int(self.odu.firmware.running)}"))

    def _stop_excuse(self, now: float) -> Callable[[float], str | None]:
        def excuse(started_at: float) -> str | None:
            assert self.watch is not None
            if self.watch.lost_contact(started_at, now):
                return "outdoor unit unreachable"
            served = SERVED_HEAD_MODES[self.watch.mode]  # type: ignore[index]
            heads = [
                zone
                for zone in self.odu_heads
                if (command := self.sim.head(zone).firmware.command).power
                and command.mode in served
            ]
            if not heads:
                return "no head in the mode"
            if all(self.plan.overlapping(z, now - 2 * PERIOD_S, now) for z in heads):
                return "every head faulty"
            return None

        return excuse

    def _odu_context(self, now: float) -> str:
        """The ODU's faults, commands and served requests (polls with what they showed,
        writes) of the last ten minutes, to explain a violation."""
        since = now - FAULT_MAX_S
        faults = [
            f"{i.fault.kind} {i.start_s - now:+.0f}..{i.end_s - now:+.0f} s"
            for i in self.plan.injected
            if i.fault.target == ODU_TARGET and i.end_s >= since
        ]
        commands = [
            f"{at - now:+.0f} s {cmd.mode} {cmd.frequency_hz:g} Hz"
            for at, cmd in (self.watch.recent if self.watch is not None else ())
            if at >= since
        ]
        served = [f"{at - now:+.0f} {what}" for at, what in self.odu_timeline if at >= since]
        return (
            f" [ODU faults: {', '.join(faults) or 'none'}; commands: {', '.join(commands)}; "
            f"served: {', '.join(served)}]"
        )

    def _back(self, target: str, since: float) -> bool:
        """Under control again: available on MQTT, written to since, heartbeat kept."""
        if target in self.setpoint_zones:
            # No heartbeat to keep, nothing to write where the setting holds: polled since,
            # and the head holds the setpoint the controller says it gave it.
            shown = self.view.zone_states.get(target, {}).get("head_setpoint")
            return (
                self.view.available.get(target) is True
                and self.polled_at.get(target, -math.inf) > since
                and shown == self.sim.head(target).value("display_setpoint")
            )
        return (
            self.view.available.get(target) is True
            and self.written_at.get(target, -math.inf) > since
            and not self.units[target].firmware.heartbeat_lost
        )

    # ---- the user ----

    async def _user_change(self, client: aiomqtt.Client) -> None:
        zone = self.rng.choice(list(self.sim.heads))
        target = 19.0 + 0.5 * self.rng.randrange(9)
        mode = "heat"
        if zone not in ALWAYS_HEATING:
            mode = self.rng.choice(("heat", "cool", "off"))
        await self._set_zone(client, zone, mode, target)
        self.report.user_changes += 1

    async def _set_zone(self, client: aiomqtt.Client, zone: str, mode: str, target: float) -> None:
        await client.publish(f"{BASE}/zone/{zone}/set/mode", mode.encode(), qos=1)
        await client.publish(f"{BASE}/zone/{zone}/set/temperature", f"{target:.1f}".encode(), qos=1)
        self.wanted[zone] = (mode, target)
        self.user_changed_at[zone] = self.now()

    def _shows_wanted(self, zone: str) -> bool:
        shown = self.view.zone_states.get(zone, {})
        mode, target = self.wanted[zone]
        return shown.get("mode") == mode and shown.get("target_temperature") == target


def odu_fault_codes(odu: OutdoorUnit | None) -> list[str]:
    """The fault codes the outdoor unit can raise that are not about a sensor (none where
    no outdoor unit is served)."""
    if odu is None:
        return []
    labels = odu.profile["fault_code"].enum.values()
    return [label for label in labels if label not in ("none", "outdoor_sensor")]


async def soak_with_broker(
    hours: float, speed: float, seed: int, faults_per_minute: float, demo: str = "demo"
) -> SoakReport:
    """A soak run with its own mosquitto and temporary directory (the command's way)."""
    with broker_in_temporary_directory("minisplit-soak-") as (directory, broker):
        soak = Soak(
            directory,
            broker,
            hours=hours,
            speed=speed,
            seed=seed,
            faults_per_minute=faults_per_minute,
            demo=demo,
        )
        return await soak.run()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="simulated hours")
    parser.add_argument("--speed", type=float, default=60.0, help="simulated seconds per second")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--faults-per-minute", type=float, default=1.0)
    parser.add_argument(
        "--config",
        default="demo",
        choices=SOAK_CONFIGS,
        help="the shipped demo house (config/NAME.toml): the reference unit, setpoint heads "
        "behind Intesis interfaces or a CoolMasterNet gateway, or a direct and a setpoint "
        "system together (default: %(default)s)",
    )
    args = parser.parse_args()
    if args.hours <= 0 or args.speed <= 0 or args.faults_per_minute <= 0:
        parser.error("--hours, --speed and --faults-per-minute must be positive")
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    try:
        report = asyncio.run(
            soak_with_broker(args.hours, args.speed, seed, args.faults_per_minute, args.config)
        )
    except RuntimeError as err:
        print(err, file=sys.stderr)
        return 2
    print(report.summary())
    return 1 if report.violations() else 0


if __name__ == "__main__":
    sys.exit(main())
