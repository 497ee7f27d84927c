"""The supervisor: an asyncio TaskGroup of the bus owners, the control tick and the MQTT bridge.

The imperative shell around the pure control core, which only orchestrates: each cycle its unit
links (`unit_link`) probe and poll the units, the observation step (`observation`) turns their
reports and the settings into the control's inputs, the `Controller` (sensor check, control
step and safety check: the very code the benchmark scores) decides, the links write what
changed, and the state made from the same observation (`state_report`) is published. Settings
take effect once on disk (`persistence.SettingsCommitter`, their one copy). Time comes only from
the event loop (scaled by ``time_scale`` so that it runs in step with an accelerated
simulator)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from minisplit.controller.config import LoadedConfig, Strategy
from minisplit.controller.core.control import ControlOutput, ControlState
from minisplit.controller.core.frost import resumed_frost
from minisplit.controller.core.handheld import adopt_remote_request
from minisplit.controller.core.head_setpoint import HeadSetting, HeadZoneInput, SetpointStrategy
from minisplit.controller.core.observation import NO_ODU, Observation, Observer, RemoteSample
from minisplit.controller.core.settings import Preset
from minisplit.controller.core.tick import Controller
from minisplit.controller.core.transitions import SetPreset, apply_unit, apply_zone
from minisplit.controller.service import state_report
from minisplit.controller.service.commands import Command, ZoneCommand
from minisplit.controller.service.mqtt_bridge import MqttBridge
from minisplit.controller.service.notify import SystemdNotifier, report_to_systemd
from minisplit.controller.service.persistence import (
    SavedState,
    SettingsCommitter,
    StateStore,
    fit_to_zones,
)
from minisplit.controller.service.restart_memory import (
    BoostCounter,
    ended_boosts,
    with_defrost_interval,
)
from minisplit.controller.service.sensor_log import SensorFaultLog
from minisplit.controller.service.setpoint_heads import (
    ExternalFeed,
    SetpointZone,
    head_command,
    strategy_inputs,
    zone_action,
)
from minisplit.controller.service.unit_link import (
    HeadLink,
    Heartbeats,
    OduLink,
    UnitLink,
    poll_all,
    unit_links,
)
from minisplit.controller.tuning import (
    control_tuning,
    sensor_check,
    setpoint_tuning,
    zone_setup,
)
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
        self.tuning = control_tuning(loaded)
        # Re-probe an offline unit once per control period (wall seconds), so that a head that
        # returns resumes within two cycles; an absent unit costs one timeout per period.
        reprobe = Backoff(self.period_s / time_scale, self.period_s / time_scale)
        self.buses = {
            name: BusScheduler(name, bus, probe_backoff=reprobe, time_scale=time_scale)
            for name, bus in config.buses.items()
        }
        self.bridge = (
            MqttBridge(
                config.mqtt,
                config.controller_id,
                config.zones,
                self.on_command,
                self.on_remote_reading,
                capabilities={
                    zone.id: capabilities(loaded.head_profile(zone)) for zone in config.zones
                },
                outdoor_unit=config.outdoor_unit is not None,
                odu_capabilities=capabilities(loaded.odu_profile) if loaded.odu_profile else None,
            )
            if config.mqtt is not None
            else None
        )
        publish = self.bridge.publish_zone_availability if self.bridge else None
        self.odu_link, self.heads = unit_links(loaded, self.buses, publish)
        odu_links = () if self.odu_link is None else (self.odu_link,)
        self.links: tuple[UnitLink[Any, Any, Any], ...] = (*odu_links, *self.heads.values())
        self.heartbeats = Heartbeats(config.heartbeat_timeout_s)
        # Setpoint-driven heads: their loop (the `Controller` runs all the same for the room
        # sensors, the presets and the boost; its compressor commands are not written).
        self.strategy = loaded.strategy
        self.setpoint_control = (
            SetpointStrategy(setpoint_tuning(loaded))
            if self.strategy is Strategy.SETPOINT
            else None
        )
        self.setpoint_zones: dict[str, SetpointZone] = {}
        self._external = ExternalFeed()
        self.store = StateStore(config.state_file)
        saved = self.store.load()
        # A setting takes effect once it is on disk (see on_command).
        self.committer = SettingsCommitter(
            self.store,
            self._settings_committed,
            in_effect=fit_to_zones(saved, config.zones),
            on_unsaved=lambda _: self._publish(),  # shows at once they are (not) only in memory
        )
        self.boosts = BoostCounter(self.tuning.presets.boost_duration_s, time_scale)
        self.controller = Controller(
            self.tuning,
            state=ControlState(frost=resumed_frost(saved.defrost_interval_s)),
            sensor_check=sensor_check(config.sensor_check),
        )
        setups = {zone.id: zone_setup(zone) for zone in config.zones}
        self.observer = Observer(setups, self.tuning.coordinator.limits)
        self.remote_samples: dict[str, RemoteSample] = {}  # the remote sensors' last values
        self.started_at: float | None = None  # controller time of the first control tick
        self.observation = self._observe(0.0)
        self.output: ControlOutput | None = None
        self.sensor_log = SensorFaultLog()
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
    def odu(self) -> OduLink:
        """The link to the outdoor unit (KeyError where the config has no `[outdoor_unit]`)."""
        if self.odu_link is None:
            raise KeyError("the config has no [outdoor_unit]")
        return self.odu_link

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
        """One line for systemd's STATUS=: zones ok/total, the ODU's mode and speed, faults."""
        faults = {zone_id: s.faults() for zone_id, s in self.controller.sensors.items()}
        return state_report.status_line(self.observation, faults, self.committer.unsaved)

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
        if any([link.notice_autonomous() for link in self.links]):
            self.heartbeats.lapsed()  # beat now rather than at the usual third of the timeout
        await self.heartbeats.beat_if_due(self.links, self.now())
        await self.actuate()
        self.cycles += 1
        self.cycle_done.set()
        self.cycle_done.clear()

    # ---- control and actuation ---------------------------------------------------------
    def _observe(self, now: float) -> Observation:
        state = self.settings
        return self.observer.observe(
            NO_ODU if self.odu_link is None else self.odu_link.report(),
            {zone_id: head.report() for zone_id, head in self.heads.items()},
            state.zones,
            state.unit,
            now,
            samples=self.remote_samples,
            started_at=self.started_at,
        )

    async def actuate(self) -> None:
        """Run the control tick (the same `Controller` the benchmark scores) on the latest
        measurements and write what changed."""
        async with self._actuate_lock:
            now = self.now()
            if self.started_at is None:
                self.started_at = now
            seen = self.observation = self._observe(now)
            self.boosts.count(self.controller, self.settings, now, self.calendar_now())
            decision = self.controller.step(seen.zones, seen.unit, now, seen.remotes)
            self.output = decision.output
            for zone_id in ended_boosts(decision.output, self.settings, self.wanted_settings()):
                log.info("zone %s: the boost is over: back to comfort", zone_id)
                self.on_command(ZoneCommand(zone_id, SetPreset(Preset.COMFORT)))
            if (
                learned := with_defrost_interval(self.controller, self.wanted_settings())
            ) is not None:
                self.committer.submit(learned)
            self.sensor_log.note(self.controller.sensors, self.controller.inputs, seen.heads)
            if decision.refusal is not None:
                log.error(
                    "ODU command refused by the safety check: %s (%s)",
                    decision.refusal,
                    decision.output.odu,
                )
            if self.setpoint_control is not None:
                await self._write_setpoints(seen, decision.output, now)
            else:
                writes = [self._write_heads(decision.output)]
                if decision.odu_command is not None and self.odu_link is not None:
                    writes.append(self.odu_link.write(decision.odu_command))
                await asyncio.gather(*writes)
            self._publish()

    async def _write_setpoints(self, seen: Observation, output: ControlOutput, now: float) -> None:
        """The setpoint strategy's step, its settings written to the heads that answer (each
        register only when it changed; the external temperature whenever the strategy
        (re)writes it)."""
        assert self.setpoint_control is not None
        thermo_on = {
            zone_id: None if head.status is None else head.status.thermo_on
            for zone_id, head in self.heads.items()
        }
        inputs = strategy_inputs(seen, self.controller.inputs, output, thermo_on)
        settings = self.setpoint_control.step(inputs, now)
        self.setpoint_zones = {
            zone_id: SetpointZone(setting, zone_action(setting, thermo_on[zone_id]))
            for zone_id, setting in settings.items()
        }
        await asyncio.gather(
            *(
                self._write_setpoint_head(zone_id, head, settings[zone_id], inputs[zone_id])
                for zone_id, head in self.heads.items()
                if head.available
            )
        )

    async def _write_setpoint_head(
        self, zone_id: str, head: HeadLink, setting: HeadSetting, given: HeadZoneInput
    ) -> None:
        await head.write(head_command(setting, given.settings))
        await self._external.write(zone_id, head, setting)

    async def _write_heads(self, output: ControlOutput) -> None:
        commands = {zone_id: out.head for zone_id, out in output.zones.items()}
        odu = self.odu_link
        if odu is None or not odu.available:  # no refrigerant to share: the heads ask for none
            commands = {z: replace(c, capacity_request_pct=0.0) for z, c in commands.items()}
        await asyncio.gather(*(h.write(commands[z]) for z, h in self.heads.items() if h.available))

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
        self.remote_samples[zone_id] = RemoteSample(celsius, self.now())

    def wanted_settings(self) -> SavedState:
        """The settings last asked for: in effect, or on their way to disk."""
        return self.committer.wanted

    def _settings_committed(self, state: SavedState) -> None:
        task = asyncio.get_running_loop().create_task(self.actuate())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _adopt_remote(self, zone_id: str, request: RemoteRequest) -> None:
        """A change made on the head's handheld remote becomes the zone's setting (committed,
        so published and persisted), then the head is told it was adopted."""
        zone = self.loaded.config.zone(zone_id)
        out = self.output.zones.get(zone_id) if self.output else None
        shown = out.head.display_setpoint if out else None
        if (setpoint := self.setpoint_zones.get(zone_id)) is not None:
            shown = setpoint.setting.setpoint  # what the head shows: the loop's setpoint
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
        followed = self.controller.inputs.get(zone_id)
        sensors = self.controller.sensors.get(zone_id)  # their faults as of the last tick
        faults = sensors.faults() if sensors else ()
        setpoint = self.setpoint_zones.get(zone_id)
        return state_report.zone_state(
            zone_id, self.observation, self.output, followed, faults, setpoint
        )

    def unit_state(self) -> state_report.UnitState:
        # The setpoint strategy sets no compressor: the direct control's target is not shown.
        output = self.output if self.setpoint_control is None else None
        return state_report.unit_state(self.observation, output, self.committer.unsaved)

    def _publish(self) -> None:
        if self.bridge is None:
            return
        for zone_id in self.heads:
            self.bridge.publish_zone_state(zone_id, self.zone_state(zone_id))
        self.bridge.publish_unit_state(self.unit_state())

    def snapshot(self) -> Mapping[str, object]:
        """Everything the live view and the status line show, as plain data."""
        return {
            "zones": {zone_id: self.zone_state(zone_id) for zone_id in self.heads},
            "unit": self.unit_state(),
            "outdoor_unit": self.odu_link is not None,
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
