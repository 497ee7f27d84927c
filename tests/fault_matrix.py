"""The fault matrix: every simulator fault on Modbus TCP and on RTU (a socat pty pair), against
the real supervisor; one definition per case, run by tests/integration/test_fault_matrix.py and
printed as a markdown table by `python -m tests.fault_matrix`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import logging
import math
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from minisplit.controller.config import ControlConfig, LoadedConfig
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.core.transitions import SetTarget, Side
from minisplit.controller.service.commands import ZoneCommand
from minisplit.controller.service.state_report import AUTONOMOUS, UnitState, ZoneState
from minisplit.controller.service.supervisor import Supervisor
from minisplit.drivers.bus import BusScheduler, DeviceStats, scaled_timeout
from minisplit.hil.broker import free_port
from minisplit.hil.faults import FRAME_KINDS, ODU_TARGET, Fault, FaultKind
from minisplit.hil.firmware import DEFROST_MAX_S, RESTART_LOCKOUT_S
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import (
    put_settings,
    rtu_config,
    running,
    tcp_config,
    wait_until,
    with_heartbeat,
)
from tests.fixtures.serial_pty import start_pty_pair, stop_pty_pair

# 120 simulated seconds per wall second: a 10 s control period is 83 ms of wall time, so the
# 180 s restart lockout costs 1.5 s. The bus timeouts run at the same scale, down to a floor
# in wall seconds (drivers.bus.scaled_timeout), so every timeout costs more simulated time
# than it says.
SPEED = 120.0
BUS_TIMEOUT_S = 0.2  # configured, one retry
WAITED_S = scaled_timeout(BUS_TIMEOUT_S, SPEED)  # wall seconds the bus waits for a reply
BUS_RETRIES = 1
HEATED = {"living": 26.0, "bedroom": 24.0}  # targets far above the rooms: the compressor runs
PERIOD_S = ControlConfig().period_s  # the demo config keeps the default control period
# A reading unchanged through this much full-demand heating is stuck (controller.core.sensor_health;
# default 2 h): short enough to see within a case, still above what the heated rooms hold one
# 0.1 K value for while they warm.
STUCK_EVIDENCE_S = 600.0
HEARTBEAT_TIMEOUT_S = 600  # simulated s; see _matrix_config
# Recovery bounds, in control cycles: re-probe and re-apply; a compressor restart after the
# lockout (or the controller's own minimum off time, the same 180 s); a defrost at its longest.
QUICK_CYCLES = 3
RESTART_CYCLES = math.ceil(RESTART_LOCKOUT_S / PERIOD_S) + 5
DEFROST_CYCLES = math.ceil(DEFROST_MAX_S / PERIOD_S) + 3
# INFO and above from the controller and drivers while a fault lasts, however long: a change
# of state is worth a line (lost, offline, back online, answers), a repeated failure is not.
# A command on its way as the unit vanished fails too (a line of its own); none is sent
# after that until the unit answers again.
MAX_LOG_RECORDS = 7
SLOW_DELAY_S = 0.5 * WAITED_S  # wall seconds: near, but inside, the master's timeout
RETURN_AIR = "return_air_temperature"
LOGGERS = ("minisplit",)  # what a deployment logs (pymodbus is silenced by the CLI)
# Wall-second bounds for each stage of a case; generous, since the machine is shared.
START_WAIT_S = 30.0
EFFECT_WAIT_S = 15.0
HOLD_WAIT_S = 20.0
RECOVERY_WAIT_S = 30.0


class Transport(enum.StrEnum):
    TCP = "tcp"
    RTU = "rtu"


@dataclass
class System:
    """The simulated house and the real supervisor on one transport."""

    transport: Transport
    simulator: Simulator
    supervisor: Supervisor

    @property
    def bus(self) -> BusScheduler:
        return self.supervisor.buses["sim"]

    def now(self) -> float:
        """Simulated seconds (the supervisor's clock runs in step with the simulator's)."""
        return self.supervisor.now()

    def zone(self, zone_id: str) -> ZoneState:
        """The zone's state as published on MQTT."""
        return self.supervisor.zone_state(zone_id)

    def unit(self) -> UnitState:
        return self.supervisor.unit_state()

    def unit_id(self, target: str) -> int:
        if target == ODU_TARGET:
            return self.simulator.odu.unit_id
        return self.simulator.head(target).unit_id

    def compressor_running(self) -> bool:
        return bool(self.simulator.odu_register("compressor_frequency"))

    def heads_follow_the_controller(self) -> bool:
        """Every head holds what the controller last commanded (settings re-applied)."""
        output = self.supervisor.output
        if output is None:
            return False
        for zone_id, zone in output.zones.items():
            command, head = zone.head, self.simulator.head(zone_id)
            if bool(head.value("power")) != command.power:
                return False
            shown = head.value("display_setpoint")
            if shown is None or abs(shown - command.display_setpoint) > 0.05:
                return False
        return True

    def healthy(self) -> bool:
        """No fault anywhere: every unit answers, no fault field, heads as commanded."""
        supervisor, simulator = self.supervisor, self.simulator
        unit = self.unit()
        return (
            not simulator.faults.active
            and supervisor.odu.available
            and all(self.bus.is_online(uid) for uid in simulator.units)
            and all(
                self.zone(z)["available"] is True and self.zone(z)["fault"] is None
                for z in supervisor.heads
            )
            and unit["fault"] is None
            and not unit["defrost"]
            and not simulator.odu.firmware.heartbeat_lost
            and not any(h.firmware.heartbeat_lost for h in simulator.heads.values())
            and self.heads_follow_the_controller()
        )

    def ready(self) -> bool:
        """Healthy and at work: where each case starts."""
        return self.healthy() and self.compressor_running()

    def describe(self) -> str:
        """What the system looks like, for a failure message."""
        zones = {z: self.zone(z) for z in self.supervisor.heads}
        stats = {uid: self.bus.stats(uid) for uid in sorted(self.simulator.units)}
        return f"zones {zones}\nunit {self.unit()}\nbus {stats}"


@dataclass(frozen=True)
class Mark:
    """The moment a fault began: what later checks compare with."""

    time_s: float
    stats: dict[int, DeviceStats]
    # Each head's power and setpoint registers then: what a lost reading must not move.
    heads: dict[str, tuple[float | int | None, float | int | None]]

    @classmethod
    def of(cls, system: System) -> Mark:
        simulator = system.simulator
        return cls(
            system.now(),
            {u: system.bus.stats(u) for u in simulator.units},
            {
                z: (head.value("power"), head.value("display_setpoint"))
                for z, head in simulator.heads.items()
            },
        )


Check = Callable[[System, Mark], bool]


def _always(_system: System, _mark: Mark) -> bool:
    return True


def _all_of(*checks: Check) -> Check:
    return lambda system, mark: all(check(system, mark) for check in checks)


@dataclass(frozen=True)
class FaultCase:
    """One fault: what it does to the system, and what recovery means after it is cleared."""

    name: str
    fault: Fault
    outcome: str  # what should happen while it lasts, for the table
    effect: Check  # the expected behaviour is visible
    # Stays true for `hold_cycles` control cycles after the effect (None: the effect does).
    holds: Check | None = None
    hold_cycles: int = 3
    recovered: Check = _always  # besides `System.healthy`
    recovery_cycles: int = QUICK_CYCLES  # at most, from clearing the fault
    # Run once the effect is visible (e.g. the head loses its settings in a power cut).
    meanwhile: Callable[[System], None] | None = None
    needs_rtu: bool = False  # a frame fault: refused by a simulator without an RTU line

    @property
    def id(self) -> str:
        return self.name.replace(" ", "-")


@dataclass(frozen=True)
class CaseResult:
    case: FaultCase
    transport: Transport
    refused: str | None = None  # the simulator refused the fault on this transport: why
    effect_s: float = math.nan  # simulated seconds from injection to the expected behaviour
    recovery_s: float = math.nan  # simulated seconds from clearing to healthy again
    recovery_cycles: int = 0
    log_records: int = 0  # INFO and above from the controller and drivers, inject to recovery
    log_errors: int = 0  # of which ERROR and above


# ---- the cases ----------------------------------------------------------------------------


def _unavailable(zone_id: str) -> Check:
    return lambda s, _m: s.zone(zone_id)["available"] is False


def _online(target: str) -> Check:
    """The bus counts the unit as answering (an exception reply is an answer)."""
    return lambda s, _m: s.bus.is_online(s.unit_id(target))


def _others_available(zone_id: str) -> Check:
    return lambda s, _m: (
        all(z.available for name, z in s.supervisor.heads.items() if name != zone_id)
        and bool(s.supervisor.odu.available)
    )


def _timeouts_grew(target: str, at_least: int) -> Check:
    def check(system: System, mark: Mark) -> bool:
        uid = system.unit_id(target)
        return system.bus.stats(uid).timeouts - mark.stats[uid].timeouts >= at_least

    return check


def _power_cut_and_new_target(zone_id: str, target: float) -> Callable[[System], None]:
    """While the head is away it loses its settings (a power cut) and the user sets a new
    target: on its return the controller must apply both."""

    def meanwhile(system: System) -> None:
        system.simulator.head(zone_id).write("power", 0)
        system.supervisor.on_command(ZoneCommand(zone_id, SetTarget(Side.TARGET, target)))

    return meanwhile


def _shows_target(zone_id: str, target: float) -> Check:
    return lambda s, _m: s.simulator.head_register(zone_id, "display_setpoint") == target


def _odu_lost(system: System, _mark: Mark) -> bool:
    # The heads are told to ask for no refrigerant, and the zones say why.
    return (
        not system.supervisor.odu.available
        and "ODU offline" in system.supervisor.status_line()
        and all(system.zone(z)["fault"] == "odu_comms" for z in HEATED)
        and all(system.zone(z)["action"] == "idle" for z in HEATED)
        and all(system.simulator.head_register(z, "capacity_request") == 0 for z in HEATED)
    )


def _compressor_back(system: System, _mark: Mark) -> bool:
    return system.compressor_running()


def _exception_replies_grew(target: str) -> Check:
    def check(system: System, mark: Mark) -> bool:
        uid = system.unit_id(target)
        return system.bus.stats(uid).exception_replies > mark.stats[uid].exception_replies

    return check


def _slow_but_answering(system: System, mark: Mark) -> bool:
    stats = system.bus.stats(system.unit_id("living"))
    latency = stats.last_latency_s or 0.0
    return (
        latency >= SLOW_DELAY_S
        and stats.timeouts == mark.stats[system.unit_id("living")].timeouts
        and system.zone("living")["available"] is True
    )


def _reads_current(zone_id: str) -> Check:
    """The zone's temperature is the head's live reading again."""

    def check(system: System, _mark: Mark) -> bool:
        reported = system.zone(zone_id)["current_temperature"]
        live = system.simulator.head(zone_id).firmware.sensor_c
        return isinstance(reported, float) and abs(reported - live) <= 0.15

    return check


def _no_reading(zone_id: str) -> Check:
    """The zone has no temperature it believes: no demand, no refrigerant asked for."""
    return lambda s, _m: (
        s.zone(zone_id)["current_temperature"] is None
        and s.zone(zone_id)["demand"] == 0
        and s.simulator.head_register(zone_id, "capacity_request") == 0
    )


def _sensor_fault(zone_id: str, name: str) -> Check:
    """The zone's fault field names ``name``, and the zone does not act on the reading."""
    no_reading = _no_reading(zone_id)
    return lambda s, m: name in str(s.zone(zone_id)["fault"]).split(", ") and no_reading(s, m)


def _odu_fault(system: System, _mark: Mark) -> bool:
    return system.unit()["fault"] == "high_pressure" and not system.compressor_running()


def _defrosting(system: System, _mark: Mark) -> bool:
    return system.unit()["defrost"] is True and all(
        system.zone(z)["action"] == "defrosting" for z in HEATED
    )


def _heating_again(system: System, _mark: Mark) -> bool:
    return all(system.zone(z)["action"] == "heating" for z in HEATED)


def _autonomous(target: str) -> Check:
    def check(system: System, _mark: Mark) -> bool:
        simulator = system.simulator
        unit = simulator.odu if target == ODU_TARGET else simulator.head(target)
        supervisor = system.supervisor
        shown = supervisor.unit_state() if target == ODU_TARGET else system.zone(target)
        return (
            bool(unit.firmware.heartbeat_lost)
            and supervisor.odu.available
            and shown["fault"] == AUTONOMOUS
        )

    return check


def _all_available(system: System, _mark: Mark) -> bool:
    return all(z.available for z in system.supervisor.heads.values())


def _sensor_case(name: str, fault: Fault, flagged: str, why: str) -> FaultCase:
    """A room-sensor fault: flagged in the zone's fault field, not acted on; the zone's
    temperature is the live reading again once it is over."""
    zone_id = fault.target
    return FaultCase(
        name,
        fault,
        f"fault {flagged} ({why}); no temperature, no heat asked for",
        effect=_sensor_fault(zone_id, flagged),
        recovered=_reads_current(zone_id),
    )


# The living head's return air reads a value no room has: (name, fault, flagged, why).
SENSOR_VALUES = (
    (
        "out-of-range sensor",
        Fault(FaultKind.SENSOR_VALUE, "living", register=RETURN_AIR, value=150.0),
        "sensor_head_out_of_range",
        "150 °C read",
    ),
    (
        "sentinel sensor",
        Fault(FaultKind.SENSOR_VALUE, "living", register=RETURN_AIR),
        "sensor_head_missing",
        "0x8000 read",
    ),
)


def no_reply_case(outcome: str, holds: Check) -> FaultCase:
    """Half the bedroom head's requests unanswered: timeouts counted, ``holds`` meanwhile."""
    fault = Fault(FaultKind.NO_REPLY, "bedroom", probability=0.5)
    return FaultCase("no reply", fault, outcome, effect=_timeouts_grew("bedroom", 3), holds=holds)


CASES: tuple[FaultCase, ...] = (
    no_reply_case(
        "timeouts counted; the retry absorbs most; the zone drops out for a cycle at worst",
        _others_available("bedroom"),
    ),
    FaultCase(
        "head vanishes",
        Fault(FaultKind.VANISH, "bedroom"),
        "zone unavailable, the others keep cycling; settings re-applied on return",
        effect=_unavailable("bedroom"),
        holds=_others_available("bedroom"),
        hold_cycles=5,
        meanwhile=_power_cut_and_new_target("bedroom", 23.5),
        recovered=_shows_target("bedroom", 23.5),
    ),
    FaultCase(
        "odu vanishes",
        Fault(FaultKind.VANISH, ODU_TARGET),
        "ODU unavailable; heads ask for no refrigerant, zones fault odu_comms",
        effect=_odu_lost,
        holds=_all_available,
        recovered=_compressor_back,
        recovery_cycles=RESTART_CYCLES,
    ),
    FaultCase(
        "device failure 0x04",
        Fault(FaultKind.EXCEPTION, "living", code=0x04),
        "zone unavailable (every poll refused); the unit stays online on the bus",
        effect=_all_of(_unavailable("living"), _exception_replies_grew("living")),
        holds=_all_of(_online("living"), _others_available("living")),
    ),
    FaultCase(
        "odu busy 0x06",
        Fault(FaultKind.EXCEPTION, ODU_TARGET, code=0x06),
        "ODU unavailable (busy); heads ask for no refrigerant, zones fault odu_comms",
        effect=_all_of(_odu_lost, _exception_replies_grew(ODU_TARGET)),
        holds=_all_available,
        recovered=_compressor_back,
        recovery_cycles=RESTART_CYCLES,
    ),
    FaultCase(
        "slow replies",
        Fault(FaultKind.SLOW, "living", delay_s=SLOW_DELAY_S),
        f"replies {SLOW_DELAY_S:g} s late (timeout {WAITED_S:g} s): all zones stay available",
        effect=_slow_but_answering,
    ),
    _sensor_case(
        "stuck sensor",
        Fault(FaultKind.STUCK_SENSOR, "living", register=RETURN_AIR),
        "sensor_head_stuck",
        f"after {STUCK_EVIDENCE_S:g} s of full demand without a change",
    ),
    *(_sensor_case(*value) for value in SENSOR_VALUES),
    _sensor_case(
        "broken sensor",
        Fault(FaultKind.SENSOR_BROKEN, "living", register=RETURN_AIR),
        "return_air_sensor",
        "the head's own fault code",
    ),
    FaultCase(
        "odu fault",
        Fault(FaultKind.ODU_FAULT, ODU_TARGET, code="high_pressure"),
        "unit fault high_pressure, compressor stopped; restarts after the 180 s lockout",
        effect=_odu_fault,
        recovered=_compressor_back,
        recovery_cycles=RESTART_CYCLES,
    ),
    FaultCase(
        "forced defrost",
        Fault(FaultKind.DEFROST, ODU_TARGET),
        "unit defrost, heating zones' action defrosting; heating resumes after it",
        effect=_defrosting,
        hold_cycles=1,
        recovered=_heating_again,
        recovery_cycles=DEFROST_CYCLES,
    ),
    FaultCase(
        "head heartbeat lapses",
        Fault(FaultKind.HEARTBEAT_LAPSE, "bedroom"),
        "the head runs autonomously (status b6), its fault says so; the zone stays available",
        effect=_autonomous("bedroom"),
        holds=_all_of(_autonomous("bedroom"), _all_available),
    ),
    FaultCase(
        "odu heartbeat lapses",
        Fault(FaultKind.HEARTBEAT_LAPSE, ODU_TARGET),
        "the ODU runs autonomously (status b6), its fault says so; all stay available",
        effect=_autonomous(ODU_TARGET),
        holds=_all_of(_autonomous(ODU_TARGET), _all_available),
        recovered=_compressor_back,
    ),
    FaultCase(
        "bad crc",
        Fault(FaultKind.BAD_CRC, "bedroom"),
        "replies dropped by the master (timeouts): zone unavailable, the others keep cycling",
        effect=_all_of(_unavailable("bedroom"), _timeouts_grew("bedroom", 2)),
        holds=_others_available("bedroom"),
        needs_rtu=True,
    ),
    FaultCase(
        "line noise",
        Fault(FaultKind.GARBAGE, "bedroom", noise_bytes=8),
        "noise before every reply loses it (timeouts): zone unavailable, the others cycle",
        effect=_all_of(_unavailable("bedroom"), _timeouts_grew("bedroom", 2)),
        holds=_others_available("bedroom"),
        needs_rtu=True,
    ),
)
assert {case.fault.kind for case in CASES} == set(FaultKind), "a fault kind has no case"
assert all(case.needs_rtu == (case.fault.kind in FRAME_KINDS) for case in CASES)


# ---- running a case -------------------------------------------------------------------------


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self.errors = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        self.errors += record.levelno >= logging.ERROR


@contextlib.contextmanager
def counting_logs() -> Iterator[_Counter]:
    """Count what the controller and the drivers log at INFO and above meanwhile."""
    counter = _Counter()
    loggers = [logging.getLogger(name) for name in LOGGERS]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(counter)
        logger.setLevel(logging.INFO)
    try:
        yield counter
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(counter)
            logger.setLevel(level)


async def _wait(
    system: System, condition: Callable[[], object], timeout_s: float, what: str
) -> None:
    try:
        await wait_until(condition, timeout_s, what)
    except AssertionError as err:
        raise AssertionError(f"{system.transport}: {err}\n{system.describe()}") from None


async def _wait_cycles(system: System, cycles: int, check: Callable[[], bool], what: str) -> None:
    """Let ``cycles`` control cycles pass, ``check`` holding after each one."""
    supervisor = system.supervisor
    until = supervisor.cycles + cycles
    async with asyncio.timeout(HOLD_WAIT_S):
        while supervisor.cycles < until:
            await supervisor.cycle_done.wait()
            if not check():
                raise AssertionError(
                    f"{system.transport}: {what} no longer holds after cycle "
                    f"{supervisor.cycles}\n{system.describe()}"
                )


async def run_case(system: System, case: FaultCase) -> CaseResult:
    """Inject the case's fault into a healthy system, check what it does, clear it and time the
    recovery. Raises AssertionError (with the system's state) where the behaviour differs."""
    simulator = system.simulator
    await _wait(system, system.ready, START_WAIT_S, "a healthy system at work")
    with counting_logs() as logs:
        mark = Mark.of(system)
        try:
            simulator.faults.add(case.fault)
        except ValueError as err:
            if case.needs_rtu and system.transport is Transport.TCP:
                return CaseResult(case, system.transport, refused=str(err))
            raise
        try:
            if case.needs_rtu and system.transport is Transport.TCP:
                raise AssertionError(f"{case.name}: accepted on a TCP-only simulator")
            await _wait(
                system, lambda: case.effect(system, mark), EFFECT_WAIT_S, f"{case.name}: effect"
            )
            effect_s = system.now() - mark.time_s
            if case.meanwhile is not None:
                case.meanwhile(system)
            holds = case.holds or case.effect
            await _wait_cycles(system, case.hold_cycles, lambda: holds(system, mark), case.name)
            simulator.faults.clear()
            cleared_at, cleared_cycles = system.now(), system.supervisor.cycles
            await _wait(
                system,
                lambda: system.healthy() and case.recovered(system, mark),
                RECOVERY_WAIT_S,
                f"{case.name}: recovery",
            )
            recovery_s = system.now() - cleared_at
            recovery_cycles = system.supervisor.cycles - cleared_cycles
        finally:
            simulator.faults.clear()
    return CaseResult(
        case,
        system.transport,
        effect_s=effect_s,
        recovery_s=recovery_s,
        recovery_cycles=recovery_cycles,
        log_records=logs.count,
        log_errors=logs.errors,
    )


def assert_result(system: System, case: FaultCase, result: CaseResult, log_bound: int) -> None:
    """A case's result as the tests want it: refused on TCP where it needs an RTU line, else
    recovered within its cycles, with at most ``log_bound`` lines logged and no error."""
    if case.needs_rtu and system.transport is Transport.TCP:
        assert result.refused is not None and "frame faults need an RTU line" in result.refused
        return
    assert result.refused is None
    assert result.recovery_cycles <= case.recovery_cycles, result
    assert result.log_records <= log_bound, result
    assert result.log_errors == 0, result


# ---- the system under test ------------------------------------------------------------------


def _matrix_config(loaded: LoadedConfig) -> LoadedConfig:
    """Short bus timeouts (a silent unit fails a request in ~0.2 s wall), a short stuck check,
    and a long heartbeat: bus timeouts have a floor in wall seconds, so at 120x a cycle with a
    few of them spans most of a minute of simulated time and could lapse a 60 s heartbeat, an
    artefact of the compressed clock (the heartbeat cases lapse it by injection). A house
    without an outdoor unit (setpoint heads) keeps no heartbeat."""
    config = loaded.config
    bus = config.buses["sim"].model_copy(
        update={"timeout_s": BUS_TIMEOUT_S, "retries": BUS_RETRIES}
    )
    check = config.sensor_check.model_copy(update={"stuck_full_demand_s": STUCK_EVIDENCE_S})
    loaded.config = config.model_copy(
        update={"buses": {**config.buses, "sim": bus}, "sensor_check": check}
    )
    return with_heartbeat(loaded, HEARTBEAT_TIMEOUT_S)


@contextlib.asynccontextmanager
async def running_system(
    transport: Transport,
    directory: Path,
    demo: str = "demo",
    kind: Callable[[Transport, Simulator, Supervisor], System] = System,
) -> AsyncIterator[System]:
    """A shipped demo house (config/DEMO.toml) on ``transport``, the supervisor heating two
    rooms (the compressor on, in the reference house); ``kind`` makes the `System`."""
    state_file = directory / f"{demo}-{transport}-state.json"
    socat = None
    if transport is Transport.TCP:
        port = free_port()
        loaded = _matrix_config(tcp_config(port, state_file, demo=demo))
        endpoint: dict[str, object] = {"tcp": ("127.0.0.1", port)}
    else:
        socat, controller_end, simulator_end = start_pty_pair(directory)
        loaded = _matrix_config(rtu_config(controller_end, state_file, demo=demo))
        endpoint = {"serial": simulator_end, "parity": "N"}  # a pty refuses parity
    try:
        simulator = Simulator(loaded, speed=SPEED)
        async with (
            simulator.running(**endpoint),  # type: ignore[arg-type]
            running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
        ):
            for zone_id, target in HEATED.items():
                settings = supervisor.settings.zones[zone_id]
                heated = replace(settings, mode=ZoneMode.HEAT, target_temperature=target)
                put_settings(supervisor, zone_id, heated)
            yield kind(transport, simulator, supervisor)
    finally:
        if socat is not None:
            stop_pty_pair(socat)


# ---- the table ------------------------------------------------------------------------------


@dataclass
class Matrix:
    results: list[CaseResult] = field(default_factory=list)

    def markdown(self) -> str:
        """Fault × transport → outcome, with the time to see it and to recover, and what was
        logged meanwhile (INFO and above)."""
        transports = list(Transport)
        lines = [
            "| fault (target) | expected outcome | "
            + " | ".join(f"{t.upper()}" for t in transports)
            + " | log records |",
            "|---" * (len(transports) + 3) + "|",
        ]
        for case in CASES:
            results = [self._result(case, transport) for transport in transports]
            logs = " / ".join(
                "–" if r is None or r.refused else str(r.log_records) for r in results
            )
            lines.append(
                f"| {case.name} ({case.fault.target}) | {case.outcome} | "
                + " | ".join(_cell(r) for r in results)
                + f" | {logs} |"
            )
        return "\n".join(lines)

    def _result(self, case: FaultCase, transport: Transport) -> CaseResult | None:
        return next((r for r in self.results if r.case is case and r.transport is transport), None)


def _cell(result: CaseResult | None) -> str:
    if result is None:
        return "not run"
    if result.refused is not None:
        return "refused (no CRC on TCP)"
    return (
        f"ok; seen in {result.effect_s:.0f} s; recovered in {result.recovery_s:.0f} s "
        f"/ {result.recovery_cycles} cycles"
    )


async def run_matrix(transports: list[Transport]) -> Matrix:
    matrix = Matrix()
    with tempfile.TemporaryDirectory() as directory:
        for transport in transports:
            async with running_system(transport, Path(directory)) as system:
                for case in CASES:
                    matrix.results.append(await run_case(system, case))
    return matrix


def _transport(name: str) -> Transport:
    try:
        return Transport(name)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{name!r} is not tcp or rtu") from None


def main(argv: list[str]) -> int:
    """`python -m tests.fault_matrix [tcp] [rtu]`: both transports unless named."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.fault_matrix",
        description="Every simulator fault against the real supervisor, as a markdown table.",
    )
    # A type, not choices: Python 3.11's argparse refuses an empty list of choices for nargs="*".
    parser.add_argument("transports", nargs="*", type=_transport, metavar="tcp|rtu")
    transports = parser.parse_args(argv).transports or list(Transport)
    if Transport.RTU in transports and shutil.which("socat") is None:
        print("socat is not installed: the RTU column is not run", file=sys.stderr)
        transports.remove(Transport.RTU)
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    matrix = asyncio.run(run_matrix(transports))
    print(
        f"Times in simulated seconds at {SPEED:g}× (control period {PERIOD_S:g} s; bus timeout "
        f"{WAITED_S:g} s wall = {WAITED_S * SPEED:g} s simulated, {BUS_RETRIES} retry); "
        f"log records: {' / '.join(t.upper() for t in Transport)}\n"
    )
    print(matrix.markdown())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
