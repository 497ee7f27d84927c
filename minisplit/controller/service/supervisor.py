"""The supervisor: an asyncio TaskGroup of the bus owners, the control tick and the MQTT bridge.

The imperative shell around the pure control core, which only orchestrates: each cycle the unit
links (`unit_link`) probe and poll the units, then each system (`system.SystemControl`: one
outdoor unit and its heads, arbitrated on its own) turns their reports and the settings into
the control's inputs, decides (the `Controller`: sensor check, control step and safety check,
the very code the benchmark scores) and writes what changed, and the state made from the same
observation (`state_report`) is published. Settings take effect once on disk
(`persistence.SettingsCommitter`, their one copy, shared by the systems). Time comes only from
the event loop (scaled by ``time_scale`` so that it runs in step with an accelerated
simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from minisplit.controller.config import LoadedConfig
from minisplit.controller.core.control import ControlOutput
from minisplit.controller.core.handheld import adopt_remote_request
from minisplit.controller.core.observation import RemoteSample
from minisplit.controller.core.settings import Preset
from minisplit.controller.core.tick import Controller
from minisplit.controller.core.transitions import SetPreset, SetSchedule, apply_unit, apply_zone
from minisplit.controller.service import state_report
from minisplit.controller.service.commands import Command, ProgramCommand, ZoneCommand
from minisplit.controller.service.discovery import UnitSystem
from minisplit.controller.service.mqtt_bridge import MqttBridge
from minisplit.controller.service.notify import SystemdNotifier, report_to_systemd
from minisplit.controller.service.persistence import (
    SavedState,
    SettingsCommitter,
    StateStore,
    fit_to_zones,
)
from minisplit.controller.service.programs import ZonePrograms, local_seconds, local_time_text
from minisplit.controller.service.restart_memory import (
    RoomRatesSaver,
    ended_boosts,
    with_defrost_interval,
)
from minisplit.controller.service.system import SystemControl
from minisplit.controller.service.unit_link import HeadLink, OduLink, UnitLink, poll_all
from minisplit.controller.service.weather import ForecastInput, WeatherForecast
from minisplit.drivers.bus import Backoff, BusError, BusScheduler
from minisplit.drivers.capabilities import capabilities
from minisplit.drivers.records import RemoteRequest

log = logging.getLogger(__name__)
BUS_START_WAIT_S = 2.0  # wall seconds
START_TIMEOUT_S = 60.0  # wall seconds: READY=1 even without a completed bus cycle after this
CYCLE_BUDGET_S = 60.0  # wall seconds a cycle may take (probes and retries) before it is stalled


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
        # Re-probe an offline unit once per control period (wall seconds), so that a head that
        # returns resumes within two cycles; an absent unit costs one timeout per period.
        reprobe = Backoff(self.period_s / time_scale, self.period_s / time_scale)
        self.buses = {
            name: BusScheduler(name, bus, probe_backoff=reprobe, time_scale=time_scale)
            for name, bus in config.buses.items()
        }
        heads = {zone.id: capabilities(loaded.head_profile(zone)) for zone in config.zones}
        self.store = StateStore(config.state_file)
        saved = fit_to_zones(self.store.load(), config.zones, heads)
        self.room_rates = RoomRatesSaver()
        self.programs = ZonePrograms(config.zones, saved)
        self.weather = ForecastInput()  # the forecast sent over MQTT
        self._forecast_published = -1  # the weather's revision last published
        self.bridge = (
            MqttBridge(
                config.mqtt,
                config.controller_id,
                config.zones,
                self.on_command,
                self.on_remote_reading,
                capabilities=heads,
                systems=[UnitSystem.of(system) for system in loaded.systems.values()],
                programmed=self.programs.schedules.keys(),
                has_program=lambda zone_id: bool(
                    self.programs.points(self.wanted_settings(), zone_id)
                ),
                on_forecast=self.on_forecast,
                site=config.site,
            )
            if config.mqtt is not None
            else None
        )
        publish = self.bridge.publish_zone_availability if self.bridge else None
        self.systems = {
            name: SystemControl(
                loaded, system, self.buses, saved, time_scale=time_scale, on_availability=publish
            )
            for name, system in loaded.systems.items()
        }
        self.heads = {z: h for s in self.systems.values() for z, h in s.heads.items()}
        self._system_of = {zone_id: s for s in self.systems.values() for zone_id in s.heads}
        self.links: tuple[UnitLink[Any, Any, Any], ...] = tuple(
            link for s in self.systems.values() for link in s.links
        )
        # A setting takes effect once it is on disk (see on_command).
        self.committer = SettingsCommitter(
            self.store,
            self._settings_committed,
            in_effect=saved,
            on_unsaved=lambda _: self._publish(),  # shows at once they are (not) only in memory
        )
        self._calendar_origin = self.calendar_now()  # the program clock's (see program_time)
        self.remote_samples: dict[str, RemoteSample] = {}  # the remote sensors' last values
        self.started_at: float | None = None  # controller time of the first control tick
        self.cycles = 0
        self.notifier = notifier or SystemdNotifier()
        self.start_timeout_s = start_timeout_s
        self.cycle_budget_s = CYCLE_BUDGET_S
        # Wall (loop) time by which the control loop must have moved on; past it, it is stalled.
        self.tick_deadline = float("inf")
        self.last_cycle_error: str | None = None
        self._actuate_lock = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self.cycle_done = asyncio.Event()

    @property
    def only_system(self) -> SystemControl:
        """The config's one system (ValueError where it has several)."""
        return self.systems[self.loaded.only_system.name]

    def system_of(self, zone_id: str) -> SystemControl:
        """The system whose heads include the zone's."""
        return self._system_of[zone_id]

    @property
    def odu(self) -> OduLink:
        """The link to the one system's outdoor unit (KeyError where it has none)."""
        odu = self.only_system.odu_link
        if odu is None:
            raise KeyError("the config has no [outdoor_unit]")
        return odu

    @property
    def controller(self) -> Controller:
        """The one system's control (the benchmark's `Controller`)."""
        return self.only_system.controller

    @property
    def output(self) -> ControlOutput | None:
        """The one system's last control output."""
        return self.only_system.output

    @property
    def settings(self) -> SavedState:
        """The settings in effect: their one copy, the committer's."""
        return self.committer.in_effect

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

    def house_calendar(self) -> float:
        """Calendar time (Unix seconds) as the house lives it: the weekly programs and the
        weather forecast are read on it. Under ``time_scale`` it runs that much faster from
        the supervisor's start, in step with a sped-up simulated house, as the control's clock
        does."""
        origin = self._calendar_origin
        return origin + (self.calendar_now() - origin) * self.time_scale

    def program_time(self) -> float:
        """Local time for the weekly programs (`programs.local_seconds`, the host's time zone)."""
        return local_seconds(self.house_calendar())

    # ---- lifecycle --------------------------------------------------------------------
    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            for bus in self.buses.values():
                group.create_task(bus.run(), name=f"bus-{bus.name}")
            group.create_task(self._cycle_forever(), name="control")
            if self.notifier.enabled:
                group.create_task(report_to_systemd(self.notifier, self), name="systemd")
            if self.bridge is not None:
                group.create_task(self.bridge.run(), name="mqtt")

    async def _cycle_forever(self) -> None:
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
            await asyncio.sleep(pause / self.time_scale)

    # ---- systemd ----------------------------------------------------------------------
    def reached_units(self) -> bool:
        return any(link.available for link in self.links)

    def not_started_reason(self) -> str:
        down = [f"bus {name} not connected" for name, b in self.buses.items() if not b.connected]
        return self.last_cycle_error or ", ".join(down) or "no unit answered"

    def status_line(self) -> str:
        """One line for systemd's STATUS=: zones ok/total, the ODU's mode and speed, faults;
        each system's in turn where there are several."""
        unsaved = self.committer.unsaved
        if len(self.systems) == 1:
            return self.only_system.status_line(unsaved)
        return " | ".join(f"{n}: {s.status_line(unsaved)}" for n, s in self.systems.items())

    # ---- one cycle --------------------------------------------------------------------
    async def cycle(self) -> None:
        for link in self.links:
            if await link.probe(self.now()) and isinstance(link, HeadLink) and self.bridge:
                self.bridge.set_head_info(link.name, link.info)
        await poll_all(self.links)
        for zone_id, head in self.heads.items():
            fresh = head.status if head.failed_polls == 0 else None
            if fresh is not None and fresh.remote_request is not None:
                await self._adopt_remote(zone_id, fresh.remote_request)
        for system in self.systems.values():
            if any([link.notice_autonomous() for link in system.links]):
                system.heartbeats.lapsed()  # beat now rather than at the usual third of the timeout
        await asyncio.gather(
            *(s.heartbeats.beat_if_due(s.links, self.now()) for s in self.systems.values())
        )
        self._apply_programs()
        await self.actuate()
        self.cycles += 1
        self.cycle_done.set()
        self.cycle_done.clear()

    # ---- control and actuation ---------------------------------------------------------
    async def actuate(self) -> None:
        """Run each system's control tick (the same `Controller` the benchmark scores) on the
        latest measurements and write what changed."""
        async with self._actuate_lock:
            now = self.now()
            if self.started_at is None:
                self.started_at = now
            upcoming = self.programs.upcoming(self.settings, self.program_time(), now)
            forecast = self.weather.for_control(now, self.house_calendar())
            outputs = await asyncio.gather(
                *(
                    s.actuate(
                        self.settings,
                        now,
                        self.calendar_now(),
                        self.remote_samples,
                        self.started_at,
                        upcoming,
                        forecast,
                    )
                    for s in self.systems.values()
                )
            )
            for system, output in zip(self.systems.values(), outputs, strict=True):
                for zone_id in ended_boosts(output, self.settings, self.wanted_settings()):
                    log.info("zone %s: the boost is over: back to comfort", zone_id)
                    self.on_command(ZoneCommand(zone_id, SetPreset(Preset.COMFORT)))
                learned = with_defrost_interval(
                    system.controller, system.name, self.wanted_settings()
                )
                if learned is not None:
                    self.committer.submit(learned)
            rates = self.room_rates.with_rates(
                (s.controller.state for s in self.systems.values()), self.wanted_settings(), now
            )
            if rates is not None:
                self.committer.submit(rates)
            self._publish()

    # ---- commands from MQTT and from the handheld remotes ---------------------------------
    def on_command(self, command: Command) -> None:
        """Apply a validated command. A setting takes effect once it is on disk, and is then
        written to the units at once (commands jump the bus queue): whatever the controller has
        acted on or published survives kill -9 and power loss (SettingsCommitter)."""
        wanted = self.wanted_settings()
        if isinstance(command, ZoneCommand):
            zone_settings = apply_zone(wanted.zones[command.zone_id], command.change)
            wanted = wanted.with_zone(command.zone_id, zone_settings, self.calendar_now())
        elif isinstance(command, ProgramCommand):
            wanted = self._programs_applied(self._with_program(wanted, command))
        else:  # its system by its level in the topics, which is its name (None: the only one)
            name = command.system or self.loaded.only_system.name
            wanted = wanted.with_unit(name, apply_unit(wanted.unit_of(name), command.change))
        self.committer.submit(wanted)

    def _with_program(self, state: SavedState, command: ProgramCommand) -> SavedState:
        """``state`` with a zone's program sent over MQTT (none: the config's, if any, applies
        again) followed from its point in effect, as `set/schedule ON` makes it."""
        zone_id = command.zone_id
        log.info(
            "zone %s: program of %d switch points set over MQTT%s",
            zone_id,
            len(command.points),
            "" if command.points else " (cleared)",
        )
        settings = apply_zone(state.zones[zone_id], SetSchedule(True))
        state = state.with_program(zone_id, command.points)
        state = state.with_zone(zone_id, settings, self.calendar_now())
        return state.with_schedule_applied(zone_id, None)

    def _apply_programs(self) -> None:
        """Each switch point of a zone's program crossed since the last cycle becomes the
        zone's settings, committed as an MQTT command is; a manual change made since the last
        point applied holds until the next (`core.schedule.due_switch`)."""
        wanted = self.wanted_settings()
        after = self._programs_applied(wanted)
        if after is not wanted:  # else nothing was due
            self.committer.submit(after)

    def _programs_applied(self, wanted: SavedState) -> SavedState:
        """``wanted`` with the switch points due now applied, each one logged."""
        after = self.programs.apply_due(wanted, self.program_time(), self.calendar_now())
        for zone_id, at_s in after.schedule_applied.items():
            if wanted.schedule_applied.get(zone_id) != at_s:
                settings = after.zones[zone_id]
                log.info(
                    "zone %s: the program's switch point of %s: %s %g °C (%g..%g °C)",
                    zone_id,
                    local_time_text(at_s),
                    settings.mode.value,
                    settings.target_temperature,
                    settings.target_temperature_low,
                    settings.target_temperature_high,
                )
        return after

    def on_forecast(self, forecast: WeatherForecast) -> None:
        """A weather forecast sent over MQTT: the control goes by it from the next tick on
        (`ForecastInput.take` refuses one all in the past, and the one in use is kept)."""
        self.weather.take(forecast, self.house_calendar())
        self._publish_forecast()

    def on_remote_reading(self, zone_id: str, celsius: float) -> None:
        """A room temperature from the zone's remote sensor: the next control tick follows it."""
        self.remote_samples[zone_id] = RemoteSample(celsius, self.now())

    def wanted_settings(self) -> SavedState:
        """The settings last asked for: in effect, or on their way to disk."""
        return self.committer.wanted

    def _settings_committed(self, state: SavedState) -> None:
        self.programs.follow(state)
        task = asyncio.get_running_loop().create_task(self.actuate())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _adopt_remote(self, zone_id: str, request: RemoteRequest) -> None:
        """A change made on the head's handheld remote becomes the zone's setting (committed,
        so published and persisted), then the head is told it was adopted."""
        zone = self.loaded.config.zone(zone_id)
        shown = self._system_of[zone_id].shown_setpoint(zone_id)
        wanted = self.wanted_settings()
        before = wanted.zones[zone_id]
        after = adopt_remote_request(
            before,
            request,
            shown_setpoint=shown,
            limits=(zone.min_temperature, zone.max_temperature),
        )
        if after != before:
            old, new = before.to_dict(), after.to_dict()
            changes = {key: value for key, value in new.items() if old[key] != value}
            log.info("zone %s: adopted a change made on the handheld remote: %s", zone_id, changes)
            self.committer.submit(wanted.with_zone(zone_id, after, self.calendar_now()))
            await self.committer.flush()
        await self.heads[zone_id].ack_remote()

    def save(self) -> None:
        """Write the settings a last time, at shutdown: including any still on their way to
        disk, and any a failed write left unsaved."""
        try:
            self.store.save_last(self.wanted_settings())
        except OSError as err:
            log.error("cannot write state file %s: %s; unsaved settings lost", self.store.path, err)

    # ---- state for MQTT and the live view -----------------------------------------------
    def zone_state(self, zone_id: str) -> state_report.ZoneState:
        program = self.programs.next_switch(self.settings, zone_id, self.program_time())
        return self._system_of[zone_id].zone_state(zone_id, program)

    def unit_state(self, system: str | None = None) -> state_report.UnitState:
        """The unit state of ``system`` (the config's one system if not given)."""
        name = system or self.loaded.only_system.name
        return self.systems[name].unit_state(self.committer.unsaved)

    def _publish(self) -> None:
        if self.bridge is None:
            return
        for zone_id in self.heads:
            self.bridge.publish_zone_state(zone_id, self.zone_state(zone_id))
            self.bridge.publish_zone_program(zone_id, self.programs.points(self.settings, zone_id))
        for system in self.systems.values():
            self.bridge.publish_unit_state(
                system.unit_state(self.committer.unsaved), system.system.topic_level
            )
        self._publish_forecast()

    def _publish_forecast(self) -> None:
        """The forecast in use, when it changed (taken, or run out) since last published."""
        if self.bridge is None or self._forecast_published == self.weather.revision:
            return
        self._forecast_published = self.weather.revision
        self.bridge.publish_forecast(self.weather.points)

    def snapshot(self) -> Mapping[str, object]:
        """Everything the live view and the status line show, as plain data."""
        return {
            "zones": {zone_id: self.zone_state(zone_id) for zone_id in self.heads},
            "units": {n: s.unit_state(self.committer.unsaved) for n, s in self.systems.items()},
            "outdoor_units": {n: s.odu_link is not None for n, s in self.systems.items()},
            "cycles": self.cycles,
            "transactions": sum(b.total_transactions for b in self.buses.values()),
        }


async def run_supervisor(
    loaded: LoadedConfig, time_scale: float = 1.0, start_timeout_s: float = START_TIMEOUT_S
) -> None:
    supervisor = Supervisor(loaded, time_scale=time_scale, start_timeout_s=start_timeout_s)
    try:
        await supervisor.run()
    finally:
        supervisor.notifier.notify("STOPPING=1")
        supervisor.save()
