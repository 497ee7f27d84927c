"""What a controller implements to be benched on the direct unit (`DirectController`), the
shipped controller behind that interface (`ShippedController`), and an engineer's own loaded
by ``module:attr`` (`load_factory`); docs/benchmark.md, 'Your own controller'.

The bench gives every controller the same thing each control period: the homeowner's settings
and the units' reports as the supervisor's links know them (`controller.core.observation`'s
`OduReport` and `HeadReport`, read from the same firmware that the Modbus simulator serves),
and applies the typed commands it returns (`drivers.records`), as the supervisor writes them."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple, Protocol, runtime_checkable

from minisplit.controller.config import ControlConfig, ZoneConfig
from minisplit.controller.core.forecast import Forecast
from minisplit.controller.core.observation import (
    NO_SWITCHES,
    HeadReport,
    Observer,
    OduReport,
    ZoneSetup,
)
from minisplit.controller.core.schedule import Switch
from minisplit.controller.core.settings import UnitSettings, ZoneSettings
from minisplit.controller.core.tick import Controller
from minisplit.controller.tuning import control_tuning_from
from minisplit.drivers.records import HeadCommand, HeadInfo, OduCommand, OduInfo

# What the bench's zones are configured with: a zone's default setpoint limits and no sensor
# offset, no remote sensor.
_DEFAULT_ZONE = ZoneConfig.model_fields
BENCH_ZONE_SETUP = ZoneSetup(
    (_DEFAULT_ZONE["min_temperature"].default, _DEFAULT_ZONE["max_temperature"].default)
)


@dataclass(frozen=True)
class BenchUnit:
    """What a controller is built for: the scenario's zones (in order) and what the outdoor unit
    and each head say about themselves at probe time, and the control period."""

    zones: tuple[str, ...]
    odu: OduInfo
    heads: Mapping[str, HeadInfo]
    period_s: float


class Reports(NamedTuple):
    """What a controller is given each control period: every zone's settings (the
    homeowner's), and the reports of the outdoor unit and of each head as the supervisor's
    links know them."""

    settings: Mapping[str, ZoneSettings]
    odu: OduReport
    heads: Mapping[str, HeadReport]
    # Each zone's next switch point (its weekly program's), on the bench's clock: what a
    # controller may look ahead to, as the supervisor gives the shipped one its programs'.
    upcoming: Mapping[str, Switch] = NO_SWITCHES
    # The weather forecast in effect (`hil.forecasts`), on the bench's clock; None: none given.
    forecast: Forecast | None = None


class Commands(NamedTuple):
    """One period's commands: ``odu`` None leaves the outdoor unit as it is, a zone missing
    from ``heads`` leaves its head as it is."""

    odu: OduCommand | None
    heads: Mapping[str, HeadCommand]


@runtime_checkable
class DirectController(Protocol):
    """A controller of the direct unit (the reference unit: the controller sets the compressor's
    speed and each head's share). ``step`` is called once per control period with the time in
    seconds of the weather year and the period's `Reports`; the bench keeps no other channel
    to the units."""

    def step(self, now: float, reports: Reports) -> Commands: ...


# A controller's factory: one controller per run, built for the scenario's unit.
ControllerFactory = Callable[[BenchUnit], DirectController]


class ShippedController:
    """The shipped controller: the supervisor's observation step (`Observer`) and `Controller`,
    with the supervisor's default tuning or the ``control`` table's."""

    def __init__(self, unit: BenchUnit, control: ControlConfig | None = None) -> None:
        odu = unit.odu
        assert odu.min_frequency_hz is not None and odu.max_frequency_hz is not None
        frequency_range = (odu.min_frequency_hz, odu.max_frequency_hz)
        self.loop = Controller(control_tuning_from(control or ControlConfig(), frequency_range))
        limits = self.loop.tuning.coordinator.limits
        self.observer = Observer(dict.fromkeys(unit.zones, BENCH_ZONE_SETUP), limits)
        self.unit_settings = UnitSettings()
        # Bound once: `step` calls them every control period.
        self._observe = self.observer.observe
        self._decide = self.loop.step

    def step(self, now: float, reports: Reports) -> Commands:
        settings, odu, heads, upcoming, forecast = reports
        seen = self._observe(odu, heads, settings, self.unit_settings, now, upcoming=upcoming)
        decision = self._decide(seen.zones, seen.unit, now, seen.remotes, forecast=forecast)
        zones = decision.output.zones
        return Commands(decision.odu_command, {zone: out.head for zone, out in zones.items()})


class ControllerSpecError(ValueError):
    """A ``module:attr`` that names no controller."""


def load_factory(spec: str) -> ControllerFactory:
    """The factory that ``module:attr`` names (a class or function taking a `BenchUnit`);
    ControllerSpecError for no module, no attribute, or one that cannot be called."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise ControllerSpecError("not module:attr")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ControllerSpecError(f"cannot import module {module_name!r}: {err}") from None
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise ControllerSpecError(f"module {module_name!r} has no attribute {attr!r}") from None
    if not callable(factory):
        raise ControllerSpecError(f"it is a {type(factory).__name__}, {NOT_A_CONTROLLER}")
    return factory  # type: ignore[no-any-return]


NOT_A_CONTROLLER = (
    "not a controller: name a class or function that takes a BenchUnit and returns an object"
    " with step(now, reports) -> Commands (minisplit.hil.controllers)"
)


def built(factory: ControllerFactory, unit: BenchUnit) -> DirectController:
    """The controller ``factory`` builds for ``unit``; ControllerSpecError if it is none."""
    try:
        controller = factory(unit)
    except TypeError as err:  # it takes no BenchUnit
        failed = f"calling it with a BenchUnit failed ({err})"
        raise ControllerSpecError(f"{failed}, {NOT_A_CONTROLLER}") from None
    if not isinstance(controller, DirectController):
        raise ControllerSpecError(f"it returned a {type(controller).__name__}, {NOT_A_CONTROLLER}")
    return controller
