"""Device reports → what the control sees (pure): one step, taken by the supervisor and the
benchmark alike, so that the benchmark scores the adapter that ships (docs/architecture.md).

A unit's report is what its link knows of it: its identity, its last poll, whether it answers,
whether it was refused and whether it runs on its own. From the outdoor unit's and the heads'
reports, the settings and each zone's setup (setpoint limits, sensor offset, remote sensor) the
`Observer` makes each zone's `ZoneInput`, the `UnitInput` and the remote sensors' readings; the
published state (`controller.service.state_report`) is made from the same `Observation`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple, Protocol

from minisplit.controller.core.compressor import UnitInput, UnitObservation
from minisplit.controller.core.control import ZoneInput
from minisplit.controller.core.interlocks import InterlockLimits
from minisplit.controller.core.schedule import Switch
from minisplit.controller.core.sensor_health import RemoteReading
from minisplit.controller.core.settings import UnitSettings, ZoneSettings
from minisplit.controller.core.tick import NO_REMOTES
from minisplit.drivers.vocabulary import OduMode


class OduIdentity(Protocol):
    """What the outdoor unit says about itself once (an `OduInfo`); None where its profile has
    no such register (drivers.capabilities, docs/profiles.md 'Roles')."""

    @property
    def rated_heating_capacity_w(self) -> float | None: ...
    @property
    def rated_cooling_capacity_w(self) -> float | None: ...
    @property
    def min_frequency_hz(self) -> float | None: ...
    @property
    def max_frequency_hz(self) -> float | None: ...


class OduConditions(Protocol):
    """What the control reads of one poll of the outdoor unit, besides whether it runs; None
    where the unit does not report it."""

    @property
    def allowed_max_frequency_hz(self) -> float | None: ...
    @property
    def outdoor_temperature(self) -> float | None: ...
    @property
    def outdoor_coil_temperature(self) -> float | None: ...
    @property
    def defrost(self) -> bool | None: ...
    @property
    def fault(self) -> bool | None: ...


class OduReadings(OduConditions, Protocol):
    """What one poll of the outdoor unit says (an `OduStatus`, or the bench's firmware)."""

    @property
    def compressor_running(self) -> bool | None: ...
    @property
    def fault_code(self) -> str | None: ...
    @property
    def mode(self) -> OduMode | None: ...
    @property
    def compressor_frequency_hz(self) -> float | None: ...
    @property
    def input_power_w(self) -> float | None: ...
    @property
    def energy_wh(self) -> float | None: ...


class HeadIdentity(Protocol):
    """What a head says about itself once (a `HeadInfo`)."""

    @property
    def rated_capacity_w(self) -> float | None: ...


class HeadReadings(Protocol):
    """What one poll of a head says (a `HeadStatus`, or the bench's firmware); None where the
    head does not report it."""

    @property
    def return_air_temperature(self) -> float | None: ...
    @property
    def cold_draft_prevention(self) -> bool | None: ...
    @property
    def humidity(self) -> float | None: ...
    @property
    def fault(self) -> bool | None: ...
    @property
    def fault_code(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class OduReport:
    """The outdoor unit as its link knows it."""

    info: OduIdentity | None
    status: OduReadings | None  # the last poll that answered
    available: bool
    refused: str | None = None  # the fault it was refused for when probed
    autonomous: bool = False  # it reports its heartbeat lapsed
    configured: bool = True  # False: the config has no outdoor unit (`NO_ODU`)


@dataclass(frozen=True, slots=True)
class HeadReport:
    """A head as its link knows it."""

    info: HeadIdentity | None
    status: HeadReadings | None
    available: bool
    refused: str | None = None
    autonomous: bool = False


# The outdoor unit of a config without one: heads whose unit follows them unseen.
NO_ODU = OduReport(None, None, available=False, configured=False)
NO_SWITCHES: Mapping[str, Switch] = MappingProxyType({})


class RemoteSample(NamedTuple):
    """A remote sensor's last value and when it came (controller time)."""

    value: float | None
    at: float


@dataclass(frozen=True, slots=True)
class ZoneSetup:
    """What the config says about a zone that the observation needs."""

    setpoint_limits: tuple[float, float]
    sensor_offset_k: float = 0.0  # added to the head's reading (its static error)
    remote_sensor: bool = False  # a remote sensor is configured
    remote_sensor_timeout_s: float = 900.0


@dataclass(frozen=True, slots=True)
class UnitRatings:
    """What the outdoor unit says about itself once (its identity registers)."""

    rated_heating_w: float
    rated_cooling_w: float
    min_frequency_hz: float
    max_frequency_hz: float


class Observation(NamedTuple):
    """One tick's view of the units: the control's inputs and the reports they came from. A
    NamedTuple (immutable like a frozen dataclass, built 2.5x faster): one is built every tick."""

    zones: Mapping[str, ZoneInput]  # each with the head's own reading (plus its offset)
    unit: UnitInput
    remotes: Mapping[str, RemoteReading]  # the zones with a remote sensor that counts
    odu: OduReport
    heads: Mapping[str, HeadReport]


def unit_input(
    ratings: UnitRatings,
    report: OduConditions,
    available: bool,
    settings: UnitSettings,
    compressor_running: bool | None = None,
) -> UnitInput:
    coil = report.outdoor_coil_temperature
    return _unit_input_of(
        ratings,
        report.allowed_max_frequency_hz,
        report.outdoor_temperature,
        report.defrost,
        report.fault,
        None if coil is None else coil < 0.0,
        available,
        settings,
        compressor_running,
    )


def _unit_input_of(
    ratings: UnitRatings,
    allowed_max_frequency_hz: float | None,
    outdoor_temperature: float | None,
    defrost: bool | None,
    fault: bool | None,
    coil_below_freezing: bool | None,
    available: bool,
    settings: UnitSettings,
    compressor_running: bool | None,
) -> UnitInput:
    """`unit_input` from the values already read off the report (the `Observer` reads each
    once a tick)."""
    observation = UnitObservation(
        rated_heating_w=ratings.rated_heating_w,
        rated_cooling_w=ratings.rated_cooling_w,
        min_frequency_hz=ratings.min_frequency_hz,
        max_frequency_hz=ratings.max_frequency_hz,
        allowed_max_frequency_hz=_or(allowed_max_frequency_hz, ratings.max_frequency_hz),
        outdoor_temperature=outdoor_temperature,
    )
    # A unit that does not report defrost or faults is taken to have neither.
    return UnitInput(
        observation,
        available,
        defrost is True,
        settings,
        fault=fault is True,
        compressor_running=compressor_running,
        coil_below_freezing=coil_below_freezing,
    )


def _or(value: float | None, default: float) -> float:
    return default if value is None else value


def zone_input(
    settings: ZoneSettings,
    head_temperature: float | None,
    available: bool,
    rated_capacity_w: float,
    preheating: bool,
    setpoint_limits: tuple[float, float] | None = None,
    head_correction_k: float = 0.0,
    upcoming: Switch | None = None,
) -> ZoneInput:
    """A zone's input as `Controller.step` takes it: with the head's own reading (plus its
    static correction); the step checks it and may follow a remote sensor instead."""
    if head_temperature is not None and head_correction_k:
        head_temperature += head_correction_k
    return ZoneInput(
        settings=settings,
        temperature=head_temperature,
        available=available,
        rated_capacity_w=rated_capacity_w,
        preheating=preheating,
        setpoint_limits=setpoint_limits,
        upcoming=upcoming,
    )


def remote_reading(
    setup: ZoneSetup, sample: RemoteSample | None, now: float, started_at: float
) -> RemoteReading | None:
    """The zone's remote sensor: None if it has none, or if its first reading is not due yet (a
    configured sensor gets its timeout from the start before it counts as missing)."""
    timeout = setup.remote_sensor_timeout_s
    if sample is None:
        if not setup.remote_sensor or now - started_at <= timeout:
            return None
        return RemoteReading(None, None, timeout)
    return RemoteReading(sample.value, sample.at, timeout)


# What a zone's input is made of besides its setup: made again only when one of them changed.
_ZoneKey = tuple[ZoneSettings, float | None, bool, bool, float, Switch | None]
# The inputs kept per zone under one settings object: the readings of a few kelvin in tenths.
_MADE_PER_ZONE = 256
_Reading = tuple[float | None, bool, bool, float]  # temperature, available, preheating, rating
_UnitKey = tuple[
    object,
    bool,
    UnitSettings,
    float | None,
    float | None,
    bool | None,
    bool | None,
    bool | None,
    bool | None,
]


class Observer:
    """The observation step, with the inputs of the last one kept: an input is made again only
    when what it carries changed (a reading moves in 0.1 K steps, the settings seldom), and an
    unchanged tick returns the very mapping of last tick (read-only: what it keeps cannot be
    changed from outside), which `Controller.step` compares in one step per zone. The control
    treats inputs as values, so one made earlier serves as well as a new one."""

    def __init__(self, setups: Mapping[str, ZoneSetup], limits: InterlockLimits) -> None:
        """``limits``: the control's, whose frequency range stands in for a unit never reached."""
        self._setups = tuple(setups.items())
        self._remote_sensors = any(setup.remote_sensor for setup in setups.values())
        self._limits = limits
        self._zone_keys: dict[str, _ZoneKey] = {}
        # Per zone, the inputs made under its settings and next switch point (those very
        # objects), by the reading (`_zone_input`).
        self._made: dict[str, tuple[ZoneSettings, Switch | None, dict[_Reading, ZoneInput]]] = {}
        self._zones: Mapping[str, ZoneInput] = MappingProxyType({})
        self._unit_key: _UnitKey | None = None
        self._unit: UnitInput | None = None
        self._unit_ratings: tuple[OduIdentity, UnitRatings] | None = None

    def observe(
        self,
        odu: OduReport,
        heads: Mapping[str, HeadReport],
        zone_settings: Mapping[str, ZoneSettings],
        unit_settings: UnitSettings,
        now: float,
        *,
        samples: Mapping[str, RemoteSample] | None = None,
        started_at: float | None = None,
        upcoming: Mapping[str, Switch] = NO_SWITCHES,
    ) -> Observation:
        """Every zone's and the unit's input now. ``samples`` are the remote sensors' last
        values (a zone without a configured sensor may be sent readings too); ``started_at`` is
        when the control began (a configured sensor's first value is due one timeout after);
        ``upcoming`` each programmed zone's next switch point, on the controller's clock."""
        remotes = NO_REMOTES
        if self._remote_sensors or samples:
            since = now if started_at is None else started_at
            found = {}
            for zone_id, setup in self._setups:
                sample = None if samples is None else samples.get(zone_id)
                reading = remote_reading(setup, sample, now, since)
                if reading is not None:
                    found[zone_id] = reading
            remotes = found
        zones = self._zone_inputs(heads, zone_settings, upcoming)
        return Observation(zones, self._unit_input(odu, unit_settings), remotes, odu, heads)

    def _zone_inputs(
        self,
        heads: Mapping[str, HeadReport],
        settings: Mapping[str, ZoneSettings],
        upcoming: Mapping[str, Switch],
    ) -> Mapping[str, ZoneInput]:
        keys = self._zone_keys
        changed: dict[str, ZoneInput] = {}
        for zone_id, setup in self._setups:
            report = heads[zone_id]
            status = report.status
            info = report.info
            zone_settings = settings[zone_id]
            # Spelled out, not through `_or` and one `status is None` test per value: every
            # zone, every tick.
            if status is None:
                temperature, preheating = None, False
            else:
                temperature = status.return_air_temperature
                preheating = status.cold_draft_prevention is True
            available = report.available
            rated_w = None if info is None else info.rated_capacity_w
            if rated_w is None:
                rated_w = 0.0
            switch = upcoming.get(zone_id)
            key = (zone_settings, temperature, available, preheating, rated_w, switch)
            if keys.get(zone_id) != key:
                keys[zone_id] = key
                changed[zone_id] = self._zone_input(zone_id, setup, key)
        if changed:  # a new mapping: last tick's stays as it was
            self._zones = MappingProxyType({**self._zones, **changed})
        return self._zones

    def _zone_input(self, zone_id: str, setup: ZoneSetup, key: _ZoneKey) -> ZoneInput:
        """The zone's input for ``key``: the one made for the same reading before, while the
        zone's settings and next switch point stay the same objects, else a new one. A reading
        moves back and forth between a few tenths, so most changes find their input already
        made (the benchmark: 99 %), and an input that is the very object of an earlier tick
        compares at once."""
        settings, temperature, available, preheating, rated_w, switch = key
        made = self._made.get(zone_id)
        if (
            made is None
            or made[0] is not settings
            or made[1] is not switch
            or len(made[2]) >= _MADE_PER_ZONE
        ):
            made = self._made[zone_id] = (settings, switch, {})
        inputs = made[2]
        reading = (temperature, available, preheating, rated_w)
        zone = inputs.get(reading)
        if zone is None:
            zone = inputs[reading] = zone_input(
                settings,
                temperature,
                available,
                rated_w,
                preheating,
                setup.setpoint_limits,
                setup.sensor_offset_k,
                switch,
            )
        return zone

    def _unit_input(self, report: OduReport, settings: UnitSettings) -> UnitInput:
        info, status = report.info, report.status
        if info is None or status is None:
            # Never reached (or refused): no refrigerant to share. The control runs all the
            # same, on what the heads report, as it does while a unit it knew is lost.
            low, high = self._limits.min_frequency_hz, self._limits.max_frequency_hz
            nothing = UnitObservation(0.0, 0.0, low, high, 0.0, None)
            return UnitInput(nothing, available=False, defrost=False, settings=settings)
        # Each value read once: the key compares them, and a changed key makes the input of
        # the same values (a reading off the bench's firmware is a call each time).
        available = report.available
        allowed_max_hz = status.allowed_max_frequency_hz
        outdoor = status.outdoor_temperature
        defrost = status.defrost
        fault = status.fault
        coil = status.outdoor_coil_temperature
        coil_below_freezing = None if coil is None else coil < 0.0  # only its sign matters
        running = status.compressor_running
        key = (
            info,
            available,
            settings,
            allowed_max_hz,
            outdoor,
            defrost,
            fault,
            coil_below_freezing,
            running,
        )
        unit = self._unit
        if unit is None or key != self._unit_key:
            unit = self._unit = _unit_input_of(
                self._ratings(info),
                allowed_max_hz,
                outdoor,
                defrost,
                fault,
                coil_below_freezing,
                available,
                settings,
                running,
            )
            self._unit_key = key
        return unit

    def _ratings(self, info: OduIdentity) -> UnitRatings:
        """The unit's ratings from its identity (made again only for another identity); a
        rating the unit does not report: none (0 W), and the control's own range."""
        cached = self._unit_ratings
        if cached is not None and cached[0] is info:
            return cached[1]
        ratings = UnitRatings(
            _or(info.rated_heating_capacity_w, 0.0),
            _or(info.rated_cooling_capacity_w, 0.0),
            _or(info.min_frequency_hz, self._limits.min_frequency_hz),
            _or(info.max_frequency_hz, self._limits.max_frequency_hz),
        )
        self._unit_ratings = (info, ratings)
        return ratings
