"""The supervisor: an asyncio TaskGroup of the bus owners, the control tick and the MQTT bridge.

The imperative shell around the pure control core: it polls the units, gathers each room's
sensor readings, runs the `ControlLoop` (sensor check, control step and safety check: the very
code the benchmark scores), writes what changed, keeps the heartbeats alive, persists settings,
logs sensor faults as they come and go, and publishes state; it also keeps what must outlast a
restart besides the settings (when a boost began, the learned defrost interval). Time comes only
from the event loop (scaled by ``time_scale`` so that it runs in step with an accelerated
simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from controller.commands import Command, ZoneCommand
from controller.compressor import UnitObservation
from controller.config import LoadedConfig, SensorCheckConfig, ZoneConfig
from controller.control import (
    ControlOutput,
    ControlState,
    ControlTuning,
    UnitInput,
    ZoneInput,
)
from controller.frost import resumed_frost
from controller.handheld import adopt_remote_request
from controller.loop import ControlLoop, UnitRatings, unit_input, zone_input
from controller.mqtt_bridge import MqttBridge
from controller.notify import SystemdNotifier
from controller.persistence import SavedState, SettingsCommitter, StateStore, fit_to_zone
from controller.presets import boost_elapsed_s
from controller.probing import RefusedUnits
from controller.room_sensor import SensorSource
from controller.sensor_health import RemoteReading, SensorCheck
from controller.settings import Preset, ZoneMode, ZoneSettings
from controller.transitions import SetPreset, apply_unit, apply_zone
from controller.tuning import control_tuning_from
from drivers.bus import Backoff, BusError, BusScheduler
from drivers.device import DeviceDriver, DeviceError
from drivers.devices import HeadInfo, HeadStatus, OduCommand, OduInfo, OduStatus, RemoteRequest
from drivers.head import HeadDriver
from drivers.odu import OutdoorUnitDriver

log = logging.getLogger(__name__)
BUS_START_WAIT_S = 2.0  # wall seconds
START_TIMEOUT_S = 60.0  # wall seconds: READY=1 even without a completed bus cycle after this
CYCLE_BUDGET_S = 60.0  # wall seconds a cycle may take (probes and retries) before it is stalled
STATUS_REFRESH_S = 10.0  # wall seconds between STATUS= updates when systemd has no watchdog
# One failed poll is held over (the last status stands): a noisy line must not flap a zone's
# availability, nor stop the compressor, for a single lost frame. The second in a row counts.
FAILED_POLLS_TOLERATED = 1
ODU_UNIT = "outdoor unit"  # how logs and `autonomous` name the ODU (zones go by their id)
AUTONOMOUS = "autonomous"  # the fault a unit shows while it runs on its own (heartbeat lapsed)
# Controller seconds until a refused unit (wrong kind of device, implausible identity) is probed
# again: the period at first, doubling up to this; such a unit answers, so the bus never backs
# off from it by itself.
REFUSED_REPROBE_MAX_S = 600.0
InfoT = TypeVar("InfoT")
# The fault the unit shows while the settings in effect are not on disk (the write is retried).
STATE_UNSAVED = "state_unsaved"


@dataclass
class ZoneRuntime:
    config: ZoneConfig
    driver: HeadDriver
    settings: ZoneSettings
    info: HeadInfo | None = None
    status: HeadStatus | None = None
    remote_temperature: float | None = None
    remote_temperature_at: float | None = None
    available: bool = False
    failed_polls: int = 0  # in a row


def default_zone_settings(zone: ZoneConfig) -> ZoneSettings:
    t = zone.default_temperature
    return ZoneSettings(
        mode=ZoneMode.OFF,
        target_temperature=t,
        target_temperature_low=t,
        target_temperature_high=min(zone.max_temperature, t + 3.0),
    )


def sensor_check(config: SensorCheckConfig) -> SensorCheck:
    return SensorCheck(
        min_c=config.min_temperature,
        max_c=config.max_temperature,
        settle_s=config.settle_s,
        stuck_switches=config.stuck_switches,
        stuck_full_demand_s=config.stuck_full_demand_s,
    )


def control_tuning(loaded: LoadedConfig) -> ControlTuning:
    # The writable range of the frequency setpoint is the unit's [min, max]
    # (docs/reference-unit.md).
    frequency_range = loaded.odu_profile["frequency_setpoint"].range
    if frequency_range is None:
        return control_tuning_from(loaded.config.control)
    return control_tuning_from(loaded.config.control, frequency_range)


class Supervisor:
    def __init__(
        self,
        loaded: LoadedConfig,
        *,
        time_scale: float = 1.0,
        notifier: SystemdNotifier | None = None,
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.loaded = loaded
        config = loaded.config
        self.time_scale = time_scale
        self.period_s = config.control.period_s
        self.tuning = control_tuning(loaded)
        # Re-probe an offline unit once per control period (wall seconds), so that a head that
        # returns resumes within two cycles; an absent unit costs one timeout per period.
        reprobe = Backoff(self.period_s / time_scale, self.period_s / time_scale)
        self.buses = {
            name: BusScheduler(name, bus, probe_backoff=reprobe, time_scale=time_scale)
            for name, bus in config.buses.items()
        }
        odu = config.outdoor_unit
        self.odu = OutdoorUnitDriver(self.buses[odu.bus], odu.unit_id, loaded.odu_profile)
        self.odu_info: OduInfo | None = None
        self.odu_status: OduStatus | None = None
        self.odu_available = False
        self.odu_failed_polls = 0  # in a row
        self.refused = RefusedUnits(Backoff(self.period_s, REFUSED_REPROBE_MAX_S))
        self.store = StateStore(config.state_file)
        saved = self.store.load()
        # A setting takes effect once it is on disk (see on_command).
        self.committer = SettingsCommitter(
            self.store, self._settings_committed, on_unsaved=self._unsaved_changed
        )
        self.unit_settings = saved.unit
        self.zones: dict[str, ZoneRuntime] = {}
        for zone in config.zones:
            settings = fit_to_zone(saved.zones.get(zone.id, default_zone_settings(zone)), zone)
            driver = HeadDriver(self.buses[zone.bus], zone.unit_id, loaded.head_profile(zone))
            self.zones[zone.id] = ZoneRuntime(zone, driver, settings)
        # When each boost began (calendar seconds, see SavedState), and which of those starts
        # the control core counts from (see _count_boosts).
        self.boost_started = {z: t for z, t in saved.boost_started.items() if z in self.zones}
        self._boosts_counted: dict[str, float | None] = {}
        self.defrost_interval_s = saved.defrost_interval_s
        self.loop = ControlLoop(
            self.tuning,
            state=ControlState(frost=resumed_frost(saved.defrost_interval_s)),
            sensor_check=sensor_check(config.sensor_check),
        )
        self.started_at: float | None = None  # controller time of the first control tick
        self.output: ControlOutput | None = None
        self.cycles = 0
        self.notifier = notifier or SystemdNotifier()
        self.start_timeout_s = start_timeout_s
        self.cycle_budget_s = CYCLE_BUDGET_S
        # Wall (loop) time by which the control loop must have moved on; past it, it is stalled.
        self.tick_deadline = float("inf")
        self.last_cycle_error: str | None = None
        self.last_heartbeat: float | None = None
        self.autonomous: set[str] = set()  # units whose heartbeat lapsed (ODU_UNIT, zone ids)
        self._following: set[str] = set()  # available units whose heartbeat holds
        self._answered: set[str] = set()  # units that have answered a poll since the start
        self._sensor_faults_logged: dict[str, tuple[str, ...]] = {}  # by zone id
        self._actuate_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self.cycle_done = asyncio.Event()
        self.bridge = (
            MqttBridge(
                config.mqtt,
                config.controller_id,
                config.zones,
                self.on_command,
                self.on_remote_reading,
            )
            if config.mqtt is not None
            else None
        )

    # ---- time -------------------------------------------------------------------------
    def now(self) -> float:
        """Controller time in (simulated) seconds: the loop's monotonic clock scaled by
        ``time_scale`` (a wall-clock step, e.g. NTP at boot, cannot move the interlock timers;
        the starts budget is a rolling hour, so no calendar alignment is needed)."""
        return asyncio.get_running_loop().time() * self.time_scale

    @staticmethod
    def calendar_now() -> float:
        """Calendar time (Unix seconds): for what must outlast the process, such as a boost's
        start; never for timing the control (it steps when the clock is set)."""
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self.time_scale)

    # ---- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for bus in self.buses.values():
                group.create_task(bus.run(), name=f"bus-{bus.name}")
            group.create_task(self._control_loop(), name="control")
            if self.notifier.enabled:
                group.create_task(self._systemd(), name="systemd")
            if self.bridge is not None:
                group.create_task(self.bridge.run(), name="mqtt")

    async def _control_loop(self) -> None:
        # Give the bus owners a moment to open their lines, so that the first cycle finds the
        # units instead of leaving them unavailable for a whole period after every start.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(BUS_START_WAIT_S):
                await asyncio.gather(*(bus.wait_connected() for bus in self.buses.values()))
        loop = asyncio.get_running_loop()
        while True:
            started = self.now()
            self.tick_deadline = loop.time() + self.cycle_budget_s
            try:
                await self.cycle()
                self.last_cycle_error = None
            except BusError as err:  # a whole-line failure; the bus task reconnects
                log.warning("control cycle skipped: %s", err)
                self.last_cycle_error = str(err)
            pause = max(0.0, self.period_s - (self.now() - started))
            self.tick_deadline = loop.time() + pause / self.time_scale + self.cycle_budget_s
            await self.sleep(pause)

    # ---- systemd ----------------------------------------------------------------------
    async def _systemd(self) -> None:
        """READY=1 after the first cycle that reached the units (or the start timeout, saying
        why), then WATCHDOG=1 at half the watchdog period only while the control tick keeps its
        deadline: a hung loop stops the pings and systemd restarts the process."""
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.start_timeout_s):
                while not (self.odu_available or any(z.available for z in self.zones.values())):
                    await self.cycle_done.wait()
            status = self.status_line()
        except TimeoutError:
            down = [
                f"bus {name} not connected" for name, b in self.buses.items() if not b.connected
            ]
            reason = self.last_cycle_error or ", ".join(down) or "no unit answered"
            status = f"no bus cycle completed within {self.start_timeout_s:g} s: {reason}"
            log.warning("reporting ready anyway: %s", status)
        self.notifier.notify("READY=1", f"STATUS={status}")
        watchdog_s = self.notifier.watchdog_s
        interval = watchdog_s / 2 if watchdog_s else STATUS_REFRESH_S
        stalled = False
        while True:
            await asyncio.sleep(interval)
            if loop.time() <= self.tick_deadline:
                stalled = False
                pings = ("WATCHDOG=1",) if watchdog_s else ()
                self.notifier.notify(f"STATUS={self.status_line()}", *pings)
            elif not stalled:
                stalled = True
                log.error("control loop stalled: no cycle within %g s", self.cycle_budget_s)
                self.notifier.notify("STATUS=control loop stalled")

    def status_line(self) -> str:
        """One line for systemd's STATUS=: zones ok/total, the ODU's mode and speed, faults."""
        ok = sum(zone.available for zone in self.zones.values())
        faults = [
            f"{zone_id} {self._refusal(zone_id) or 'offline'}"
            for zone_id, z in self.zones.items()
            if not z.available
        ]
        faults += [
            f"{zone_id} fault {z.status.fault_code}"
            for zone_id, z in self.zones.items()
            if z.available and z.status is not None and z.status.fault
        ]
        faults += [
            f"{zone_id} {name}"
            for zone_id, z in self.zones.items()
            if z.available
            for name in self.sensor_faults(zone_id)
        ]
        faults += [f"{unit} {AUTONOMOUS}" for unit in sorted(self.autonomous)]
        if self.committer.unsaved:
            faults.append("settings not saved (writing the state file failed; retrying)")
        status = self.odu_status
        if not self.odu_available or status is None:
            odu = f"ODU {self._refusal(ODU_UNIT) or 'offline'}"
        else:
            odu = f"ODU {status.mode} {status.compressor_frequency_hz:.1f} Hz"
            if status.fault:
                faults.insert(0, f"ODU fault {status.fault_code}")
        return f"zones {ok}/{len(self.zones)} ok; {odu}; faults: {', '.join(faults) or 'none'}"

    def _refusal(self, unit: str) -> str | None:
        fault = self.refused.fault(unit)
        return None if fault is None else f"refused ({fault})"

    # ---- one cycle --------------------------------------------------------------------
    async def cycle(self) -> None:
        await self._probe_missing()
        await self._poll_all()
        self._notice_autonomous_units()
        await self._heartbeat_if_due()
        await self.actuate()
        self.cycles += 1
        self.cycle_done.set()
        self.cycle_done.clear()

    async def _probe_missing(self) -> None:
        if self.odu_info is None:
            self.odu_info = await self._probe(ODU_UNIT, self.odu)
        for zone_id, zone in self.zones.items():
            if zone.info is None:
                zone.info = await self._probe(zone_id, zone.driver)
                if zone.info is not None and self.bridge is not None:
                    self.bridge.set_head_info(zone_id, zone.info)

    async def _probe(self, unit: str, driver: DeviceDriver[InfoT, Any, Any]) -> InfoT | None:
        """The unit's identity, or None: it does not answer, or answers as no unit the
        controller can run (then it is refused: a fault, logged once, probed again later);
        either way the other units go on."""
        now = self.now()
        if not self.refused.due(unit, now):
            return None
        try:
            info = await driver.probe()
            await driver.set_heartbeat_timeout(self.loaded.config.outdoor_unit.heartbeat_timeout_s)
        except BusError:
            return None
        except DeviceError as err:
            delay, news = self.refused.refuse(unit, err.fault, now)
            log.log(
                logging.ERROR if news else logging.DEBUG,
                "%s refused: %s (probed again in %g s, then less often)",
                _named(unit),
                err,
                delay,
            )
            return None
        if (fault := self.refused.accept(unit)) is not None:
            log.warning("%s accepted: it was refused for %s", _named(unit), fault)
        log.info("%s found: %s", _named(unit), info)
        return info

    async def _poll_all(self) -> None:
        zones = [z for z in self.zones.values() if z.info is not None]
        results = await asyncio.gather(
            self.odu.poll() if self.odu_info is not None else _unavailable(),
            *(z.driver.poll() for z in zones),
            return_exceptions=True,
        )
        odu_result, head_results = results[0], results[1:]
        if isinstance(odu_result, OduStatus):
            self.odu_status = odu_result
            self.odu_failed_polls = 0
            self._set_odu_available(True)
        else:
            self.odu_failed_polls += 1
            if self.odu_failed_polls > FAILED_POLLS_TOLERATED or self.odu_info is None:
                self._set_odu_available(False)
        for zone, result in zip(zones, head_results, strict=True):
            if isinstance(result, HeadStatus):
                zone.status = result
                zone.failed_polls = 0
                self._set_zone_available(zone, True)
                if result.remote_request is not None:
                    await self._adopt_remote(zone, result.remote_request)
            else:
                zone.failed_polls += 1
                if zone.failed_polls > FAILED_POLLS_TOLERATED:
                    self._set_zone_available(zone, False)
        for zone in self.zones.values():
            if zone.info is None:
                self._set_zone_available(zone, False)

    def _set_odu_available(self, available: bool) -> None:
        self._log_answering(ODU_UNIT, self.odu_available, available)
        self.odu_available = available

    def _set_zone_available(self, zone: ZoneRuntime, available: bool) -> None:
        self._log_answering(zone.config.id, zone.available, available)
        zone.available = available
        if self.bridge is not None:
            self.bridge.publish_zone_availability(zone.config.id, available)

    def _log_answering(self, unit: str, was: bool, available: bool) -> None:
        """A WARNING when a unit stops answering and when it answers again. Its first answer
        is no return from anything: its probe has just logged it as found."""
        if available == was:
            return
        if available and unit not in self._answered:
            self._answered.add(unit)
            return
        log.warning("%s %s", _named(unit), "answers again" if available else "does not answer")

    def _notice_autonomous_units(self) -> None:
        """A unit that reports its heartbeat lapsed runs on its own logic: say so once, and
        send the heartbeat now rather than at its usual third of the timeout."""
        statuses: dict[str, OduStatus | HeadStatus | None] = {ODU_UNIT: self.odu_status}
        statuses.update((zone_id, zone.status) for zone_id, zone in self.zones.items())
        available = {ODU_UNIT: self.odu_available}
        available.update((zone_id, zone.available) for zone_id, zone in self.zones.items())
        lapsed = {
            unit
            for unit, status in statuses.items()
            if available[unit] and status is not None and status.heartbeat_lost
        }

        for unit in sorted(lapsed - self.autonomous):
            # Expected until the first heartbeat after start-up or after the unit was away;
            # a warning only when a unit that followed the controller lets go.
            level = logging.WARNING if unit in self._following else logging.INFO
            log.log(
                level, "%s reports its heartbeat lapsed: it runs on its own logic", _named(unit)
            )
        for unit in sorted(self.autonomous - lapsed):
            log.info("%s follows the controller", _named(unit))
        self.autonomous = lapsed
        self._following = {unit for unit, up in available.items() if up} - lapsed
        if lapsed:
            self.last_heartbeat = None

    async def _heartbeat_if_due(self) -> None:
        timeout = self.loaded.config.outdoor_unit.heartbeat_timeout_s
        now = self.now()
        if timeout == 0 or (
            self.last_heartbeat is not None and now - self.last_heartbeat < timeout / 3
        ):
            return
        self.last_heartbeat = now
        beats = [self.odu.heartbeat()] if self.odu_info is not None else []
        beats += [z.driver.heartbeat() for z in self.zones.values() if z.info is not None]
        await asyncio.gather(*beats, return_exceptions=True)

    # ---- control and actuation ---------------------------------------------------------
    def _remote(self, zone: ZoneRuntime, now: float) -> RemoteReading | None:
        """The zone's remote sensor: None if it has none, or if its first reading is not due
        yet (a configured sensor gets its timeout from the start before it counts as missing)."""
        timeout = zone.config.remote_sensor_timeout_s
        at = zone.remote_temperature_at
        if at is None:
            started = now if self.started_at is None else self.started_at
            if zone.config.remote_sensor_topic is None or now - started <= timeout:
                return None
        return RemoteReading(zone.remote_temperature, at, timeout)

    def _unit_input(self) -> UnitInput:
        info, status = self.odu_info, self.odu_status
        if info is None or status is None:
            # Never reached (or refused): no refrigerant to share. The control runs all the
            # same, on what the heads report, as it does while a unit it knew is lost.
            limits = self.tuning.coordinator.limits
            nothing = UnitObservation(
                0.0, 0.0, limits.min_frequency_hz, limits.max_frequency_hz, 0.0, None
            )
            return UnitInput(nothing, available=False, defrost=False, settings=self.unit_settings)
        ratings = UnitRatings(
            info.rated_heating_capacity_w,
            info.rated_cooling_capacity_w,
            info.min_frequency_hz,
            info.max_frequency_hz,
        )
        return unit_input(
            ratings, status, self.odu_available, self.unit_settings, status.compressor_running
        )

    def _inputs(
        self, now: float
    ) -> tuple[dict[str, ZoneInput], UnitInput, dict[str, RemoteReading]]:
        unit = self._unit_input()
        zones = {}
        remotes = {}
        for zone_id, zone in self.zones.items():
            zones[zone_id] = zone_input(
                zone.settings,
                zone.status.return_air_temperature if zone.status else None,
                zone.available,
                zone.info.rated_capacity_w if zone.info else 0.0,
                zone.status,
                (zone.config.min_temperature, zone.config.max_temperature),
                zone.config.sensor_offset_k,
            )
            if (remote := self._remote(zone, now)) is not None:
                remotes[zone_id] = remote
        return zones, unit, remotes

    async def actuate(self) -> None:
        """Run the control tick (the same `ControlLoop` the benchmark scores) on the latest
        measurements and write what changed."""
        async with self._actuate_lock:
            now = self.now()
            zones, unit, remotes = self._inputs(now)
            if self.started_at is None:
                self.started_at = now
            self._count_boosts(now)
            decision = self.loop.step(zones, unit, now, remotes)
            self.output = decision.output
            self._end_boosts(decision.output)
            self._keep_defrost_interval()
            self._log_sensor_changes()
            if decision.refusal is not None:
                log.error(
                    "ODU command refused by the safety check: %s (%s)",
                    decision.refusal,
                    decision.output.odu,
                )
            writes = [self._write_heads(decision.output)]
            if decision.odu_command is not None:
                writes.append(self._write_odu(decision.odu_command))
            await asyncio.gather(*writes)
            self._publish(now)

    def _count_boosts(self, now: float) -> None:
        """Tell the control core when each boost it has not counted yet began: a boost started
        before a restart goes on with what was left of it (`boost_elapsed_s`), a new one from
        the moment it was asked for."""
        duration = self.tuning.presets.boost_duration_s
        counted: dict[str, float | None] = {}
        for zone_id, zone in self.zones.items():
            if zone.settings.preset is not Preset.BOOST:
                continue
            started = counted[zone_id] = self.boost_started.get(zone_id)
            if zone_id not in self._boosts_counted or self._boosts_counted[zone_id] != started:
                elapsed = boost_elapsed_s(started, self.calendar_now(), duration, self.time_scale)
                self.loop.resume_boost(zone_id, now - elapsed)
        self._boosts_counted = counted

    def _end_boosts(self, output: ControlOutput) -> None:
        """A boost the core has ended becomes the comfort preset in the zone's settings, as if
        the homeowner had chosen it: on disk, then published, so that Home Assistant shows what
        the zone does and a restart does not boost again."""
        for zone_id, out in output.zones.items():
            boosting = self.zones[zone_id].settings.preset is Preset.BOOST
            if not boosting or out.preset is Preset.BOOST:
                continue
            # Unless the homeowner changed the preset meanwhile, or began a new boost, and that
            # is on its way to disk.
            wanted = self.wanted_settings()
            if wanted.zones[zone_id].preset is not Preset.BOOST:
                continue
            if wanted.boost_started.get(zone_id) != self.boost_started.get(zone_id):
                continue
            log.info("zone %s: the boost is over: back to comfort", zone_id)
            self.on_command(ZoneCommand(zone_id, SetPreset(Preset.COMFORT)))

    def _keep_defrost_interval(self) -> None:
        """Persist the learned defrost interval when it changes (once per defrost at most)."""
        interval = self.loop.state.frost.interval_s
        wanted = self.wanted_settings()
        if interval != wanted.defrost_interval_s:
            self.committer.submit(replace(wanted, defrost_interval_s=interval))

    def _log_sensor_changes(self) -> None:
        """Once when a sensor fault begins, once when it ends: not every tick. Only while the
        zone's head answers, as the zone state and STATUS= say them: a head not reached is
        reported offline, and its sensors, unread, are no fault on top (before its first
        answer they would all be `missing`)."""
        for zone_id, sensors in self.loop.sensors.items():
            if not self.zones[zone_id].available:
                continue
            old = self._sensor_faults_logged.get(zone_id, ())
            new = sensors.faults()
            if old == new:
                continue
            self._sensor_faults_logged[zone_id] = new
            followed = self.loop.inputs[zone_id]
            if followed.temperature is None:
                now_on = "no sensor: the zone asks for no refrigerant"
            else:
                now_on = f"the {followed.sensor.value} sensor ({followed.temperature:.1f} °C)"
            for name in new:
                if name not in old:
                    log.warning("zone %s: %s; the zone follows %s", zone_id, name, now_on)
            for name in old:
                if name not in new:
                    log.warning("zone %s: %s is over; the zone follows %s", zone_id, name, now_on)

    async def _write_odu(self, command: OduCommand) -> None:
        try:
            await self.odu.apply(command)
        except (BusError, ValueError) as err:
            log.warning("ODU write failed: %s", err)

    async def _write_heads(self, output: ControlOutput) -> None:
        async def write(zone: ZoneRuntime) -> None:
            command = output.zones[zone.config.id].head
            if not self.odu_available:
                # No refrigerant to share: the heads ask for none (safe state).
                command = replace(command, capacity_request_pct=0.0)
            try:
                await zone.driver.apply(command)
            except (BusError, ValueError) as err:
                log.debug("head %s write failed: %s", zone.config.id, err)

        await asyncio.gather(*(write(z) for z in self.zones.values() if z.available))

    # ---- commands from MQTT and from the handheld remotes ---------------------------------
    def on_command(self, command: Command) -> None:
        """Apply a validated command. A setting takes effect once it is on disk, and is then
        written to the units at once (commands jump the bus queue): whatever the controller has
        acted on or published survives kill -9 and power loss (SettingsCommitter)."""
        wanted = self.wanted_settings()
        if isinstance(command, ZoneCommand):
            zone_settings = apply_zone(wanted.zones[command.zone_id], command.change)
            wanted = wanted.with_zone(command.zone_id, zone_settings, self.calendar_now())
        else:
            wanted = replace(wanted, unit=apply_unit(wanted.unit, command))
        self.committer.submit(wanted)

    def on_remote_reading(self, zone_id: str, celsius: float) -> None:
        """A room temperature from the zone's remote sensor: the next control tick follows it."""
        zone = self.zones[zone_id]
        zone.remote_temperature = celsius
        zone.remote_temperature_at = self.now()

    def wanted_settings(self) -> SavedState:
        """The settings last asked for: in effect, or on their way to disk."""
        return self.committer.pending or SavedState(
            {zone_id: zone.settings for zone_id, zone in self.zones.items()},
            self.unit_settings,
            self.boost_started,
            self.defrost_interval_s,
        )

    def _settings_committed(self, state: SavedState) -> None:
        for zone_id, settings in state.zones.items():
            self.zones[zone_id].settings = settings
        self.unit_settings = state.unit
        self.boost_started = dict(state.boost_started)
        self.defrost_interval_s = state.defrost_interval_s
        task = asyncio.get_running_loop().create_task(self.actuate())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _adopt_remote(self, zone: ZoneRuntime, request: RemoteRequest) -> None:
        """A change made on the head's handheld remote becomes the zone's setting (committed,
        so published and persisted), then the head is told it was adopted."""
        zone_id = zone.config.id
        out = self.output.zones.get(zone_id) if self.output else None
        wanted = self.wanted_settings()
        before = wanted.zones[zone_id]
        after = adopt_remote_request(
            before,
            request,
            shown_setpoint=out.head.display_setpoint if out else None,
            limits=(zone.config.min_temperature, zone.config.max_temperature),
        )
        if after != before:
            old, new = before.to_dict(), after.to_dict()
            changes = {key: value for key, value in new.items() if old[key] != value}
            log.info("zone %s: adopted a change made on the handheld remote: %s", zone_id, changes)
            self.committer.submit(wanted.with_zone(zone_id, after, self.calendar_now()))
            await self.committer.flush()
        try:
            await zone.driver.ack_remote()
        except BusError as err:  # still latched: adopted again (idempotent) after the next poll
            log.debug("zone %s: acknowledging the remote failed: %s", zone_id, err)

    def _unsaved_changed(self, unsaved: bool) -> None:
        """Show at once that the settings in effect are (no longer) only in memory."""
        self._publish(self.now())

    def save(self) -> None:
        """Write the settings a last time, at shutdown: including any still on their way to
        disk, and any a failed write left unsaved."""
        try:
            self.store.save_last(self.wanted_settings())
        except OSError as err:
            log.error("cannot write state file %s: %s; unsaved settings lost", self.store.path, err)

    # ---- state for MQTT and the live view -----------------------------------------------
    def sensor_faults(self, zone_id: str) -> tuple[str, ...]:
        """The zone's room-sensor faults as of the last control tick (`sensor_health` names)."""
        sensors = self.loop.sensors.get(zone_id)
        return sensors.faults() if sensors else ()

    def zone_state(self, zone_id: str, now: float) -> dict[str, object]:
        zone = self.zones[zone_id]
        settings = zone.settings
        followed = self.loop.inputs.get(zone_id)
        temperature = followed.temperature if followed else None
        sensor = followed.sensor if followed else SensorSource.HEAD
        out = self.output.zones.get(zone_id) if self.output else None
        status = zone.status
        action = out.action if out and zone.available else "off"
        fault = self.refused.fault(zone_id) or (
            status.fault_code if status and status.fault else None
        )
        if zone.available and not self.odu_available:
            # The heads were told to ask for no refrigerant (_write_heads): say so.
            action = action if action in ("off", "fan") else "idle"
            fault = fault or "odu_comms"
        if zone.available and not fault:
            fault = ", ".join(self.sensor_faults(zone_id)) or None
        if zone_id in self.autonomous:
            fault = fault or AUTONOMOUS
        return {
            "current_temperature": None if temperature is None else round(temperature, 1),
            "target_temperature": settings.target_temperature,
            "target_temperature_low": settings.target_temperature_low,
            "target_temperature_high": settings.target_temperature_high,
            "mode": settings.mode.value,
            "action": action,
            "fan_mode": settings.fan_mode.value,
            "swing_mode": settings.swing_mode.value,
            "swing_horizontal_mode": settings.swing_horizontal_mode.value,
            "preset": settings.preset.value,
            "humidity": status.humidity if status else None,
            "demand": round(100 * out.demand, 1) if out else 0.0,
            "sensor": sensor.value,
            "available": zone.available,
            "mode_conflict": bool(out and out.mode_conflict),
            "fault": fault,
        }

    def unit_state(self) -> dict[str, object]:
        status = self.odu_status
        target = self.output.odu.frequency_hz if self.output else 0.0
        return {
            "mode": status.mode if status else None,
            "compressor_frequency": status.compressor_frequency_hz if status else None,
            "compressor_target": target,
            "allowed_max_frequency": status.allowed_max_frequency_hz if status else None,
            "outdoor_temperature": status.outdoor_temperature if status else None,
            "power": status.input_power_w if status else None,
            "energy": round(status.energy_wh / 1000.0, 3) if status else None,
            "defrost": status.defrost if status else False,
            "quiet": self.unit_settings.quiet,
            "demand_limit": self.unit_settings.demand_limit_pct,
            "fault": self._unit_fault(),
            "available": self.odu_available,
        }

    def _unit_fault(self) -> str | None:
        status = self.odu_status
        unit = (
            self.refused.fault(ODU_UNIT)
            or (status.fault_code if status and status.fault else None)
            or (AUTONOMOUS if ODU_UNIT in self.autonomous else None)
        )
        # The settings are the whole system's; the unit's fault is where Home Assistant shows
        # a fault of the system, so an unwritable state file is said there, beside the unit's.
        faults = [unit, STATE_UNSAVED if self.committer.unsaved else None]
        return ", ".join(f for f in faults if f) or None

    def _publish(self, now: float) -> None:
        if self.bridge is None:
            return
        for zone_id in self.zones:
            self.bridge.publish_zone_state(zone_id, self.zone_state(zone_id, now))
        self.bridge.publish_unit_state(self.unit_state())

    def snapshot(self) -> Mapping[str, object]:
        """Everything the live view and the status line show, as plain data."""
        now = self.now()
        return {
            "zones": {zone_id: self.zone_state(zone_id, now) for zone_id in self.zones},
            "unit": self.unit_state(),
            "cycles": self.cycles,
            "transactions": sum(b.total_transactions for b in self.buses.values()),
        }


async def _unavailable() -> None:
    raise BusError("not probed")


def _named(unit: str) -> str:
    """How logs name a unit: the outdoor unit, or a zone's head."""
    return unit if unit == ODU_UNIT else f"zone {unit} head"


async def run_supervisor(
    loaded: LoadedConfig, time_scale: float = 1.0, start_timeout_s: float = START_TIMEOUT_S
) -> None:
    supervisor = Supervisor(loaded, time_scale=time_scale, start_timeout_s=start_timeout_s)
    try:
        await supervisor.run()
    finally:
        supervisor.notifier.notify("STOPPING=1")
        supervisor.save()
