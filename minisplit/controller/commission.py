"""`minisplit commission`: what an installer leaves with the homeowner. Every configured unit
identified (the online check), a minute of polling with each unit's error counters and
latency, each head's room reading beside its remote sensor's, each head tried (`head_trial`),
and the config used; gathered here, written by `commission_report` (docs/commissioning.md,
"The commissioning report")."""

from __future__ import annotations

import asyncio
import contextlib
import platform
import socket
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version

import aiomqtt

from minisplit.controller import unit_access
from minisplit.controller.config import LoadedConfig, ZoneConfig
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.head_trial import TrialResult, run_trial
from minisplit.controller.online_check import check_online, units_of
from minisplit.controller.service.commands import CommandError, parse_remote_sensor
from minisplit.controller.service.mqtt_bridge import mqtt_client
from minisplit.controller.service.temperature_units import TemperatureUnit
from minisplit.drivers.bus import (
    BusDisconnected,
    BusError,
    BusOverloaded,
    BusScheduler,
    DeviceOffline,
    DeviceTimeout,
    ModbusExceptionReply,
)
from minisplit.drivers.transport import describe

#: How long the units are polled for the error counters, by default (seconds).
POLL_S = 60.0
#: The pause between two rounds of polls (every unit once per round).
ROUND_PAUSE_S = 1.0
#: A head's reading this far from its room's remote sensor is flagged (K).
SENSOR_GAP_K = 1.5


@dataclass
class UnitPolls:
    """One unit's minute of polling."""

    unit: str
    line: str
    profile: str
    identity: str  # "ok", or the online check's problem
    firmware: str = "-"
    serial: str = "-"
    polls: int = 0
    answered: int = 0
    failures: dict[str, int] = field(default_factory=dict)  # by kind of error
    latencies_s: list[float] = field(default_factory=list)
    return_air_c: list[float] = field(default_factory=list)  # heads
    faults_seen: set[str] = field(default_factory=set)
    # The line's counters of the unit id (shared by a gateway's units), since the bus opened:
    # frames sent (retries included), and those without a normal answer.
    frames: int = 0
    frame_errors: int = 0

    @property
    def failed(self) -> int:
        return self.polls - self.answered


@dataclass(frozen=True)
class SensorComparison:
    zone: str
    head_c: float | None  # the head's mean reading over the polling
    remote_c: float | None  # the remote sensor's last reading
    remote: str  # its topic, or why there is none

    @property
    def gap_k(self) -> float | None:
        if self.head_c is None or self.remote_c is None:
            return None
        return self.head_c - self.remote_c


@dataclass
class Commissioning:
    """Everything the report shows."""

    config_path: str
    config_text: str
    started: str
    host: str
    software: str
    lines: list[tuple[str, str]]  # bus name, its settings
    poll_s: float
    problems: list[str] = field(default_factory=list)  # the online check's
    units: list[UnitPolls] = field(default_factory=list)
    sensors: list[SensorComparison] = field(default_factory=list)
    trials: list[TrialResult] = field(default_factory=list)
    trials_refused: dict[str, str] = field(default_factory=dict)  # zone -> why
    finished: str = ""

    @property
    def healthy(self) -> bool:
        """No unit problem, no failed poll, and every head tried passed (or none was tried)."""
        return (
            not self.problems
            and all(u.failed == 0 for u in self.units)
            and not self.trials_refused
            and all(t.passed for t in self.trials)
        )


def _software() -> str:
    try:
        return f"minisplit {version('minisplit')}, Python {platform.python_version()}"
    except PackageNotFoundError:  # run from a source tree that was never installed
        return f"minisplit (not installed), Python {platform.python_version()}"


def _now_text() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S %z")


_FAILURE_KINDS: tuple[tuple[type[BusError], str], ...] = (
    (DeviceTimeout, "timeout"),
    (DeviceOffline, "offline"),
    (ModbusExceptionReply, "exception"),
    (BusDisconnected, "line closed"),
    (BusOverloaded, "line overloaded"),
)


def _failure_kind(err: BusError) -> str:
    return next((kind for cls, kind in _FAILURE_KINDS if isinstance(err, cls)), "error")


def _identify(
    loaded: LoadedConfig, problems: list[str], infos: Mapping[str, object]
) -> list[tuple[unit_access.UnitTarget, UnitPolls]]:
    """Each configured unit with what the online check found: its problem, or its firmware
    and serial number as its probe read them."""
    units = []
    for target, _strategy in units_of(loaded):
        problem = next((p for p in problems if p.startswith(str(target))), None)
        info = infos.get(str(target))
        units.append(
            (
                target,
                UnitPolls(
                    unit=str(target),
                    line=describe(target.bus),
                    profile=target.profile.name,
                    identity="ok" if problem is None else problem.removeprefix(f"{target}: "),
                    firmware=str(getattr(info, "firmware_version", None) or "-"),
                    serial=str(getattr(info, "serial_number", None) or "-"),
                ),
            )
        )
    return units


async def _poll_for(
    buses: Mapping[str, BusScheduler],
    units: list[tuple[unit_access.UnitTarget, UnitPolls]],
    poll_s: float,
    show: Callable[[str], None],
) -> None:
    """Poll every reachable unit, round after round, for ``poll_s`` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + poll_s
    drivers = [
        (unit_access.driver_for(buses[t.bus_name], t), polls)
        for t, polls in units
        if t.bus_name in buses
    ]
    rounds = 0
    while loop.time() < end and drivers:
        for driver, polls in drivers:
            polls.polls += 1
            began = loop.time()
            try:
                status = await driver.poll()
            except BusError as err:
                kind = _failure_kind(err)
                polls.failures[kind] = polls.failures.get(kind, 0) + 1
                continue
            polls.answered += 1
            polls.latencies_s.append(loop.time() - began)
            air = getattr(status, "return_air_temperature", None)
            if air is not None:
                polls.return_air_c.append(air)
            code = getattr(status, "fault_code", None)
            if code not in (None, "none"):
                polls.faults_seen.add(str(code))
        rounds += 1
        if rounds % 10 == 0:
            left = max(0, round(end - loop.time()))
            show(f"  polling: {rounds} rounds, {left} s left")
        await asyncio.sleep(min(ROUND_PAUSE_S, max(0.0, end - loop.time())))


async def _remote_sensors(loaded: LoadedConfig, listen_s: float) -> dict[str, float | str]:
    """Each zone's remote sensor's last reading (retained or published while listening), or
    why there is none."""
    config = loaded.config
    zones = [z for z in config.zones if z.remote_sensor_topic]
    if not zones:
        return {}
    if config.mqtt is None:
        return {z.id: "the config has no [mqtt]" for z in zones}
    found: dict[str, float | str] = {z.id: "no reading within the polling" for z in zones}
    unit = TemperatureUnit(config.mqtt.temperature_unit)
    try:
        async with mqtt_client(config.mqtt, f"{config.controller_id}-commission") as client:
            for topic in {z.remote_sensor_topic for z in zones if z.remote_sensor_topic}:
                await client.subscribe(topic)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(listen_s):
                    async for message in client.messages:
                        for zone in zones:
                            if message.topic.matches(zone.remote_sensor_topic or ""):
                                found[zone.id] = _reading(message.payload, zone, unit)
    except (aiomqtt.MqttError, OSError) as err:
        return {z.id: f"broker {config.mqtt.host}:{config.mqtt.port}: {err}" for z in zones}
    return found


def _reading(payload: object, zone: ZoneConfig, unit: TemperatureUnit) -> float | str:
    raw = payload if isinstance(payload, bytes) else str(payload).encode()
    if zone.remote_sensor_unit is not None:
        unit = TemperatureUnit(zone.remote_sensor_unit)
    try:
        return parse_remote_sensor(raw, zone.remote_sensor_field, unit)
    except CommandError as err:
        return f"unusable: {err}"


def _compare(
    loaded: LoadedConfig,
    units: list[tuple[unit_access.UnitTarget, UnitPolls]],
    remotes: Mapping[str, float | str],
) -> list[SensorComparison]:
    heads = {t.zone_id: polls for t, polls in units if t.zone_id is not None}
    comparisons = []
    for zone in loaded.config.zones:
        polls = heads.get(zone.id)
        air = polls.return_air_c if polls else []
        head_c = round(statistics.fmean(air), 2) if air else None
        remote = remotes.get(zone.id)
        if zone.remote_sensor_topic is None:
            comparisons.append(SensorComparison(zone.id, head_c, None, "none configured"))
        elif isinstance(remote, float):
            comparisons.append(SensorComparison(zone.id, head_c, remote, zone.remote_sensor_topic))
        else:
            why = f"{zone.remote_sensor_topic}: {remote}"
            comparisons.append(SensorComparison(zone.id, head_c, None, why))
    return comparisons


async def commission(
    loaded: LoadedConfig,
    config_text: str,
    *,
    poll_s: float = POLL_S,
    trial_mode: ZoneMode | None = ZoneMode.HEAT,
    trial_s: float = 300.0,
    trial_zones: Sequence[str] | None = None,
    time_scale: float = 1.0,
    show: Callable[[str], None] = lambda _: None,
) -> Commissioning:
    """Identify, poll, compare and try every configured unit (see the module's text); the
    caller holds the controller's lock (`unit_access.controller_stopped`)."""
    config = loaded.config
    result = Commissioning(
        config_path=str(loaded.path),
        config_text=config_text,
        started=_now_text(),
        host=socket.gethostname(),
        software=_software(),
        lines=[(name, describe(bus)) for name, bus in config.buses.items()],
        poll_s=poll_s,
    )
    show("identifying the units (check-config --online)")
    infos: dict[str, object] = {}
    result.problems = await check_online(loaded, show, infos=infos)
    async with contextlib.AsyncExitStack() as stack:
        buses: dict[str, BusScheduler] = {}
        for name, bus in config.buses.items():
            with contextlib.suppress(unit_access.UnitAccessError):
                buses[name] = await stack.enter_async_context(unit_access.opened_bus(name, bus))
        units = _identify(loaded, result.problems, infos)
        show(f"polling every unit for {poll_s:g} s")
        polling = _poll_for(buses, units, poll_s, show)
        remote_task = asyncio.ensure_future(_remote_sensors(loaded, poll_s))
        await polling
        remotes = await remote_task
        for target, polls in units:
            if target.bus_name in buses:
                stats = buses[target.bus_name].stats(target.unit_id)
                polls.frames, polls.frame_errors = stats.transactions, stats.errors
    result.units = [polls for _, polls in units]
    result.sensors = _compare(loaded, units, remotes)
    if trial_mode is not None:
        tried = [z for z in config.zones if trial_zones is None or z.id in trial_zones]
        for zone in tried:
            show(f"trying zone {zone.id} in {trial_mode}")
            try:
                trial = await run_trial(
                    loaded, zone.id, trial_mode, duration_s=trial_s, time_scale=time_scale
                )
            except unit_access.UnitAccessError as err:
                result.trials_refused[zone.id] = str(err)
                continue
            result.trials.append(trial)
            show(f"  zone {zone.id}: {'pass' if trial.passed else 'FAIL'}")
    result.finished = _now_text()
    return result
