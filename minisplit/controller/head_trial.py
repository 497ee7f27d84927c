"""`minisplit test-head`: one head tried before going live. It is switched on in heat or cool
at a setpoint and run by the product's own control (the supervisor, its strategy and its
interlocks) for a few minutes while its answers are watched: the head on in the mode asked,
its thermostat calling (thermo-on), the compressor running, the air changing; then the zone is
switched off through the same control, which keeps the minimum on time, and the head's settings
are written back as they were read before (docs/commissioning.md, "Testing a head").

The trial runs on a copy of the config that holds only the tested zone and its system, with no
MQTT and a state file of its own: the homeowner's saved settings are not touched, and the other
heads are neither read nor written."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from minisplit.controller.config import LoadedConfig, Strategy
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.core.transitions import SetMode
from minisplit.controller.service.commands import ZoneCommand
from minisplit.controller.service.supervisor import Supervisor
from minisplit.controller.unit_access import (
    Driver,
    UnitAccessError,
    UnitTarget,
    driver_for,
    odu_target,
    opened_bus,
    zone_target,
)
from minisplit.drivers.bus import BusError
from minisplit.drivers.capabilities import capabilities
from minisplit.drivers.driver import Reading
from minisplit.drivers.head import HeadDriver
from minisplit.drivers.vocabulary import HeadMode, OduMode

#: The modes a head is tried in: the two that run the compressor one way or the other.
TRIAL_MODES = (ZoneMode.HEAT, ZoneMode.COOL)
#: How far beyond the room's temperature the trial's setpoint is put by default, so that the
#: head's thermostat calls whatever its sensor's bias.
CALL_MARGIN_K = 3.0
#: The air on the head's coil must differ from its return air by this much, the right way,
#: for the coil to count as delivering (heat: warmer; cool: colder).
COIL_SPREAD_K = 5.0
#: Without a coil reading, the return air must move this much the right way.
RETURN_AIR_MOVE_K = 0.2
#: The head's registers the control writes (drivers.head `head_command_values`, the external
#: room temperature, the heartbeat timeout, the remote's acknowledgement): what a trial may
#: change, and so what is read before and written back. Not the heartbeat (it counts, it holds
#: no setting), nor an interface's own settings (its address, its baud rate) that it never
#: touches.
TRIAL_WRITES = (
    "power",
    "mode",
    "display_setpoint",
    "fan",
    "vane_vertical",
    "vane_horizontal",
    "capacity_request",
    "external_temperature",
    "heartbeat_timeout",
    "remote_ack",
)


class Verdict:
    PASS = "pass"
    FAIL = "fail"
    NOT_REPORTED = "not reported"


@dataclass(frozen=True)
class Check:
    """One thing the trial looked for, and what it saw."""

    name: str
    verdict: str
    detail: str


@dataclass(frozen=True)
class Sample:
    """The head (and outdoor unit) as the control saw them at one moment of the trial."""

    elapsed_s: float  # controller seconds since the trial's control started
    power: bool | None
    mode: str | None
    thermo_on: bool | None
    return_air_c: float | None
    coil_c: float | None
    compressor_hz: float | None
    compressor_running: bool | None


@dataclass
class TrialResult:
    """What a trial did and found: the report's section for the head."""

    target: str
    mode: ZoneMode
    setpoint_c: float
    strategy: str
    samples: list[Sample] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)  # "name: value" written back
    not_restored: list[str] = field(default_factory=list)  # what could not be, and why
    ended_early: bool = False  # cancelled (Ctrl-C) before its time: what it saw so far

    @property
    def passed(self) -> bool:
        """It ran its time, no check failed, and at least one saw the head respond."""
        if self.ended_early:
            return False
        verdicts = {check.verdict for check in self.checks}
        return Verdict.PASS in verdicts and Verdict.FAIL not in verdicts

    def as_dict(self) -> dict[str, object]:
        return {
            "unit": self.target,
            "mode": str(self.mode),
            "setpoint": self.setpoint_c,
            "strategy": self.strategy,
            "passed": self.passed,
            "ended_early": self.ended_early,
            "checks": [vars(check) for check in self.checks],
            "samples": [vars(sample) for sample in self.samples],
            "restored": self.restored,
            "not_restored": self.not_restored,
        }


class TrialRefused(UnitAccessError):
    """A trial that is not started, because starting it would break something; says why."""


# ---- before: what the head is set to, and whether a trial may start -------------------------


async def _read_levers(driver: Driver) -> Reading:
    levers = capabilities(driver.profile).levers
    reading, _refused = await driver.read_each([n for n in TRIAL_WRITES if n in levers])
    return reading


async def _before(
    head: UnitTarget, odu: UnitTarget | None, mode: ZoneMode, strategy: Strategy
) -> tuple[Reading, float | None]:
    """The head's levers as they are (to put them back after), and its return air; refuses a
    trial the outdoor unit's state forbids."""
    async with opened_bus(head.bus_name, head.bus) as bus:
        driver = driver_for(bus, head)
        try:
            status = await driver.poll()
            levers = await _read_levers(driver)
        except BusError as err:
            raise UnitAccessError(f"{head}: no answer: {err}") from None
        if getattr(status, "fault", None):
            code = getattr(status, "fault_code", None)
            raise TrialRefused(
                f"{head} reports a fault ({code or 'its fault flag'}): clear it first"
            )
    if odu is not None:
        async with opened_bus(odu.bus_name, odu.bus) as bus:
            try:
                odu_status = await driver_for(bus, odu).poll()
            except BusError as err:
                raise UnitAccessError(f"{odu}: no answer: {err}") from None
        _may_start(odu, odu_status, mode, strategy)
    return levers, getattr(status, "return_air_temperature", None)


def _may_start(odu: UnitTarget, status: object, mode: ZoneMode, strategy: Strategy) -> None:
    """A running compressor is never taken over by a trial: where the controller drives it
    (direct) it does not know how long it has run (a stop could come before the minimum on
    time); where the heads' own logic drives it, a head in the other mode would reverse it
    (the mode-change wait). Both are refused, saying what to do."""
    running = getattr(status, "compressor_running", None)
    hz = getattr(status, "compressor_frequency_hz", None)
    if not (running or (hz is not None and hz > 0)):
        return
    odu_mode = getattr(status, "mode", None)
    running_text = f"runs ({hz:g} Hz" if hz is not None else "runs ("
    running_text += f", {odu_mode})" if odu_mode not in (None, OduMode.OFF) else ")"
    if strategy is Strategy.DIRECT:
        raise TrialRefused(
            f"the compressor of {odu} {running_text} on the unit's own logic: a trial would"
            " take it over mid-run. Switch the heads off at their remotes and try again once it"
            " has stopped"
        )
    wanted = OduMode.HEAT if mode is ZoneMode.HEAT else OduMode.COOL
    if odu_mode in (OduMode.HEAT, OduMode.COOL) and odu_mode is not wanted:
        raise TrialRefused(
            f"the compressor of {odu} {running_text} for another head: a head in {mode} would"
            " reverse it. Try the head in the same mode, or once the others are off"
        )


def default_setpoint(loaded: LoadedConfig, zone_id: str, mode: ZoneMode, room_c: float) -> float:
    """CALL_MARGIN_K beyond the room's temperature the right way, within the zone's range,
    to the half degree."""
    zone = loaded.config.zone(zone_id)
    wanted = room_c + CALL_MARGIN_K if mode is ZoneMode.HEAT else room_c - CALL_MARGIN_K
    return round(min(max(wanted, zone.min_temperature), zone.max_temperature) * 2) / 2


# ---- the trial's own config ----------------------------------------------------------------


@contextlib.contextmanager
def trial_config(
    loaded: LoadedConfig, zone_id: str, mode: ZoneMode, setpoint_c: float
) -> Iterator[LoadedConfig]:
    """The config with only the zone and its system, no MQTT, and a fresh state file in a
    temporary directory; the zone starts (its first start: no saved state) in ``mode`` at
    ``setpoint_c``."""
    config = loaded.config
    zone = config.zone(zone_id)
    update: dict[str, object] = {
        "initial_mode": mode,
        "default_temperature": setpoint_c,
        "default_temperature_high": None,
    }
    tried = zone.model_copy(update=update)
    with tempfile.TemporaryDirectory(prefix="minisplit-trial-") as directory:
        changes: dict[str, object] = {
            "zones": [tried],
            "mqtt": None,
            "state_file": Path(directory) / "state.json",
        }
        if config.systems is not None and zone.system is not None:
            changes["systems"] = {zone.system: config.systems[zone.system]}
        copy = LoadedConfig(config.model_copy(update=changes), loaded.profiles, loaded.path)
        yield copy


# ---- during: the product's control, watched --------------------------------------------------


def _sample(supervisor: Supervisor, zone_id: str, started: float) -> Sample:
    system = supervisor.system_of(zone_id)
    head = supervisor.heads[zone_id].status
    odu = None if system.odu_link is None else system.odu_link.status
    return Sample(
        elapsed_s=round(supervisor.now() - started, 1),
        power=None if head is None else head.power,
        mode=None if head is None or head.mode is None else str(head.mode),
        thermo_on=None if head is None else head.thermo_on,
        return_air_c=None if head is None else head.return_air_temperature,
        coil_c=None if head is None else head.coil_temperature,
        compressor_hz=None if odu is None else odu.compressor_frequency_hz,
        compressor_running=None if odu is None else odu.compressor_running,
    )


def _running(sample: Sample) -> bool:
    return bool(sample.compressor_running) or (sample.compressor_hz or 0.0) > 0


def _run_too_short(
    supervisor: Supervisor, zone_id: str, samples: list[Sample], min_on_s: float
) -> bool:
    """The compressor runs and has not yet run ``min_on_s``: as the control's interlock
    history says where it drives the compressor, else from when the samples first saw this run
    (the unit's own logic runs it; its start may have come up to a sample period earlier)."""
    history = supervisor.system_of(zone_id).controller.history
    now = supervisor.now()
    if history.running and history.started_at is not None and now - history.started_at < min_on_s:
        return True
    if not samples or not _running(samples[-1]):
        return False
    start = len(samples) - 1
    while start > 0 and _running(samples[start - 1]):
        start -= 1
    return samples[-1].elapsed_s - samples[start].elapsed_s < min_on_s


def _stopped(supervisor: Supervisor, zone_id: str) -> bool:
    """The zone's head is off as it reports it, and where this control drives the compressor,
    the compressor is stopped as the control's interlock history says."""
    system = supervisor.system_of(zone_id)
    head = supervisor.heads[zone_id].status
    head_off = head is not None and head.power is False
    if system.system.strategy is Strategy.DIRECT:
        return head_off and not system.controller.history.running
    return head_off


async def _watch(
    loaded: LoadedConfig,
    zone_id: str,
    duration_s: float,
    time_scale: float,
    show: Callable[[Sample], None],
) -> tuple[list[Sample], bool]:
    """The samples of the trial, and whether it was ended early."""
    supervisor = Supervisor(loaded, time_scale=time_scale)
    system = supervisor.system_of(zone_id)
    # The compressor's last stop is unknown: it is taken to be now, so that no start comes
    # within the minimum off time of it (the control's own rule for a unit it lost sight of).
    system.controller.lost_running = True
    period_wall = supervisor.period_s / time_scale
    limits = system.tuning.coordinator.limits
    samples: list[Sample] = []
    ended_early = False
    task = asyncio.create_task(supervisor.run(), name="trial supervisor")
    try:
        started = supervisor.now()
        try:
            while supervisor.now() - started < duration_s:
                await asyncio.sleep(period_wall)
                _check_alive(task)
                samples.append(_sample(supervisor, zone_id, started))
                show(samples[-1])
        except asyncio.CancelledError:
            # Ended early (Ctrl-C): the head is switched off the same way; a second cancel
            # ends that too, and the settings are still written back (`run_trial`).
            current = asyncio.current_task()
            if current is None or current.uncancel() > 0:
                raise
            ended_early = True
        # A compressor that started during the trial runs its minimum on time before the
        # zone is switched off: without a head open it would have to stop at once.
        while _run_too_short(supervisor, zone_id, samples, limits.min_on_s):
            await asyncio.sleep(period_wall)
            _check_alive(task)
            samples.append(_sample(supervisor, zone_id, started))
            show(samples[-1])
        # Off through the control.
        supervisor.on_command(ZoneCommand(zone_id, SetMode(ZoneMode.OFF)))
        stop_by = supervisor.now() + limits.min_on_s + 4 * supervisor.period_s
        # Judged on polls after the command was written: two cycles on, at the latest.
        seen_from = supervisor.cycles + 2
        while supervisor.cycles < seen_from or not _stopped(supervisor, zone_id):
            if supervisor.now() > stop_by:
                raise UnitAccessError(
                    f"zone {zone_id}: the head did not report off (or the compressor stopped)"
                    f" within {limits.min_on_s + 4 * supervisor.period_s:g} s of switching it off"
                )
            await asyncio.sleep(period_wall)
            _check_alive(task)
            samples.append(_sample(supervisor, zone_id, started))
            show(samples[-1])
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    return samples, ended_early


def _check_alive(task: asyncio.Task[None]) -> None:
    if task.done() and not task.cancelled() and (error := task.exception()) is not None:
        raise UnitAccessError(f"the control stopped: {error}") from error


# ---- after: the verdicts, and the head put back ---------------------------------------------


def judge(samples: list[Sample], mode: ZoneMode) -> list[Check]:
    """What the samples (those before the switch-off included) say of the head's response."""
    heat = mode is ZoneMode.HEAT
    checks = [_on_in_mode(samples, mode)]
    thermo = [s.thermo_on for s in samples if s.thermo_on is not None]
    checks.append(
        Check("thermo-on", Verdict.NOT_REPORTED, "the profile has no thermo-on reading")
        if not thermo
        else Check(
            "thermo-on",
            Verdict.PASS if any(thermo) else Verdict.FAIL,
            "the head's thermostat called" if any(thermo) else "the head never called",
        )
    )
    hz = [s.compressor_hz for s in samples if s.compressor_hz is not None]
    running = [s.compressor_running for s in samples if s.compressor_running is not None]
    if not hz and not running:
        checks.append(Check("compressor", Verdict.NOT_REPORTED, "no outdoor unit reading"))
    else:
        ran = any(running) or any(h > 0 for h in hz)
        peak = f", up to {max(hz):g} Hz" if hz else ""
        checks.append(
            Check(
                "compressor",
                Verdict.PASS if ran else Verdict.FAIL,
                f"ran{peak}" if ran else "never ran",
            )
        )
    checks.append(_air(samples, heat))
    return checks


def _on_in_mode(samples: list[Sample], mode: ZoneMode) -> Check:
    seen = [(s.power, s.mode) for s in samples if s.power is not None]
    if not seen:
        return Check("on in mode", Verdict.NOT_REPORTED, "the head's power is not read back")
    wanted = HeadMode(mode.value).value
    on = any(power and (m is None or m == wanted) for power, m in seen)
    modes = sorted({m for _, m in seen if m is not None})
    return Check(
        "on in mode",
        Verdict.PASS if on else Verdict.FAIL,
        f"on in {wanted}" if on else f"never on in {wanted} (read back: {', '.join(modes)})",
    )


def _air(samples: list[Sample], heat: bool) -> Check:
    sign = 1.0 if heat else -1.0
    spreads = [
        sign * (s.coil_c - s.return_air_c)
        for s in samples
        if s.coil_c is not None and s.return_air_c is not None
    ]
    if spreads:
        best = max(spreads)
        ok = best >= COIL_SPREAD_K
        way = "above" if heat else "below"
        return Check(
            "air",
            Verdict.PASS if ok else Verdict.FAIL,
            f"coil up to {best:.1f} K {way} the return air (at least {COIL_SPREAD_K:g} K wanted)",
        )
    air = [s.return_air_c for s in samples if s.return_air_c is not None]
    if len(air) < 2:
        return Check("air", Verdict.NOT_REPORTED, "no return-air or coil reading")
    moved = sign * (max(air) - air[0] if heat else min(air) - air[0])
    return Check(
        "air",
        Verdict.PASS if moved >= RETURN_AIR_MOVE_K else Verdict.FAIL,
        f"return air {air[0]:.1f} → {max(air) if heat else min(air):.1f} °C"
        f" (a move of {RETURN_AIR_MOVE_K:g} K wanted)",
    )


def _setting(reading: Reading, head: UnitTarget, name: str) -> float | str | None:
    """A register's value as written back: its enum label, else its number; None where it
    read as a sentinel or a code outside its enum."""
    if head.profile[name].enum:
        return reading.label_or_none(name)
    value = reading.value(name)
    return None if value is None else value


async def restore(head: UnitTarget, before: Reading) -> tuple[list[str], list[str]]:
    """Write back those of the head's settings (`TRIAL_WRITES`) that differ from what was read
    before the trial; the external room temperature is instead released to the head's own
    sensor where the profile can. Returns what was written back, and what could not be."""
    async with opened_bus(head.bus_name, head.bus) as bus:
        driver = driver_for(bus, head)
        try:
            now = await _read_levers(driver)
            values: dict[str, float | str] = {}
            skipped: list[str] = []
            for name in sorted(before.words):
                was = _setting(before, head, name)
                releases = name == "external_temperature" and head.profile[name].release
                if releases or before.words[name] == now.words.get(name):
                    continue
                if was is None:
                    skipped.append(
                        f"{name}: read as {before.words[name]} before the trial,"
                        " not a value to write"
                    )
                else:
                    values[name] = was
            await driver.write_values(values)
            if (
                "external_temperature" in before.words
                and isinstance(driver, HeadDriver)
                and await driver.release_external_temperature()
            ):
                values["external_temperature"] = "released to the head's sensor"
        except BusError as err:
            return [], [f"nothing confirmed written back: {err}"]
    return [f"{name}: {value}" for name, value in values.items()], skipped


async def run_trial(
    loaded: LoadedConfig,
    zone_id: str,
    mode: ZoneMode,
    *,
    setpoint_c: float | None = None,
    duration_s: float = 300.0,
    time_scale: float = 1.0,
    show: Callable[[Sample], None] = lambda _: None,
) -> TrialResult:
    """Try the head of ``zone_id`` (see the module's text); UnitAccessError (TrialRefused) when
    it cannot be reached or must not be started."""
    if mode not in TRIAL_MODES:
        raise UnitAccessError(f"a head is tried in heat or cool, not {mode}")
    head = zone_target(loaded, zone_id)
    system = loaded.system_of(zone_id)
    odu = odu_target(loaded, system.name)
    if HeadMode(mode.value) not in capabilities(head.profile).modes:
        raise TrialRefused(f"{head}: its profile has no {mode} mode")
    before, room_c = await _before(head, odu, mode, system.strategy)
    if setpoint_c is None:
        setpoint_c = default_setpoint(loaded, zone_id, mode, 21.0 if room_c is None else room_c)
    result = TrialResult(str(head), mode, setpoint_c, str(system.strategy))
    try:
        with trial_config(loaded, zone_id, mode, setpoint_c) as tried:
            result.samples, result.ended_early = await _watch(
                tried, zone_id, duration_s, time_scale, show
            )
    finally:
        result.restored, result.not_restored = await restore(head, before)
    result.checks = judge(result.samples, mode)
    return result
