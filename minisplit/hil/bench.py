"""`minisplit bench`: every scenario through the plant with each controller, side by side.

The `minisplit` controller here is the supervisor's observation step (`controller.core.observation`)
and `controller.core.tick.Controller`, the very code the supervisor runs, fed with reports of the
same unit firmware (`hil.firmware`) that the Modbus simulator serves; the
baselines are `hil.baselines` and the units' own logic; `ideal` is `hil.ideal`
(docs/benchmark.md)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from minisplit.controller.config import ControlConfig
from minisplit.controller.core.head_setpoint import (
    HeadLevers,
    HeadSetting,
    HeadZoneInput,
    SetpointStrategy,
    SetpointTuning,
)
from minisplit.controller.core.observation import HeadReport, OduReport
from minisplit.controller.core.schedule import Switch
from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.controller.service.setpoint_heads import head_command
from minisplit.drivers.records import HeadCommand, HeadInfo, OduInfo
from minisplit.drivers.vocabulary import HeadMode, OduMode, VanePosition
from minisplit.hil.baselines import OnOffBaseline
from minisplit.hil.causes import (
    CAUSES,
    FULL_CAPACITY_MARGIN_HZ,
    NO_UNIT,
    DiscomfortCauses,
    UnitState,
)
from minisplit.hil.controllers import BenchUnit, ControllerFactory, Reports, ShippedController
from minisplit.hil.firmware import HEAD_MODE_BY_LABEL, HeadFirmware, HeadThermostat, OutdoorFirmware
from minisplit.hil.forecasts import ForecastFeed
from minisplit.hil.house import HouseSim
from minisplit.hil.ideal import IDEAL_STEP_S, ideal_step
from minisplit.hil.metrics import COMFORT_HALF_BAND_K as HALF_BAND_K
from minisplit.hil.metrics import RECOVERY_LEAD_S, MetricsRecorder, ZoneTarget
from minisplit.hil.plant import Plant
from minisplit.hil.scenario import (
    Scenario,
    build_house,
)

CONTROLLERS = ("minisplit", "onoff", "stock", "ideal")  # on the direct unit (the default)
# The units a scenario's heads can be (docs/benchmark.md, 'Units'): the reference unit with its
# compressor-speed register, setpoint-driven heads behind a setpoint-only interface, and the
# same with an external room-temperature register; and the controllers each one can run.
UNITS = ("direct", "setpoint", "external")
UNIT_CONTROLLERS: Mapping[str, tuple[str, ...]] = {
    "direct": ("minisplit", "onoff", "stock"),
    "setpoint": ("minisplit", "passthrough"),
    "external": ("minisplit", "passthrough"),
}
ALL_CONTROLLERS = (*CONTROLLERS, "passthrough")
# The setpoint-driven heads' own thermostat (`hil.firmware.HeadThermostat`'s defaults: an
# Intesis-style interface on a Mitsubishi-style head).
INTERFACE_THERMOSTAT = HeadThermostat()
CONTROL_PERIOD_S = ControlConfig().period_s  # the supervisor's default period
TRACE_EVERY_S = 300.0
STOCK_HEARTBEAT_TIMEOUT_S = 60.0


@dataclass
class Trace:
    """A thinned record of a run, for plots: one sample per `TRACE_EVERY_S` of simulated time
    (seconds of the weather year). The power is the mean since the previous sample, and
    ``defrost`` whether the unit defrosted at any time since it."""

    times_s: list[float] = field(default_factory=list)
    air_c: dict[str, list[float]] = field(default_factory=dict)
    setpoint_c: dict[str, list[float | None]] = field(default_factory=dict)
    # The comfort band while the zone is on (setpoint ± 0.5 K, heat_cool's between both).
    band_c: dict[str, list[tuple[float, float] | None]] = field(default_factory=dict)
    outdoor_c: list[float] = field(default_factory=list)
    frequency_hz: list[float] = field(default_factory=list)
    power_kw: list[float] = field(default_factory=list)
    defrost: list[bool] = field(default_factory=list)


@functools.cache
def zone_target(settings: ZoneSettings) -> ZoneTarget:
    mode = settings.mode
    if mode in (ZoneMode.OFF, ZoneMode.FAN_ONLY):
        return ZoneTarget(False, settings.target_temperature, settings.target_temperature)
    if mode is ZoneMode.HEAT_COOL:
        return ZoneTarget(True, settings.target_temperature_low, settings.target_temperature_high)
    heats = mode is ZoneMode.HEAT
    t = settings.target_temperature
    return ZoneTarget(True, t, t, heats=heats, cools=not heats)


def quantize(value: float | None) -> float | None:
    """What a 0.1 °C register carries: ``round(value, 1)``, to the bit."""
    if value is None:
        return None
    # round(x, 1) goes through a decimal string (thousands of instructions, five times a
    # tick). Unless 10·x lies near a tie, the nearest tenth is n/10 for the integer n nearest
    # to 10·x, and IEEE division rounds n/10 exactly as round() does; near a tie, or at zero
    # (whose sign round() keeps), round() decides.
    tenths = value * 10.0
    n = math.floor(tenths + 0.5)
    if n and -0.49 < tenths - n < 0.49:
        return n / 10.0
    return round(value, 1)


class Run:
    """One controller through one scenario: the shared loop of stepping and recording.

    Per zone lists follow `zones` (the scenario's order); the settings and targets are looked
    up again only at the schedules' next switch point."""

    def __init__(
        self,
        scenario: Scenario,
        house: HouseSim,
        trace: bool,
        measure_bias: bool = False,
        why: bool = False,
        period_s: float = CONTROL_PERIOD_S,
    ) -> None:
        self.scenario = scenario
        self.period_s = period_s
        self.house = house
        self.zones = scenario.zones
        self.metrics = MetricsRecorder(self.zones)
        # Only with --why: the split costs a little every step.
        self.causes = DiscomfortCauses(self.zones) if why else None
        self.trace = Trace() if trace else None
        self.next_trace = scenario.start_s
        # Since the last trace sample: the energy (J) over how long (s), and whether the unit
        # defrosted.
        self._trace_j = self._trace_s = 0.0
        self._trace_defrost = False
        self._bias_sum = dict.fromkeys(self.zones, 0.0)
        self._bias_s = dict.fromkeys(self.zones, 0.0)
        self.measure_bias = measure_bias
        self._rooms = [house.plant.room_index(zone) for zone in self.zones]
        # When every room has a head, in order, the plant's own list serves as it is.
        self._all_rooms = self._rooms == list(range(len(house.plant.room_ids)))
        self._settings: dict[str, ZoneSettings] = {}
        # Each zone's next switch point: what the controllers may look ahead to.
        self.upcoming: dict[str, Switch] = {}
        self._targets: tuple[ZoneTarget, ...] = ()  # one tuple per span: metrics take it as is
        self._settings_from = self._settings_until = -math.inf
        self.setpoint_writes: int | None = None  # counted where a run writes setpoints

    def settings(self, t: float) -> dict[str, ZoneSettings]:
        """Every zone's settings at ``t`` (the same dict until the next switch point: read only)."""
        if not self._settings_until > t >= self._settings_from:
            self._settings, until = self.scenario.settings_span(t)
            self._settings_from = t
            self.upcoming = upcoming = self.scenario.upcoming(t)
            targets = []
            for zone in self.zones:
                target = zone_target(self._settings[zone])
                switch = upcoming[zone]
                lead_from = switch.at_s - RECOVERY_LEAD_S
                if t >= lead_from:
                    target = target.ahead(zone_target(switch.settings))
                elif lead_from < until:
                    until = lead_from  # the band may reach further from then on
                targets.append(target)
            self._targets = tuple(targets)
            self._settings_until = until
        return self._settings

    def targets(self, t: float) -> tuple[ZoneTarget, ...]:
        """Every zone's target at ``t``, in zone order."""
        self.settings(t)
        return self._targets

    def air(self) -> Sequence[float]:
        """Every zone's room air now, in zone order (read only, valid until the next step)."""
        air = self.house.plant.network.air_c
        return air if self._all_rooms else [air[i] for i in self._rooms]

    def sensor(self, zone: str) -> float | None:
        """The head's return-air reading as its 0.1 °C register carries it."""
        return quantize(self.house.heads[zone].return_air_c)

    def mean_bias_k(self) -> dict[str, float]:
        """Per zone, how far the head's sensor read above the room air on average while the
        zone was on: what a homeowner adds to the setpoint of a unit that follows it."""
        return {
            zone: round(self._bias_sum[zone] / self._bias_s[zone], 1) if self._bias_s[zone] else 0.0
            for zone in self.zones
        }

    def advance(self, t: float, dt: float, targets: Sequence[ZoneTarget]) -> None:
        """Step the house ``dt`` seconds from ``t`` (its time now) and record the step under
        the zones' ``targets`` (as `targets(t)`)."""
        house = self.house
        plant = house.plant
        odu = house.odu
        energy_before = odu.energy_wh
        house.step(dt)
        power_w = (odu.energy_wh - energy_before) * 3600.0 / dt
        air = self.air()
        self.metrics.record(t, dt, air, targets, power_w, plant.capacity_w, odu.running)
        if self.causes is not None:
            unit = UnitState(
                odu.running,
                odu.running_mode is OduMode.HEAT,
                odu.defrosting,
                odu.frequency_hz >= odu.allowed_max_hz - FULL_CAPACITY_MARGIN_HZ,
            )
            self.causes.record(t, dt, air, targets, unit)
        if self.measure_bias:
            for zone, target in zip(self.zones, targets, strict=True):
                if target.on:
                    self._bias_sum[zone] += plant.sensor_bias_k(zone) * dt
                    self._bias_s[zone] += dt
        if self.trace is not None:
            self._trace_defrost = self._trace_defrost or odu.defrosting
            self.traced(t, dt, air, targets, power_w, odu.frequency_hz)

    def traced(
        self,
        t: float,
        dt: float,
        air: Sequence[float],
        targets: Sequence[ZoneTarget],
        power_w: float,
        frequency_hz: float,
    ) -> None:
        """Count a step of ``dt`` from ``t`` at ``power_w`` into the trace, and take a sample
        when one is due."""
        self._trace_j += power_w * dt
        self._trace_s += dt
        if t < self.next_trace:
            return
        tr = self.trace
        assert tr is not None
        self.next_trace += TRACE_EVERY_S
        tr.times_s.append(t)
        for zone, air_c, target in zip(self.zones, air, targets, strict=True):
            tr.air_c.setdefault(zone, []).append(air_c)
            tr.setpoint_c.setdefault(zone, []).append(target.low if target.on else None)
            tr.band_c.setdefault(zone, []).append(target.band if target.on else None)
        tr.outdoor_c.append(self.house.plant.outdoor().temperature_c)
        tr.frequency_hz.append(frequency_hz)
        tr.power_kw.append(self._trace_j / self._trace_s / 1000.0)
        tr.defrost.append(self._trace_defrost)
        self._trace_j = self._trace_s = 0.0
        self._trace_defrost = False

    def until_end(self) -> Iterator[tuple[float, dict[str, ZoneSettings]]]:
        """Each control period's start time and settings; the caller acts, then the house is
        advanced through the period."""
        end = self.scenario.end_s
        last = end - 1e-6
        plant = self.house.plant
        advance = self.advance
        period = self.period_s
        while (t := plant.time_s) < last:
            yield t, self.settings(t)
            left = end - t
            advance(t, left if left < period else period, self._targets)


class _OduRegisters:
    """The outdoor unit as a poll reads it (0.1 °C registers), straight from its firmware: each
    value is read when the observation asks for it (those only published are never asked)."""

    __slots__ = ("_odu", "_plant")

    def __init__(self, odu: OutdoorFirmware, plant: Plant) -> None:
        self._odu = odu
        self._plant = plant

    @property
    def compressor_running(self) -> bool:
        return self._odu.running

    @property
    def allowed_max_frequency_hz(self) -> float:
        return self._odu.allowed_max_hz

    @property
    def outdoor_temperature(self) -> float | None:
        return quantize(self._odu.outdoor_sensor_c)

    @property
    def outdoor_coil_temperature(self) -> float | None:
        return quantize(self._plant.outdoor_coil_c)

    @property
    def defrost(self) -> bool:
        return self._odu.defrosting

    @property
    def fault(self) -> bool:
        return bool(self._odu.broken_sensors)

    @property
    def fault_code(self) -> str:
        return self._odu.status().fault_code

    @property
    def mode(self) -> OduMode:
        return self._odu.command.mode

    @property
    def compressor_frequency_hz(self) -> float:
        return self._odu.frequency_hz

    @property
    def input_power_w(self) -> float:
        return self._plant.input_power_w

    @property
    def energy_wh(self) -> float:
        return self._odu.energy_wh


def _head_info(head: HeadFirmware) -> HeadInfo:
    """What a probe of the head reads (its ratings stay as they are through a scenario)."""
    r = head.ratings
    return HeadInfo(
        0, 0, r.rated_w, r.has_humidity_sensor, r.has_vertical_vane, r.has_horizontal_vane
    )


class _HeadRegisters:
    """A head as a poll reads it, straight from its firmware, each value when the observation
    asks for it."""

    __slots__ = ("_head",)

    def __init__(self, head: HeadFirmware) -> None:
        self._head = head

    @property
    def return_air_temperature(self) -> float | None:
        return quantize(self._head.return_air_c)

    @property
    def cold_draft_prevention(self) -> bool:
        return self._head.cold_draft_prevention

    @property
    def humidity(self) -> float | None:
        return self._head.status().humidity

    @property
    def fault(self) -> bool:
        return self._head.status().fault

    @property
    def fault_code(self) -> str:
        return self._head.status().fault_code


class CommandRefused(ValueError):
    """A controller's command that the unit refused (out of range, unknown mode)."""


def bench_unit(house: HouseSim, zones: Sequence[str], period_s: float) -> BenchUnit:
    """What a controller is built for in ``house``: its units as a probe reads them."""
    heads = {zone: _head_info(house.heads[zone]) for zone in zones}
    return BenchUnit(tuple(zones), bench_unit_info(house), heads, period_s)


def run_direct(
    scenario: Scenario,
    factory: ControllerFactory,
    trace: bool = False,
    why: bool = False,
    *,
    period_s: float = CONTROL_PERIOD_S,
    measure_bias: bool = False,
    name: str = "controller",
    forecast: str = "none",
) -> Run:
    """A controller of the direct unit (`hil.controllers.DirectController`, built by
    ``factory``) through ``scenario``, stepped every ``period_s`` on reports of units that
    always answer; each command applied as the supervisor writes it. CommandRefused for a
    command the unit refuses. ``forecast``: the kind of weather forecast the controller is
    given (`hil.forecasts`)."""
    house = build_house(scenario)
    feed = ForecastFeed(scenario.weather(), forecast)
    run = Run(scenario, house, trace, measure_bias=measure_bias, why=why, period_s=period_s)
    controller = factory(bench_unit(house, run.zones, period_s))
    odu = house.odu
    odu_report = OduReport(bench_unit_info(house), _OduRegisters(odu, house.plant), available=True)
    heads = house.heads
    head_reports = {
        zone: HeadReport(_head_info(head), _HeadRegisters(head), available=True)
        for zone, head in heads.items()
    }
    step = controller.step
    for t, settings in run.until_end():
        reports = Reports(settings, odu_report, head_reports, run.upcoming, feed.at(t))
        commands = step(t, reports)
        try:
            if commands.odu is not None:
                odu.apply(commands.odu)
            for zone, command in commands.heads.items():
                heads[zone].apply(command)
        except ValueError as err:
            when = f"{t / 3600.0 - scenario.start_s / 3600.0:.2f} h into {scenario.name}"
            raise CommandRefused(f"{name}, {when}: the unit refused a command: {err}") from None
    return run


def bench_unit_info(house: HouseSim) -> OduInfo:
    """What a probe of the outdoor unit reads (its ratings stay as they are)."""
    r = house.odu.ratings
    return OduInfo(0, 0, r.rated_heating_w, r.rated_cooling_w, r.min_hz, r.max_hz, r.max_heads)


def run_minisplit(
    scenario: Scenario,
    trace: bool = False,
    control: ControlConfig | None = None,
    why: bool = False,
    forecast: str = "none",
) -> Run:
    """The shipped controller (`hil.controllers.ShippedController`) with the supervisor's
    default tuning or the ``control`` table's, stepped every ``control.period_s``, given the
    ``forecast`` kind's weather forecast."""
    control = control or ControlConfig()
    return run_direct(
        scenario,
        functools.partial(ShippedController, control=control),
        trace,
        why,
        period_s=control.period_s,
        name="minisplit",
        forecast=forecast,
    )


def run_onoff(
    scenario: Scenario, bias_k: Mapping[str, float], trace: bool = False, why: bool = False
) -> Run:
    """The single-speed baseline (`hil.baselines.OnOffBaseline`) with each setpoint raised by
    ``bias_k``; without it, the run measures each zone's mean sensor bias."""
    return run_direct(
        scenario,
        lambda _: OnOffBaseline(bias_k),
        trace,
        why,
        measure_bias=not bias_k,
        name="onoff",
    )


def stock_head_command(
    settings: ZoneSettings, bias_k: float, heat_cool_mode: HeadMode
) -> HeadCommand:
    """What the homeowner sets on a head that runs on its own logic."""
    mode = settings.mode
    if mode is ZoneMode.HEAT_COOL:
        head_mode = heat_cool_mode
        heating = heat_cool_mode is HeadMode.HEAT
        target = settings.target_temperature_low if heating else settings.target_temperature_high
    else:
        # The zone's mode is the head's, by the same word (controller.core.settings.ZoneMode).
        head_mode = HeadMode.HEAT if mode is ZoneMode.OFF else HEAD_MODE_BY_LABEL[mode]
        target = settings.target_temperature
    return HeadCommand(
        power=mode is not ZoneMode.OFF,
        mode=head_mode,
        fan=settings.fan_mode,
        vane_vertical=VanePosition.AUTO,
        vane_horizontal=VanePosition.AUTO,
        capacity_request_pct=0.0,
        display_setpoint=round(target + bias_k, 1),
    )


def heat_cool_choice(
    settings: ZoneSettings, sensor: float | None, bias_k: float, was: HeadMode
) -> HeadMode:
    """The reference head has no auto mode: for a heat_cool room the homeowner (or a head's
    auto mode) switches it to cool once the room is past the high setpoint's band, and back to
    heat below the low one."""
    if sensor is None:
        return was
    room = sensor - bias_k
    if room > settings.target_temperature_high + HALF_BAND_K:
        return HeadMode.COOL
    if room < settings.target_temperature_low - HALF_BAND_K:
        return HeadMode.HEAT
    return was


def _homeowner(run: Run, house: HouseSim, bias_k: Mapping[str, float]) -> None:
    """Run ``house`` with each head set as its homeowner sets it: power, mode, fan and the
    target raised by ``bias_k``; a heat_cool room switched round past the other band."""
    heat_cool = dict.fromkeys(run.zones, HeadMode.HEAT)
    for _, settings in run.until_end():
        for zone, s in settings.items():
            bias = bias_k.get(zone, 0.0)
            if s.mode is ZoneMode.HEAT_COOL:
                heat_cool[zone] = heat_cool_choice(s, run.sensor(zone), bias, heat_cool[zone])
            house.heads[zone].apply(stock_head_command(s, bias, heat_cool[zone]))


def run_stock(
    scenario: Scenario, bias_k: Mapping[str, float], trace: bool = False, why: bool = False
) -> Run:
    """The units on their own: no heartbeat, so every head runs its own thermostat."""
    house = build_house(scenario, heartbeat_timeout_s=STOCK_HEARTBEAT_TIMEOUT_S)
    run = Run(scenario, house, trace, measure_bias=not bias_k, why=why)
    _homeowner(run, house, bias_k)
    return run


def run_passthrough(scenario: Scenario, unit: str, trace: bool = False, why: bool = False) -> Run:
    """Setpoint-driven heads given the homeowner's setting unchanged (what a Home Assistant
    Modbus climate entity or the interface vendor's app does): no bias correction, nothing
    written to an external-temperature register."""
    house = build_house(scenario, thermostat=INTERFACE_THERMOSTAT)
    run = Run(scenario, house, trace, why=why)
    _homeowner(run, house, {})
    return run


def interface_levers(thermostat: HeadThermostat, external: bool) -> HeadLevers:
    """What the strategy is told of the interface: the profile's setpoint range and step and
    whether it has the external register, the manual's thermostat differentials."""
    return HeadLevers(
        setpoint_step_c=thermostat.setpoint_step_c,
        heat_range_c=thermostat.heat_range_c,
        cool_range_c=thermostat.cool_range_c,
        external_temperature=external,
        thermo_off_k=thermostat.off_k,
        thermo_on_k=thermostat.on_k,
    )


def run_minisplit_setpoint(
    scenario: Scenario,
    unit: str,
    trace: bool = False,
    why: bool = False,
    tuning: SetpointTuning | None = None,
) -> Run:
    """The setpoint strategy (`controller.core.head_setpoint`) on setpoint-driven heads, from
    each head's own reading as its 0.1 °C register carries it (no remote sensor), as
    `minisplit` on the direct unit. A head's settings are written only when they change; the
    run counts the setpoint writes."""
    thermostat = INTERFACE_THERMOSTAT
    house = build_house(scenario, thermostat=thermostat)
    run = Run(scenario, house, trace, why=why)
    levers = interface_levers(thermostat, external=unit == "external")
    strategy = SetpointStrategy(tuning or SetpointTuning(levers=levers))
    heads = house.heads
    run.setpoint_writes = 0
    last: dict[str, HeadSetting] = {}
    for t, settings in run.until_end():
        inputs = {zone: HeadZoneInput(s, run.sensor(zone)) for zone, s in settings.items()}
        for zone, out in strategy.step(inputs, t).items():
            was = last.get(zone)
            if out is was:
                continue
            last[zone] = out
            head = heads[zone]
            if was is None or out.setpoint != was.setpoint:
                run.setpoint_writes += 1
            if out.external_written_at != (None if was is None else was.external_written_at):
                head.external_temperature = out.external_temperature
            head.apply(head_command(out, settings[zone]))
    return run


def run_ideal(
    scenario: Scenario, trace: bool = False, inset_k: float = 0.0, why: bool = False
) -> Run:
    """The §9 bound (``inset_k`` > 0: the same, holding each room that far inside its band)."""
    house = build_house(scenario)
    run = Run(scenario, house, trace, why=why)
    plant = house.plant
    coil = {zone: ratings.rated_w for zone, ratings in scenario.heads.items()}
    end = scenario.end_s
    while plant.time_s < end - 1e-6:
        t = plant.time_s
        dt = min(IDEAL_STEP_S, end - t)
        targets = run.targets(t)
        zone_targets = dict(zip(run.zones, targets, strict=True))
        power_w, heat_w = ideal_step(plant, dt, zone_targets, coil, inset_k)
        air = run.air()
        run.metrics.record(t, dt, air, targets, power_w, heat_w, False)
        if run.causes is not None:
            run.causes.record(t, dt, air, targets, NO_UNIT)
        if run.trace is not None:
            run.traced(t, dt, air, targets, power_w, 0.0)
    return run


def inset_name(inset_k: float) -> str:
    """The bench's name for `ideal` holding its rooms ``inset_k`` inside the band."""
    return f"ideal+{inset_k:g}K"


def run_controller(
    name: str,
    scenario: Scenario,
    trace: bool = False,
    inset_k: float = 0.0,
    why: bool = False,
    unit: str = "direct",
    control: ControlConfig | None = None,
    factory: ControllerFactory | None = None,
    forecast: str = "none",
) -> tuple[dict[str, Any], Trace | None]:
    """One controller through one scenario on one kind of ``unit`` (`UNITS`): its §9 figures
    (and a trace for plots). ``inset_k`` (for `ideal` only) holds the rooms that far inside the
    band; ``why`` adds the discomfort split by cause (`hil.causes`); ``control`` tunes
    `minisplit` on the direct unit; with a ``factory`` the controller it builds runs on the
    direct unit, under ``name``."""
    if factory is None and name != "ideal" and name not in UNIT_CONTROLLERS.get(unit, ()):
        raise ValueError(f"controller {name!r} does not run on the {unit!r} unit")
    # The weather file is read once per process: read before the clock starts, so that the
    # first row of a scenario is not timed with that read and the others without it.
    scenario.weather()
    started = time.perf_counter()
    if factory is not None:
        run = run_direct(scenario, factory, trace, why, name=name, forecast=forecast)
    elif name == "ideal":
        run = run_ideal(scenario, trace, inset_k, why)
    elif unit != "direct":
        if name == "minisplit":
            run = run_minisplit_setpoint(scenario, unit, trace, why)
        else:
            run = run_passthrough(scenario, unit, trace, why)
    elif name == "minisplit":
        run = run_minisplit(scenario, trace, control, why, forecast)
    else:
        baseline = run_onoff if name == "onoff" else run_stock
        # Like a homeowner, first learn how far the head's sensor reads warm, then set it up.
        bias = baseline(scenario, {}, False).mean_bias_k()
        started = time.perf_counter()
        run = baseline(scenario, bias, trace, why)
    summary: dict[str, Any] = dict(run.metrics.summary(time.perf_counter() - started))
    if run.setpoint_writes is not None:
        summary["setpoint_writes"] = run.setpoint_writes
    if run.causes is not None:
        summary["discomfort_causes_kh_per_zone"] = run.causes.summary()
    if name == "ideal":  # with or without an inset
        for key in ("compressor_starts", "starts_per_hour", "shortest_run_s"):
            summary[key] = None  # the bound has no compressor to start
    return summary, run.trace


def row_name(name: str, unit: str) -> str:
    """A row's name: the controller's on the direct unit (as ever), else ``name@unit``."""
    return name if unit == "direct" or name == "ideal" else f"{name}@{unit}"


def bench_rows(controllers: Sequence[str], units: Sequence[str]) -> list[tuple[str, str, str]]:
    """(row, controller, unit) for every chosen controller on every chosen unit it runs on;
    `ideal` once (it has no unit). ValueError for a controller that runs on none of them."""
    rows = []
    for unit in units:
        if unit not in UNIT_CONTROLLERS:
            raise ValueError(f"unknown unit {unit!r} (one of {', '.join(UNITS)})")
        rows += [(row_name(n, unit), n, unit) for n in controllers if n in UNIT_CONTROLLERS[unit]]
    for name in controllers:
        if name == "ideal":
            rows.append(("ideal", "ideal", "direct"))
        elif not any(name == n for _, n, _ in rows):
            if name not in ALL_CONTROLLERS:
                known = ", ".join(ALL_CONTROLLERS)
                raise ValueError(f"unknown controller {name!r} (one of {known})")
            runs_on = [u for u in UNITS if name in UNIT_CONTROLLERS[u]]
            raise ValueError(
                f"controller {name!r} runs on the {' and '.join(runs_on)} unit(s) only"
                f" (--unit {runs_on[0]})"
            )
    return rows


class BenchEntry(NamedTuple):
    """One row of a scenario's table and how to run it."""

    row: str
    name: str
    unit: str
    inset_k: float = 0.0
    control: ControlConfig | None = None
    factory: ControllerFactory | None = None
    forecast: str = "none"  # the weather forecast it is given (`hil.forecasts`)


def bench_entries(
    controllers: Sequence[str],
    units: Sequence[str],
    ideal_insets_k: Sequence[float] = (),
    controls: Sequence[tuple[str, ControlConfig]] = (),
    custom: Mapping[str, ControllerFactory] | None = None,
    forecasts: Sequence[str] = (),
) -> list[BenchEntry]:
    """The rows of `bench_rows`; with ``controls`` (label, `[control]` table) one
    ``minisplit[label]`` row each instead of `minisplit`'s on the direct unit, and after each
    `minisplit` row on the direct unit one ``+kind`` row per kind of ``forecasts`` given to it
    (``none`` adds none); the ``custom`` controllers (row name: factory) before `ideal`; then
    `ideal`'s inset rows."""
    entries: list[BenchEntry] = []
    kinds = [kind for kind in dict.fromkeys(forecasts) if kind != "none"]
    for row, name, unit in bench_rows(controllers, units):
        if name == "minisplit" and unit == "direct":
            shipped = [BenchEntry(row, name, unit)]
            if controls:
                shipped = [
                    BenchEntry(f"{name}[{label}]", name, unit, control=c) for label, c in controls
                ]
            for entry in shipped:
                entries.append(entry)
                entries += [
                    entry._replace(row=f"{entry.row}+{kind}", forecast=kind) for kind in kinds
                ]
        elif name != "ideal":
            entries.append(BenchEntry(row, name, unit))
    entries += [BenchEntry(row, row, "direct", factory=f) for row, f in (custom or {}).items()]
    if "ideal" in controllers:
        entries.append(BenchEntry("ideal", "ideal", "direct"))
    entries += [BenchEntry(inset_name(k), "ideal", "direct", k) for k in ideal_insets_k]
    return entries


def bench_scenario(
    scenario: Scenario,
    controllers: Sequence[str],
    *,
    traces: bool = False,
    progress: Callable[[str], None] | None = None,
    ideal_insets_k: Sequence[float] = (),
    why: bool = False,
    units: Sequence[str] = ("direct",),
    controls: Sequence[tuple[str, ControlConfig]] = (),
    custom: Mapping[str, ControllerFactory] | None = None,
    forecasts: Sequence[str] = (),
) -> tuple[dict[str, Any], dict[str, Trace]]:
    """Each controller through ``scenario`` on each of ``units`` it runs on (`bench_entries`:
    ``controls``, ``custom`` and ``forecasts`` there); each of ``ideal_insets_k`` adds a row
    for `ideal` holding its rooms that far inside the band (its excess: what that margin alone
    costs);
    ``why`` adds each one's discomfort by cause, and its excess by cause over `ideal`'s."""
    figures: dict[str, dict[str, Any]] = {}
    kept: dict[str, Trace] = {}
    for entry in bench_entries(controllers, units, ideal_insets_k, controls, custom, forecasts):
        if progress is not None:
            progress(f"{scenario.name}: {entry.row}")
        figures[entry.row], trace = run_controller(
            entry.name,
            scenario,
            traces and not entry.inset_k,
            entry.inset_k,
            why,
            entry.unit,
            entry.control,
            entry.factory,
            entry.forecast,
        )
        if trace is not None:
            kept[entry.row] = trace
    ideal = figures.get("ideal")
    base = ideal["discomfort_kh_per_zone"] if ideal else None
    for values in figures.values():
        own = values["discomfort_kh_per_zone"]
        values["excess_discomfort_kh_per_zone"] = (
            None if base is None or own is None else round(float(own) - float(base), 3)
        )
    if why and ideal is not None:
        bound = ideal["discomfort_causes_kh_per_zone"]
        for values in figures.values():
            causes = values["discomfort_causes_kh_per_zone"]
            values["excess_causes_kh_per_zone"] = {
                cause: round(causes[cause] - bound[cause], 3) for cause in CAUSES
            }
    result = {
        "name": scenario.name,
        "duration_h": round(scenario.duration_s / 3600.0, 2),
        "zones": list(scenario.zones),
        "controllers": figures,
    }
    return result, kept
