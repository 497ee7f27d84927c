"""One system of the controller: an outdoor unit (or none reached) and the heads it serves,
arbitrated on its own (docs/architecture.md, 'Systems').

It holds the system's unit links, its observation step, its `Controller` (mode arbitration,
compressor, interlocks: the code the benchmark scores) and, for setpoint-driven heads, its
`SetpointStrategy`; each tick it decides on the settings in effect and writes what changed.
The supervisor runs every system in the same cycle and owns what they share: the buses, the
settings and their one copy on disk, MQTT."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from minisplit.controller.config import HeatPumpSystem, LoadedConfig, Strategy
from minisplit.controller.core.control import ControlOutput, ControlState
from minisplit.controller.core.forecast import Forecast
from minisplit.controller.core.frost import resumed_frost
from minisplit.controller.core.head_setpoint import HeadSetting, HeadZoneInput, SetpointStrategy
from minisplit.controller.core.observation import (
    NO_ODU,
    NO_SWITCHES,
    Observation,
    Observer,
    RemoteSample,
)
from minisplit.controller.core.schedule import Switch
from minisplit.controller.core.tick import Controller
from minisplit.controller.service import state_report
from minisplit.controller.service.persistence import SavedState
from minisplit.controller.service.restart_memory import BoostCounter, resumed_lookahead
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
    UnitLink,
    unit_links,
)
from minisplit.controller.tuning import (
    control_tuning,
    sensor_check,
    setpoint_tuning,
    zone_setup,
)
from minisplit.drivers.bus import BusScheduler
from minisplit.drivers.vocabulary import ZoneAction

log = logging.getLogger(__name__)


class SystemControl:
    """The control of one system: its links, observation, decision and writes."""

    def __init__(
        self,
        loaded: LoadedConfig,
        system: HeatPumpSystem,
        buses: Mapping[str, BusScheduler],
        saved: SavedState,
        *,
        time_scale: float,
        on_availability: Callable[[str, bool], None] | None = None,
    ) -> None:
        self.system = system
        self.name = system.name
        self.tuning = control_tuning(loaded, system)
        self.odu_link, self.heads = unit_links(loaded, system, buses, on_availability)
        odu_links = () if self.odu_link is None else (self.odu_link,)
        self.links: tuple[UnitLink[Any, Any, Any], ...] = (*odu_links, *self.heads.values())
        self.heartbeats = Heartbeats(system.heartbeat_timeout_s)
        # Setpoint-driven heads: their loop (the `Controller` runs all the same for the room
        # sensors, the presets and the boost; its compressor commands are not written).
        self.setpoint_control = (
            SetpointStrategy(setpoint_tuning(loaded, system))
            if system.strategy is Strategy.SETPOINT
            else None
        )
        self.setpoint_zones: dict[str, SetpointZone] = {}
        self._external = ExternalFeed()
        self.boosts = BoostCounter(self.tuning.presets.boost_duration_s, time_scale)
        self.controller = Controller(
            self.tuning,
            state=ControlState(
                frost=resumed_frost(saved.defrost_intervals_s.get(self.name)),
                lookahead=resumed_lookahead(saved, (zone.id for zone in system.zones)),
            ),
            sensor_check=sensor_check(loaded.config.sensor_check),
        )
        setups = {zone.id: zone_setup(zone) for zone in system.zones}
        self.observer = Observer(setups, self.tuning.coordinator.limits)
        self.sensor_log = SensorFaultLog()
        self.output: ControlOutput | None = None
        # The weather forecast the control went by in the last tick (None: none).
        self.forecast: Forecast | None = None
        self.observation = self.observe(saved, 0.0, {}, None)

    def observe(
        self,
        settings: SavedState,
        now: float,
        samples: Mapping[str, RemoteSample],
        started_at: float | None,
        upcoming: Mapping[str, Switch] = NO_SWITCHES,
    ) -> Observation:
        return self.observer.observe(
            NO_ODU if self.odu_link is None else self.odu_link.report(),
            {zone_id: head.report() for zone_id, head in self.heads.items()},
            settings.zones,
            settings.unit_of(self.name),
            now,
            samples=samples,
            started_at=started_at,
            upcoming=upcoming,
        )

    async def actuate(
        self,
        settings: SavedState,
        now: float,
        calendar_now: float,
        samples: Mapping[str, RemoteSample],
        started_at: float | None,
        upcoming: Mapping[str, Switch] = NO_SWITCHES,
        forecast: Forecast | None = None,
    ) -> ControlOutput:
        """Run the system's control tick on the latest measurements and write what changed;
        ``upcoming``: the zones' next switch points (the observer keeps those of its zones),
        ``forecast``: the weather ahead on the control's clock, if one is given."""
        seen = self.observation = self.observe(settings, now, samples, started_at, upcoming)
        self.boosts.count(self.controller, settings, now, calendar_now)
        self.forecast = forecast if self.tuning.forecast.enabled else None
        decision = self.controller.step(
            seen.zones, seen.unit, now, seen.remotes, self._delivering(), self.forecast
        )
        self.output = decision.output
        self.sensor_log.note(self.controller.sensors, self.controller.inputs, seen.heads)
        if decision.refusal is not None:
            log.error(
                "%s: ODU command refused by the safety check: %s (%s)",
                self.name,
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
        return decision.output

    def _delivering(self) -> frozenset[str] | None:
        """The setpoint heads that heated or cooled in the last tick (their thermostats
        called): what the sensor check weighs a reading against where no compressor of this
        control runs. None for the direct control (its coordinator knows)."""
        if self.setpoint_control is None:
            return None
        return frozenset(
            zone_id
            for zone_id, zone in self.setpoint_zones.items()
            if zone.action in (ZoneAction.HEATING, ZoneAction.COOLING)
        )

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

    def shown_setpoint(self, zone_id: str) -> float | None:
        """What the zone's head shows as its setpoint: the loop's setpoint where the heads are
        driven by it, else the display setpoint last commanded."""
        if (setpoint := self.setpoint_zones.get(zone_id)) is not None:
            return setpoint.setting.setpoint
        out = self.output.zones.get(zone_id) if self.output else None
        return out.head.display_setpoint if out else None

    # ---- state for MQTT, the live view and systemd --------------------------------------
    def zone_state(
        self, zone_id: str, program: state_report.ProgramState | None = None
    ) -> state_report.ZoneState:
        followed = self.controller.inputs.get(zone_id)
        sensors = self.controller.sensors.get(zone_id)  # their faults as of the last tick
        faults = sensors.faults() if sensors else ()
        setpoint = self.setpoint_zones.get(zone_id)
        return state_report.zone_state(
            zone_id,
            self.observation,
            self.output,
            followed,
            faults,
            setpoint,
            program,
            self.forecast_hold(zone_id),
        )

    def forecast_hold(self, zone_id: str) -> bool | None:
        """Whether the forecast holds the zone at the cheap side of its band (None: the control
        went by no forecast in the last tick)."""
        if self.forecast is None:
            return None
        look = self.controller.state.lookahead.get(zone_id)
        return look is not None and look.held

    def unit_state(self, unsaved: bool) -> state_report.UnitState:
        # The setpoint strategy sets no compressor: the direct control's target is not shown.
        output = self.output if self.setpoint_control is None else None
        return state_report.unit_state(self.observation, output, unsaved)

    def status_line(self, unsaved: bool) -> str:
        faults = {zone_id: s.faults() for zone_id, s in self.controller.sensors.items()}
        return state_report.status_line(self.observation, faults, unsaved)
