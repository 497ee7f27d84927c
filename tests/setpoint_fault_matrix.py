"""The fault matrix on setpoint-driven heads (issue 13): the shipped demo houses whose heads sit
behind Modbus interfaces (config/demo-gateway.toml, four heads behind one CoolMasterNet slave
address; config/demo-intesis.toml, a unit id per head and the external temperature written),
against the real supervisor, with the cases of tests/fault_matrix.py that such a house can
meet. No outdoor unit is reached: healthy is every head answering and holding the power and
setpoint the strategy last wrote (and the external temperature it supplies, or none once it
stops supplying one). A fault acts on a slave address: behind a gateway every head on it
goes together. Run by tests/integration/test_setpoint_fault_matrix.py, and printed as a
markdown table by `python -m tests.setpoint_fault_matrix`."""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from minisplit.controller.service.setpoint_heads import supplies_external
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.faults import Fault, FaultKind
from minisplit.hil.simulator import Simulator
from tests.fault_matrix import (
    HEATED,
    MAX_LOG_RECORDS,
    RETURN_AIR,
    SENSOR_VALUES,
    SLOW_DELAY_S,
    SPEED,
    STUCK_EVIDENCE_S,
    WAITED_S,
    CaseResult,
    Check,
    FaultCase,
    Mark,
    System,
    Transport,
    _all_of,
    _always,
    _cell,
    _exception_replies_grew,
    _online,
    _power_cut_and_new_target,
    _reads_current,
    _timeouts_grew,
    no_reply_case,
    run_case,
    running_system,
)

EXTERNAL = "external_temperature"


@dataclass(frozen=True)
class Setup:
    """A shipped demo house of setpoint heads on one transport."""

    demo: str
    transport: Transport

    @property
    def id(self) -> str:
        return f"{self.demo}-{self.transport}"


# A gateway is an RS-485 device (its frame faults are the line's); the Intesis heads on TCP.
SETUPS = (Setup("demo-gateway", Transport.RTU), Setup("demo-intesis", Transport.TCP))


class SetpointSystem(System):
    """A house of setpoint heads: no outdoor unit is reached, the heads hold what the
    setpoint strategy last gave them."""

    def setting_held(self, zone_id: str) -> bool:
        """The head holds the strategy's power and setpoint, and the external temperature
        the strategy supplies (or none of ours once it stops supplying one)."""
        zone = self.supervisor.only_system.setpoint_zones.get(zone_id)
        if zone is None:
            return False
        setting, head = zone.setting, self.simulator.head(zone_id)
        shown = head.value("display_setpoint")
        if (
            bool(head.value("power")) != setting.power
            or shown is None
            or abs(shown - setting.setpoint) > 0.05
        ):
            return False
        if EXTERNAL not in head.profile.registers:
            return True
        held = head.firmware.external_temperature
        if not supplies_external(setting):
            return held is None
        wanted = setting.external_temperature
        return held is not None and wanted is not None and abs(held - wanted) <= 0.05

    def heads_follow_the_controller(self) -> bool:
        return all(self.setting_held(zone_id) for zone_id in self.supervisor.heads)

    def healthy(self) -> bool:
        """No fault anywhere: every unit answers, no zone fault, heads as the strategy set."""
        return (
            not self.simulator.faults.active
            and all(self.bus.is_online(uid) for uid in self.simulator.units)
            and all(
                self.zone(z)["available"] is True and self.zone(z)["fault"] is None
                for z in self.supervisor.heads
            )
            and self.heads_follow_the_controller()
        )

    def ready(self) -> bool:
        return self.healthy() and all(self.zone(z)["action"] == "heating" for z in HEATED)

    def behind(self, target: str) -> set[str]:
        """The zones whose heads answer at the target's slave address (a gateway's: all)."""
        uid = self.unit_id(target)
        return {z for z, head in self.simulator.heads.items() if head.unit_id == uid}


def setpoint_system(transport: Transport, simulator: Simulator, supervisor: Supervisor) -> System:
    return SetpointSystem(transport, simulator, supervisor)


def _of(check: Callable[[SetpointSystem, Mark], bool]) -> Check:
    def checked(system: System, mark: Mark) -> bool:
        assert isinstance(system, SetpointSystem)
        return check(system, mark)

    return checked


def _address_lost(target: str) -> Check:
    """Every zone at the target's address unavailable, the others available and held."""

    def check(system: SetpointSystem, _mark: Mark) -> bool:
        lost = system.behind(target)
        return all(
            system.zone(z)["available"] is (z not in lost) and (z in lost or system.setting_held(z))
            for z in system.supervisor.heads
        )

    return _of(check)


def _others_held(target: str) -> Check:
    """The zones at other addresses stay available and hold their settings."""

    def check(system: SetpointSystem, _mark: Mark) -> bool:
        lost = system.behind(target)
        return all(
            system.zone(z)["available"] is True and system.setting_held(z)
            for z in system.supervisor.heads
            if z not in lost
        )

    return _of(check)


def _all_held(system: System, _mark: Mark) -> bool:
    return all(system.zone(z)["available"] is True for z in system.supervisor.heads)


def _target_shown(zone_id: str, target: float) -> Check:
    return lambda s, _m: s.zone(zone_id)["target_temperature"] == target


def _slow_but_answering(target: str) -> Check:
    def check(system: System, mark: Mark) -> bool:
        uid = system.unit_id(target)
        stats = system.bus.stats(uid)
        return (
            (stats.last_latency_s or 0.0) >= SLOW_DELAY_S
            and stats.timeouts == mark.stats[uid].timeouts
            and _all_held(system, mark)
        )

    return check


def _reading_lost(zone_id: str, flagged: str, kept: bool) -> Check:
    """The zone's fault names ``flagged``; it shows no temperature; its head keeps the power
    and setpoint it had (its own thermostat regulates on them) and is given no external
    temperature of ours (a stale one would hold the room wherever it was). Not ``kept``: the
    fault takes evidence to find (a stuck reading), and the loop may trim the setting on it
    meanwhile, as on any reading."""

    def check(system: SetpointSystem, mark: Mark) -> bool:
        zone = system.zone(zone_id)
        head = system.simulator.head(zone_id)
        return (
            flagged in str(zone["fault"]).split(", ")
            and zone["current_temperature"] is None
            and (
                not kept
                or (head.value("power"), head.value("display_setpoint")) == mark.heads[zone_id]
            )
            and (
                EXTERNAL not in head.profile.registers or head.firmware.external_temperature is None
            )
        )

    return _of(check)


def _sensor_case(name: str, fault: Fault, flagged: str, why: str) -> FaultCase:
    zone_id = fault.target
    return FaultCase(
        name,
        fault,
        f"fault {flagged} ({why}); no temperature; the head keeps its setting, "
        "the external temperature released",
        effect=_reading_lost(zone_id, flagged, fault.kind is not FaultKind.STUCK_SENSOR),
        recovered=_reads_current(zone_id),
    )


def _lost_case(name: str, fault: Fault, outcome: str, effect: Check, **more: object) -> FaultCase:
    return FaultCase(
        name,
        fault,
        outcome,
        effect=_all_of(_address_lost(fault.target), effect),
        holds=_address_lost(fault.target),
        **more,  # type: ignore[arg-type]
    )


LOST = "the zones at its address unavailable (behind a gateway, all), the others held"
SETPOINT_CASES: tuple[FaultCase, ...] = (
    no_reply_case(
        "timeouts counted; the retry absorbs most; the zones at other addresses hold",
        _others_held("bedroom"),
    ),
    _lost_case(
        "head vanishes",
        Fault(FaultKind.VANISH, "bedroom"),
        f"{LOST}; its power and a new target re-applied on return",
        _always,
        hold_cycles=5,
        meanwhile=_power_cut_and_new_target("bedroom", 23.5),
        recovered=_target_shown("bedroom", 23.5),
    ),
    _lost_case(
        "device failure 0x04",
        Fault(FaultKind.EXCEPTION, "living", code=0x04),
        f"{LOST}; the address stays online on the bus",
        _all_of(_exception_replies_grew("living"), _online("living")),
    ),
    FaultCase(
        "slow replies",
        Fault(FaultKind.SLOW, "living", delay_s=SLOW_DELAY_S),
        f"replies {SLOW_DELAY_S:g} s late (timeout {WAITED_S:g} s): all zones stay available",
        effect=_slow_but_answering("living"),
    ),
    _sensor_case(
        "stuck sensor",
        Fault(FaultKind.STUCK_SENSOR, "living", register=RETURN_AIR),
        "sensor_head_stuck",
        f"after {STUCK_EVIDENCE_S:g} s of full demand, its thermostat calling, without a change",
    ),
    *(_sensor_case(*value) for value in SENSOR_VALUES),
    _lost_case(
        "bad crc",
        Fault(FaultKind.BAD_CRC, "bedroom"),
        f"replies dropped by the master (timeouts): {LOST}",
        _timeouts_grew("bedroom", 2),
        needs_rtu=True,
    ),
    _lost_case(
        "line noise",
        Fault(FaultKind.GARBAGE, "bedroom", noise_bytes=8),
        f"noise before every reply loses it (timeouts): {LOST}",
        _timeouts_grew("bedroom", 2),
        needs_rtu=True,
    ),
)
# Not here: the outdoor unit's faults (none is served), the heartbeat lapse (an interface
# keeps no heartbeat with the controller) and the head's own sensor fault code (the shipped
# interface profiles carry the unit's fault code, not which sensor it names).


def log_bound(system: System, case: FaultCase) -> int:
    """The lines an outage may log: the reference unit's bound, and a line as each further
    head at the faulted address is lost and one as it answers again (a gateway's four heads
    go together)."""
    return MAX_LOG_RECORDS + 2 * (len(_behind(system, case.fault.target)) - 1)


def inapplicable(system: System, case: FaultCase) -> str | None:
    """Why the case cannot happen on this house, if it cannot: the sentinel read where the
    head's return-air register has none (a CoolMasterNet's)."""
    fault = case.fault
    sentinel = fault.kind is FaultKind.SENSOR_VALUE and fault.value is None
    if sentinel and system.simulator.head(fault.target).profile[RETURN_AIR].invalid is None:
        return "no sentinel to read"
    return None


def _behind(system: System, target: str) -> set[str]:
    assert isinstance(system, SetpointSystem)
    return system.behind(target)


async def run_setpoint_matrix() -> dict[tuple[str, str], CaseResult]:
    """Every case on every setup: (setup id, case name) -> result."""
    results = {}
    with tempfile.TemporaryDirectory() as directory:
        for setup in SETUPS:
            place = Path(directory) / setup.id
            place.mkdir()
            async with running_system(
                setup.transport, place, setup.demo, setpoint_system
            ) as system:
                for case in SETPOINT_CASES:
                    if inapplicable(system, case) is None:
                        results[setup.id, case.name] = await run_case(system, case)
    return results


def main() -> int:
    """`python -m tests.setpoint_fault_matrix`: the cases on each setup, as a markdown table."""
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    results = asyncio.run(run_setpoint_matrix())
    print(f"Times in simulated seconds at {SPEED:g}x; log records per setup\n")
    print(
        "| fault (target) | expected outcome | "
        + " | ".join(s.id for s in SETUPS)
        + " | log records |"
    )
    print("|---" * (len(SETUPS) + 3) + "|")
    for case in SETPOINT_CASES:
        cells = [results.get((s.id, case.name)) for s in SETUPS]
        shown = [_cell(r) if r is not None else "cannot happen" for r in cells]
        logs = " / ".join("–" if r is None or r.refused else str(r.log_records) for r in cells)
        print(
            f"| {case.name} ({case.fault.target}) | {case.outcome} | {' | '.join(shown)} | {logs} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
