"""A plain PI per room driving the compressor: the example of a controller of one's own for
`minisplit bench --controller minisplit.hil.examples.pi:PerRoomPI` (docs/benchmark.md, 'Your
own controller'). Copy it as a starting point.

Each zone's demand (0…1) is a PI on its head's own return-air reading, less the 1.5 K that the
reference head's sensor reads warm while it heats: 0.5 per kelvin short of the setpoint,
integral time 30 minutes, the integral held within 0…1. The outdoor unit runs in
the direction of the first zone that calls, at its minimum speed plus the largest demand's share
of its range; it starts once a demand passes 5 % and stops when none is left, each state held
at least 180 s, and changes direction only through a stop. Each head asks for its demand's
share of the refrigerant. Nothing more: no bias that builds up and fades with the coil, no
defrost anticipation, no low-load strategy; the shipped controller's rows show what those are
worth."""

from __future__ import annotations

from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.drivers.records import HeadCommand, OduCommand
from minisplit.drivers.vocabulary import HeadMode, OduMode, VanePosition
from minisplit.hil.controllers import BenchUnit, Commands, Reports

KP_PER_K = 0.5
TI_S = 1800.0
START_DEMAND = 0.05
MIN_STATE_S = 180.0  # the compressor's minimum run and rest
HEATING_BIAS_K = 1.5  # the reference head's sensor above the room air while it heats


def _direction(settings: ZoneSettings, reading: float | None) -> tuple[OduMode, float]:
    """The direction the zone wants and its setpoint for that direction."""
    mode = settings.mode
    if mode is ZoneMode.HEAT:
        return OduMode.HEAT, settings.target_temperature
    if mode in (ZoneMode.COOL, ZoneMode.DRY):
        return OduMode.COOL, settings.target_temperature
    if mode is ZoneMode.HEAT_COOL and reading is not None:
        if reading > settings.target_temperature_high:
            return OduMode.COOL, settings.target_temperature_high
        return OduMode.HEAT, settings.target_temperature_low
    return OduMode.OFF, settings.target_temperature


class PerRoomPI:
    """One PI per zone and a compressor that follows the largest demand (see the module)."""

    def __init__(self, unit: BenchUnit) -> None:
        self.unit = unit
        self.integral = dict.fromkeys(unit.zones, 0.0)
        self.mode = OduMode.OFF
        self.running = False
        self.since = -MIN_STATE_S

    def step(self, now: float, reports: Reports) -> Commands:
        demands: dict[str, float] = {}
        directions: dict[str, tuple[OduMode, float]] = {}
        for zone, settings in reports.settings.items():
            status = reports.heads[zone].status
            reading = None if status is None else status.return_air_temperature
            direction, target = directions[zone] = _direction(settings, reading)
            if direction is OduMode.OFF or reading is None:
                demands[zone] = 0.0
                continue
            if direction is OduMode.HEAT:
                bias = HEATING_BIAS_K if self.running and self.mode is OduMode.HEAT else 0.0
                error = target - (reading - bias)
            else:
                error = reading - target
            integral = self.integral[zone] + KP_PER_K * error * self.unit.period_s / TI_S
            self.integral[zone] = min(max(integral, 0.0), 1.0)
            demands[zone] = min(max(KP_PER_K * error + self.integral[zone], 0.0), 1.0)
        self._compressor(now, demands, directions)
        heads = {
            zone: self._head(settings, directions[zone][0], demands[zone], directions[zone][1])
            for zone, settings in reports.settings.items()
        }
        return Commands(self._odu_command(demands, directions), heads)

    def _compressor(
        self, now: float, demands: dict[str, float], directions: dict[str, tuple[OduMode, float]]
    ) -> None:
        """Start, stop or hold the compressor (each state held at least `MIN_STATE_S`)."""
        if now - self.since < MIN_STATE_S:
            return
        calling = [z for z, d in demands.items() if d > START_DEMAND]
        if self.running:
            if not any(demands[z] > 0 and directions[z][0] is self.mode for z in demands):
                self.running, self.since = False, now
        elif calling:
            self.running, self.since, self.mode = True, now, directions[calling[0]][0]

    def _odu_command(
        self, demands: dict[str, float], directions: dict[str, tuple[OduMode, float]]
    ) -> OduCommand:
        if not self.running:
            return OduCommand(self.mode, 0.0)
        served = [d for z, d in demands.items() if directions[z][0] is self.mode]
        odu = self.unit.odu
        low, high = odu.min_frequency_hz or 20.0, odu.max_frequency_hz or 90.0
        return OduCommand(self.mode, round(low + (high - low) * max(served, default=0.0), 1))

    def _head(
        self, settings: ZoneSettings, direction: OduMode, demand: float, target: float
    ) -> HeadCommand:
        served = self.running and direction is self.mode
        if settings.mode in (ZoneMode.FAN_ONLY, ZoneMode.DRY):
            head_mode = HeadMode(settings.mode.value)
        else:
            head_mode = HeadMode.COOL if direction is OduMode.COOL else HeadMode.HEAT
        return HeadCommand(
            power=settings.mode is not ZoneMode.OFF,
            mode=head_mode,
            fan=settings.fan_mode,
            vane_vertical=VanePosition.AUTO,
            vane_horizontal=VanePosition.AUTO,
            capacity_request_pct=round(100.0 * demand, 1) if served else 0.0,
            display_setpoint=round(target, 1),
        )
