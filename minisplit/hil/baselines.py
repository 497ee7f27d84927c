"""The benchmark's reference controllers (docs/benchmark.md), each as good as its definition allows.

- `OnOffController`: a single-speed system. Each zone is a ±0.5 K hysteresis thermostat on the
  head's own sensor (setpoint raised by the sensor's mean bias, as a homeowner would); the
  compressor runs at the rated 60 Hz whenever any zone calls, with 180 s minimum off and on and
  heat↔cool only through stop + 180 s (within the minimum run the heads it served stay open
  although satisfied: with none open the unit would stop). Refrigerant goes to the calling
  heads only, so the delivered heat is limited by their coils: the outdoor unit's firmware caps
  its speed to what the receiving heads can condense (`hil.firmware`), and the plant model then
  sets condensing temperature, COP and power from that delivered load. That is how a
  fixed-speed compressor feeding a small coil behaves (high head pressure, low COP), expressed
  in the same plant.
- `stock` needs no class: it is the units' own logic (`hil.firmware` autonomous fallback —
  each head a P-controller on its own sensor, the ODU frequency from the sum of the heads'
  requests through its capacity map, cycling with the 180 s interlocks below the minimum
  frequency); the benchmark only sets each head's display setpoint (raised by the mean bias)
  and mode, and never sends a heartbeat.
- `passthrough` needs none either: setpoint-driven heads (`hil.firmware.HeadThermostat`, each
  on its own thermostat, the outdoor unit following their demand) given the homeowner's
  power, mode, fan and setpoint unchanged, as a Home Assistant Modbus climate entity or the
  interface vendor's app does: no bias correction (unlike `stock`), nothing written to an
  external-temperature register (`hil.bench.run_passthrough`).

Pure: no I/O, no clock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from minisplit.controller.core.interlocks import InterlockLimits
from minisplit.controller.core.observation import HeadReport
from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.drivers.records import HeadCommand, OduCommand
from minisplit.drivers.vocabulary import HeadMode, OduMode, VanePosition
from minisplit.hil.controllers import Commands, Reports
from minisplit.hil.heatpump import ODU_COOL, ODU_HEAT, ODU_OFF

HYSTERESIS_K = 0.5
RATED_HZ = 60.0


def call_direction(settings: ZoneSettings, previous: OduMode) -> OduMode:
    """Which way the zone's thermostat works: the unit's mode it needs, `off` for none (the zone
    is off or fan only)."""
    mode = settings.mode
    if mode is ZoneMode.HEAT:
        return ODU_HEAT
    if mode in (ZoneMode.COOL, ZoneMode.DRY):
        return ODU_COOL
    if mode is ZoneMode.HEAT_COOL:
        return ODU_HEAT if previous is ODU_OFF else previous
    return ODU_OFF


@dataclass
class OnOffController:
    limits: InterlockLimits = field(default_factory=InterlockLimits)
    calling: dict[str, bool] = field(default_factory=dict)
    directions: dict[str, OduMode] = field(default_factory=dict)
    mode: OduMode = ODU_OFF
    running: bool = False
    started_at: float = -1e9
    stopped_at: float = -1e9
    served: frozenset[str] = frozenset()  # the heads that took refrigerant last step

    def _thermostat(
        self, zone: str, settings: ZoneSettings, sensor: float | None, bias_k: float
    ) -> bool:
        direction = call_direction(settings, self.directions.get(zone, ODU_OFF))
        if settings.mode is ZoneMode.HEAT_COOL and sensor is not None:
            # switch direction only past the far side of the other setpoint's band
            if sensor - bias_k > settings.target_temperature_high + HYSTERESIS_K:
                direction = ODU_COOL
            elif sensor - bias_k < settings.target_temperature_low - HYSTERESIS_K:
                direction = ODU_HEAT
        self.directions[zone] = direction
        if direction is ODU_OFF or sensor is None:
            return False
        if settings.mode is ZoneMode.HEAT_COOL:
            target = (
                settings.target_temperature_low
                if direction is ODU_HEAT
                else settings.target_temperature_high
            )
        else:
            target = settings.target_temperature
        error = (target + bias_k) - sensor
        if direction is ODU_COOL:
            error = -error
        was = self.calling.get(zone, False)
        calls = error > HYSTERESIS_K or (was and error > -HYSTERESIS_K)
        self.calling[zone] = calls
        return calls

    def step(
        self,
        now: float,
        settings: Mapping[str, ZoneSettings],
        sensors: Mapping[str, float | None],
        bias_k: Mapping[str, float],
    ) -> tuple[OduCommand, dict[str, HeadCommand]]:
        calls = {
            zone: self._thermostat(zone, s, sensors[zone], bias_k.get(zone, 0.0))
            for zone, s in settings.items()
        }
        wanted_heat = any(c and self.directions[z] is ODU_HEAT for z, c in calls.items())
        wanted_cool = any(c and self.directions[z] is ODU_COOL for z, c in calls.items())
        if self.running:
            keep = (self.mode is ODU_HEAT and wanted_heat) or (
                self.mode is ODU_COOL and wanted_cool
            )
            if not keep and now - self.started_at >= self.limits.min_on_s:
                self.running, self.stopped_at = False, now
        else:
            wanted = ODU_HEAT if wanted_heat else ODU_COOL if wanted_cool else ODU_OFF
            wait = self.limits.min_off_s
            if self.mode is not ODU_OFF and self.mode is not wanted:
                wait = max(wait, self.limits.mode_change_wait_s)
            if wanted is not ODU_OFF and now - self.stopped_at >= wait:
                self.running, self.mode, self.started_at = True, wanted, now
        odu = OduCommand(self.mode, RATED_HZ if self.running else 0.0)
        # Within the minimum run, a head that was served stays open although its thermostat is
        # satisfied: refrigerant needs an open head, and the run must last its 180 s.
        young = self.running and now - self.started_at < self.limits.min_on_s
        heads = {}
        served_now = set()
        for zone, s in settings.items():
            direction = self.directions[zone]
            served = (
                self.running  # in a mode other than off
                and direction is self.mode
                and (calls[zone] or (young and zone in self.served))
            )
            if served:
                served_now.add(zone)
            heads[zone] = HeadCommand(
                power=s.mode is not ZoneMode.OFF,
                mode=HeadMode.DRY
                if s.mode is ZoneMode.DRY
                else HeadMode.FAN_ONLY
                if s.mode is ZoneMode.FAN_ONLY
                else HeadMode.COOL
                if direction is ODU_COOL
                else HeadMode.HEAT,
                fan=s.fan_mode,
                vane_vertical=VanePosition.AUTO,
                vane_horizontal=VanePosition.AUTO,
                capacity_request_pct=100.0 if served else 0.0,
                display_setpoint=round(s.target_temperature, 1),
            )
        self.served = frozenset(served_now)
        return odu, heads


@dataclass
class OnOffBaseline:
    """`OnOffController` behind the bench's interface (`hil.controllers.DirectController`):
    each zone's thermostat reads its head's sensor as the head reports it, the setpoint raised
    by ``bias_k``."""

    bias_k: Mapping[str, float]
    controller: OnOffController = field(default_factory=OnOffController)

    def step(self, now: float, reports: Reports) -> Commands:
        settings, heads = reports.settings, reports.heads
        sensors = {zone: _reading(heads[zone]) for zone in settings}
        return Commands(*self.controller.step(now, settings, sensors, self.bias_k))


def _reading(head: HeadReport) -> float | None:
    """The head's return-air reading, None while it has none."""
    return None if head.status is None else head.status.return_air_temperature
