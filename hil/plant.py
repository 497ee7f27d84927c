"""The physics behind the simulator: rooms as 2R2C networks and the inverter heat pump.

Pure physics in SI units and °C: no registers, no clocks, no I/O. The units in `hil.units`
decide what the machine is told to do; this module says what then happens to the heat.
A first model, kept small so a later one can replace it behind the same `Plant` interface."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from hil.weather import Weather, WeatherSample

ZERO_C_K = 273.15

# ---------------------------------------------------------------------------------------------
# Rooms
# ---------------------------------------------------------------------------------------------

# Per m² of floor, from Sperber et al. 2020, 2R2C fit of the renovated single-family house
# "SFH F Var3" (figures as quoted in DESIGN.md §8). The interior node is the room air together
# with the furniture and inner surfaces; the envelope node is the mass of the outer walls.
# DESIGN's "interior↔air" conductance is the coupling between those two nodes.
INTERIOR_CAPACITY_J_PER_K_M2 = 46e3
ENVELOPE_CAPACITY_J_PER_K_M2 = 370e3
INTERIOR_ENVELOPE_W_PER_K_M2 = 12.0
ENVELOPE_OUTDOOR_W_PER_K_M2 = 0.5
INTERIOR_OUTDOOR_W_PER_K_M2 = 0.26  # windows and ventilation, straight to the air
# An unrenovated house loses 2–3× as much to outdoors (DESIGN §8); the inner coupling and
# the capacities stay.
UNRENOVATED_OUTDOOR_FACTOR = 2.5
INTERNAL_GAINS_W_PER_M2 = 3.0

# Explicit Euler on the interior node is accurate while dt ≪ C_i / (H_ie + H_io) ≈ 3700 s.
MAX_ROOM_STEP_S = 60.0


@dataclass(frozen=True)
class RoomParameters:
    """A room's 2R2C network and its constant heat gains."""

    area_m2: float
    interior_capacity_j_per_k: float
    envelope_capacity_j_per_k: float
    interior_envelope_w_per_k: float
    envelope_outdoor_w_per_k: float
    interior_outdoor_w_per_k: float
    internal_gains_w: float
    aperture_m2: float

    @classmethod
    def for_floor(
        cls, area_m2: float, *, unrenovated: bool = False, aperture_m2: float = 1.0
    ) -> RoomParameters:
        """A room of the reference house, scaled by its floor area."""
        outdoor = UNRENOVATED_OUTDOOR_FACTOR if unrenovated else 1.0
        return cls(
            area_m2=area_m2,
            interior_capacity_j_per_k=INTERIOR_CAPACITY_J_PER_K_M2 * area_m2,
            envelope_capacity_j_per_k=ENVELOPE_CAPACITY_J_PER_K_M2 * area_m2,
            interior_envelope_w_per_k=INTERIOR_ENVELOPE_W_PER_K_M2 * area_m2,
            envelope_outdoor_w_per_k=ENVELOPE_OUTDOOR_W_PER_K_M2 * area_m2 * outdoor,
            interior_outdoor_w_per_k=INTERIOR_OUTDOOR_W_PER_K_M2 * area_m2 * outdoor,
            internal_gains_w=INTERNAL_GAINS_W_PER_M2 * area_m2,
            aperture_m2=aperture_m2,
        )

    @property
    def loss_coefficient_w_per_k(self) -> float:
        """Steady-state heat loss per kelvin of indoor–outdoor difference (UA)."""
        series = 1.0 / (1.0 / self.interior_envelope_w_per_k + 1.0 / self.envelope_outdoor_w_per_k)
        return self.interior_outdoor_w_per_k + series


class RoomModel:
    """One zone's air+interior node and envelope node."""

    def __init__(self, params: RoomParameters, air_c: float, envelope_c: float | None = None):
        self.params = params
        self.air_c = air_c
        # Without history, start the envelope where it would sit in steady state with this
        # air temperature; the caller passes the outdoor temperature via `settle`.
        self.envelope_c = air_c if envelope_c is None else envelope_c

    def settle_envelope(self, outdoor_c: float) -> None:
        """Put the envelope at its steady-state temperature between the air and outdoors."""
        p = self.params
        self.envelope_c = (
            p.interior_envelope_w_per_k * self.air_c + p.envelope_outdoor_w_per_k * outdoor_c
        ) / (p.interior_envelope_w_per_k + p.envelope_outdoor_w_per_k)

    def step(self, dt: float, outdoor_c: float, heat_to_air_w: float) -> None:
        """Advance ``dt`` seconds with a constant heat input into the air node."""
        p = self.params
        remaining = dt
        while remaining > 0:
            h = min(remaining, MAX_ROOM_STEP_S)
            to_envelope = p.interior_envelope_w_per_k * (self.air_c - self.envelope_c)
            air_in = (
                heat_to_air_w - to_envelope - p.interior_outdoor_w_per_k * (self.air_c - outdoor_c)
            )
            envelope_in = to_envelope - p.envelope_outdoor_w_per_k * (self.envelope_c - outdoor_c)
            self.air_c += h * air_in / p.interior_capacity_j_per_k
            self.envelope_c += h * envelope_in / p.envelope_capacity_j_per_k
            remaining -= h


# Moisture from people, cooking and plants: the indoor vapour density exceeds the outdoor one
# by 4 g/m³ in cold weather, falling to 0 at +20 °C outdoors (EN ISO 13788 Annex A, humidity
# class of dwellings with low occupancy). Dehumidification by cooling is not modelled yet.
MOISTURE_EXCESS_G_M3 = 4.0
MOISTURE_EXCESS_ZERO_C = 20.0
WATER_VAPOUR_GAS_CONSTANT = 461.5  # J/(kg·K)


def indoor_relative_humidity(air_c: float, outdoor: WeatherSample) -> float:
    """Indoor RH (%) from the outdoor air's moisture plus the household's moisture excess."""
    outdoor_c = outdoor.temperature_c
    excess = MOISTURE_EXCESS_G_M3 * min(1.0, max(0.0, 1.0 - outdoor_c / MOISTURE_EXCESS_ZERO_C))
    outdoor_g_m3 = _vapour_density_g_m3(_saturation_pressure_pa(outdoor.dew_point_c), outdoor_c)
    saturated_g_m3 = _vapour_density_g_m3(_saturation_pressure_pa(air_c), air_c)
    return min(100.0, 100.0 * (outdoor_g_m3 + excess) / saturated_g_m3)


def _saturation_pressure_pa(t_c: float) -> float:
    """Magnus formula over water (Alduchov & Eskridge 1996 coefficients)."""
    return 610.94 * math.exp(17.625 * t_c / (t_c + 243.04))


def _vapour_density_g_m3(pressure_pa: float, t_c: float) -> float:
    return 1000.0 * pressure_pa / (WATER_VAPOUR_GAS_CONSTANT * (t_c + ZERO_C_K))


# ---------------------------------------------------------------------------------------------
# Heat pump
# ---------------------------------------------------------------------------------------------


class OduMode(StrEnum):
    OFF = "off"
    HEAT = "heat"
    COOL = "cool"


class HeadMode(StrEnum):
    HEAT = "heat"
    COOL = "cool"
    DRY = "dry"
    FAN_ONLY = "fan_only"


@dataclass(frozen=True)
class OutdoorUnitRatings:
    """The reference outdoor unit (DESIGN §5); every default of the heat pump lives here."""

    rated_heating_w: float = 7000.0  # at +7 °C outdoor, 60 Hz
    rated_cooling_w: float = 6500.0  # at +35 °C outdoor, 60 Hz
    rated_hz: float = 60.0
    min_hz: float = 20.0
    max_hz: float = 90.0
    max_heads: int = 8
    quiet_max_hz: float = 60.0
    standby_w: float = 10.0
    # After a start the refrigerant has to move before heat arrives (DESIGN §8: 1–2 min at
    # full power).
    startup_ramp_s: float = 90.0
    # The unit keeps condensing pressure in check by capping its speed so that the heads that
    # take refrigerant get at most this multiple of their rated capacity.
    head_overload: float = 1.4

    def rated_capacity_w(self, mode: OduMode) -> float:
        return self.rated_cooling_w if mode is OduMode.COOL else self.rated_heating_w


@dataclass(frozen=True)
class HeadRatings:
    """The reference indoor head."""

    rated_w: float = 2500.0
    has_humidity_sensor: bool = True
    has_vertical_vane: bool = True
    has_horizontal_vane: bool = True


REFERENCE_ODU = OutdoorUnitRatings()
REFERENCE_HEAD = HeadRatings()

# Capacity derating with outdoor temperature (k in Q = Q_rated·f/60·k). Heating loses
# suction density as it gets colder: 1.0 at +7 °C, ≈0.6 at −15 °C, linear between (and a
# little gain in mild weather). Cooling loses a little as it gets hotter than the +35 °C point.
HEATING_RATING_C = 7.0
HEATING_DERATE_PER_K = 0.4 / 22.0
COOLING_RATING_C = 35.0
COOLING_DERATE_PER_K = 0.01
COOLING_GAIN_PER_K = 0.004

# Refrigerant-side approach temperatures (K) = base + slope × load, load being the heat flow
# over the coil's rated flow. The condenser approach includes subcooling, the evaporator's
# superheat. They grow with load, which is why slow running is efficient.
CONDENSER_APPROACH_K = (5.0, 13.0)
EVAPORATOR_APPROACH_K = (3.0, 7.0)
# Inverter compressors keep a minimum lift for oil return and valve control; it also keeps the
# Carnot estimate honest in mild weather.
MIN_LIFT_K = 20.0
# Carnot fraction η(f): peaks in mid speed, falls at both ends (motor, inverter and valve
# losses at low speed, flow and pressure-ratio losses at high speed). Fitted so that, on a
# matched system (head coils worth the unit's rated capacity) at 20 °C indoors, COP ≈ 3.4 at
# +7 °C and 60 Hz, ≈ 4.3 at +7 °C and 30 Hz, ≈ 2.0 at −10 °C and 90 Hz (DESIGN §8).
ETA_PEAK = 0.454
ETA_PEAK_HZ = 49.0
ETA_CURVATURE_PER_HZ2 = 4.5e-5
# Part of the cooling capacity condenses water instead of cooling air; typical sensible heat
# ratios of ductless heads at rating conditions are 0.7–0.8, lower in dry mode (slow fan).
SENSIBLE_HEAT_RATIO = {HeadMode.COOL: 0.75, HeadMode.DRY: 0.6}
# Indoor fan electrical power: 20–40 W from quiet (1) to turbo (5) (DESIGN §8); it ends up as
# heat in the room.
FAN_W_BASE = 15.0
FAN_W_PER_SPEED = 5.0
# Warm air pools at the ceiling, where the head measures the return air (DESIGN §8).
SENSOR_BIAS_HEATING_K = 1.5
SENSOR_BIAS_COOLING_K = -0.5
SENSOR_BIAS_TAU_S = 300.0
HEAD_COIL_TAU_S = 120.0
OUTDOOR_COIL_TAU_S = 120.0
DISCHARGE_TAU_S = 300.0
DISCHARGE_SUPERHEAT_K = (20.0, 15.0)  # above condensing: base + slope × outdoor-coil load


def capacity_factor(mode: OduMode, outdoor_c: float) -> float:
    """k(T_out): the share of rated capacity the unit delivers at rated speed."""
    if mode is OduMode.COOL:
        if outdoor_c >= COOLING_RATING_C:
            return max(0.7, 1.0 - COOLING_DERATE_PER_K * (outdoor_c - COOLING_RATING_C))
        return min(1.1, 1.0 + COOLING_GAIN_PER_K * (COOLING_RATING_C - outdoor_c))
    return min(1.15, max(0.25, 1.0 + HEATING_DERATE_PER_K * (outdoor_c - HEATING_RATING_C)))


def carnot_fraction(frequency_hz: float) -> float:
    """η(f), the share of the Carnot COP the machine reaches at this compressor speed."""
    return ETA_PEAK - ETA_CURVATURE_PER_HZ2 * (frequency_hz - ETA_PEAK_HZ) ** 2


@dataclass(frozen=True)
class OperatingPoint:
    """The steady state of the refrigerant cycle at one speed and set of temperatures."""

    capacity_w: float  # heat delivered (heating) or removed (cooling), total
    compressor_power_w: float
    cop: float
    condensing_c: float
    evaporating_c: float
    outdoor_load: float  # heat flow over the outdoor coil's rated flow


def operating_point(
    ratings: OutdoorUnitRatings,
    mode: OduMode,
    frequency_hz: float,
    outdoor_c: float,
    indoor_c: float,
    indoor_coil_w: float,
) -> OperatingPoint:
    """Capacity and efficiency of the running compressor.

    ``indoor_coil_w`` is the rated capacity of the heads taking refrigerant; with more coil
    surface the indoor approach shrinks. Q = Q_rated·(f/60 Hz)·k(T_out); COP is the Carnot COP
    between the condensing and evaporating temperatures times η(f)."""
    if mode is OduMode.OFF or frequency_hz <= 0 or indoor_coil_w <= 0:
        raise ValueError("a heat pump operating point needs a mode, a speed and a coil")
    rated = ratings.rated_capacity_w(mode)
    capacity = rated * frequency_hz / ratings.rated_hz * capacity_factor(mode, outdoor_c)
    outdoor_load = capacity / rated
    indoor_load = capacity / indoor_coil_w
    if mode is OduMode.HEAT:
        condensing = indoor_c + _approach(CONDENSER_APPROACH_K, indoor_load)
        evaporating = outdoor_c - _approach(EVAPORATOR_APPROACH_K, outdoor_load)
    else:
        condensing = outdoor_c + _approach(CONDENSER_APPROACH_K, outdoor_load)
        evaporating = indoor_c - _approach(EVAPORATOR_APPROACH_K, indoor_load)
    lift = max(condensing - evaporating, MIN_LIFT_K)
    # Heating delivers the condenser heat (T_hot / lift); cooling the evaporator heat
    # (T_cold / lift).
    useful_k = (condensing if mode is OduMode.HEAT else evaporating) + ZERO_C_K
    cop = carnot_fraction(frequency_hz) * useful_k / lift
    return OperatingPoint(
        capacity_w=capacity,
        compressor_power_w=capacity / cop,
        cop=cop,
        condensing_c=condensing,
        evaporating_c=evaporating,
        outdoor_load=outdoor_load,
    )


def _approach(coefficients: tuple[float, float], load: float) -> float:
    base, slope = coefficients
    return base + slope * load


def startup_fraction(ratings: OutdoorUnitRatings, seconds_running: float) -> float:
    """Share of the steady capacity that reaches the heads this long after a start."""
    return min(1.0, max(0.0, seconds_running / ratings.startup_ramp_s))


def fan_power_w(speed: int) -> float:
    return FAN_W_BASE + FAN_W_PER_SPEED * speed if speed > 0 else 0.0


def serves(odu_mode: OduMode, head_mode: HeadMode) -> bool:
    """Whether a head in this mode can take refrigerant from the unit in that mode.

    A multi-split either heats or cools; dry mode is slow cooling."""
    if odu_mode is OduMode.HEAT:
        return head_mode is HeadMode.HEAT
    if odu_mode is OduMode.COOL:
        return head_mode in (HeadMode.COOL, HeadMode.DRY)
    return False


# ---------------------------------------------------------------------------------------------
# The plant: rooms + heat pump + weather
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompressorDrive:
    """What the outdoor unit's firmware does with the compressor now."""

    mode: OduMode = OduMode.OFF
    frequency_hz: float = 0.0  # actual speed; 0 = stopped
    seconds_running: float = 0.0  # since the last start


@dataclass(frozen=True)
class HeadDrive:
    """What one head's firmware does now."""

    on: bool = False
    mode: HeadMode = HeadMode.HEAT
    fan_speed: int = 0  # 0 stopped, 1…5
    request_w: float = 0.0  # refrigerant share asked for, in W of capacity
    rated_w: float = REFERENCE_HEAD.rated_w

    def takes_refrigerant(self, odu_mode: OduMode) -> bool:
        return self.on and self.request_w > 0 and serves(odu_mode, self.mode)


@dataclass(frozen=True)
class HeadState:
    """A head as the plant sees it."""

    heat_to_room_w: float = 0.0  # sensible, negative when cooling; without fan heat
    refrigerant_w: float = 0.0  # total capacity through the coil (incl. latent)
    coil_c: float = 20.0
    sensor_bias_k: float = 0.0  # return-air sensor minus room air
    valve_pct: float = 0.0
    fan_power_w: float = 0.0


@dataclass(frozen=True)
class OutdoorState:
    """The outdoor unit as the plant sees it."""

    capacity_w: float = 0.0  # total delivered (heating) or removed (cooling) now
    compressor_power_w: float = 0.0
    fan_power_w: float = 0.0  # the heads' fans, fed through the outdoor unit
    standby_w: float = 0.0
    cop: float = 0.0  # of the refrigerant cycle now (0 when stopped)
    condensing_c: float | None = None
    evaporating_c: float | None = None
    coil_c: float = 0.0
    discharge_c: float = 0.0

    @property
    def input_power_w(self) -> float:
        """What the unit's meter sees: the heads are powered through the outdoor unit."""
        return self.compressor_power_w + self.fan_power_w + self.standby_w


class Plant:
    """The house and the heat pump, advanced in time by `step`."""

    def __init__(
        self,
        rooms: Mapping[str, RoomModel],
        weather: Weather,
        start_s: float,
        ratings: OutdoorUnitRatings = REFERENCE_ODU,
    ) -> None:
        self.rooms = dict(rooms)
        self.weather = weather
        self.ratings = ratings
        self.time_s = start_s
        outdoor = weather.temperature(start_s)
        for room in self.rooms.values():
            room.settle_envelope(outdoor)
        self.head_states: dict[str, HeadState] = {
            zone: HeadState(coil_c=room.air_c) for zone, room in self.rooms.items()
        }
        self.outdoor_state = OutdoorState(
            standby_w=ratings.standby_w, coil_c=outdoor, discharge_c=outdoor
        )

    def outdoor(self) -> WeatherSample:
        return self.weather.at(self.time_s)

    def operating_point(
        self, mode: OduMode, frequency_hz: float, receiving: Mapping[str, HeadDrive]
    ) -> OperatingPoint:
        """The refrigerant cycle now, with these heads (by zone) taking refrigerant.

        The indoor side sees the heads' rooms, weighted by coil size."""
        coil_w = sum(d.rated_w for d in receiving.values())
        indoor_c = sum(self.rooms[z].air_c * d.rated_w for z, d in receiving.items()) / coil_w
        outdoor_c = self.weather.temperature(self.time_s)
        return operating_point(self.ratings, mode, frequency_hz, outdoor_c, indoor_c, coil_w)

    def step(self, dt: float, compressor: CompressorDrive, heads: Mapping[str, HeadDrive]) -> None:
        """Advance ``dt`` seconds with the machine driven as given (drives held constant)."""
        remaining = dt
        elapsed = 0.0
        while remaining > 0:
            h = min(remaining, MAX_ROOM_STEP_S)
            running = CompressorDrive(
                compressor.mode, compressor.frequency_hz, compressor.seconds_running + elapsed
            )
            self._substep(h, running, heads)
            remaining -= h
            elapsed += h

    def _substep(
        self, dt: float, compressor: CompressorDrive, drives: Mapping[str, HeadDrive]
    ) -> None:
        weather = self.weather.at(self.time_s)
        outdoor_c = weather.temperature_c
        mode = compressor.mode
        receiving = {
            zone: d
            for zone, d in drives.items()
            if compressor.frequency_hz > 0 and d.takes_refrigerant(mode)
        }
        point: OperatingPoint | None = None
        delivered = 0.0
        if receiving:
            point = self.operating_point(mode, compressor.frequency_hz, receiving)
            delivered = point.capacity_w * startup_fraction(
                self.ratings, compressor.seconds_running
            )
        requested = sum(d.request_w for d in receiving.values())
        fans_w = 0.0
        for zone, room in self.rooms.items():
            drive = drives.get(zone, HeadDrive())
            before = self.head_states[zone]
            share = delivered * drive.request_w / requested if zone in receiving else 0.0
            sensible = (
                share if mode is OduMode.HEAT else -share * SENSIBLE_HEAT_RATIO.get(drive.mode, 1.0)
            )
            fan_w = fan_power_w(drive.fan_speed) if drive.on else 0.0
            fans_w += fan_w
            gains = (
                sensible
                + fan_w
                + room.params.internal_gains_w
                + room.params.aperture_m2 * weather.ghi_w_m2
            )
            room.step(dt, outdoor_c, gains)
            self.head_states[zone] = self._head_state(
                before, drive, point, mode, share, sensible, fan_w, room.air_c, dt
            )
        self.outdoor_state = self._outdoor_state(point, delivered, fans_w, outdoor_c, mode, dt)
        self.time_s += dt

    def _head_state(
        self,
        before: HeadState,
        drive: HeadDrive,
        point: OperatingPoint | None,
        mode: OduMode,
        share_w: float,
        sensible_w: float,
        fan_w: float,
        air_c: float,
        dt: float,
    ) -> HeadState:
        if share_w > 0 and point is not None:
            coil_target = point.condensing_c if mode is OduMode.HEAT else point.evaporating_c
            bias_target = SENSOR_BIAS_HEATING_K if mode is OduMode.HEAT else SENSOR_BIAS_COOLING_K
            valve = min(100.0, 100.0 * share_w / (drive.rated_w * self.ratings.head_overload))
        else:
            coil_target, bias_target, valve = air_c, 0.0, 0.0
        return HeadState(
            heat_to_room_w=sensible_w,
            refrigerant_w=share_w,
            coil_c=_relax(before.coil_c, coil_target, dt, HEAD_COIL_TAU_S),
            sensor_bias_k=_relax(before.sensor_bias_k, bias_target, dt, SENSOR_BIAS_TAU_S),
            valve_pct=valve,
            fan_power_w=fan_w,
        )

    def _outdoor_state(
        self,
        point: OperatingPoint | None,
        delivered_w: float,
        fans_w: float,
        outdoor_c: float,
        mode: OduMode,
        dt: float,
    ) -> OutdoorState:
        before = self.outdoor_state
        if point is None:
            coil_target, discharge_target = outdoor_c, outdoor_c
            power, cop = 0.0, 0.0
        else:
            coil_target = point.evaporating_c if mode is OduMode.HEAT else point.condensing_c
            discharge_target = point.condensing_c + _approach(
                DISCHARGE_SUPERHEAT_K, point.outdoor_load
            )
            # During the start-up ramp the compressor already draws full power (cycling loss).
            power, cop = point.compressor_power_w, point.cop
        return OutdoorState(
            capacity_w=delivered_w,
            compressor_power_w=power,
            fan_power_w=fans_w,
            standby_w=self.ratings.standby_w,
            cop=cop,
            condensing_c=None if point is None else point.condensing_c,
            evaporating_c=None if point is None else point.evaporating_c,
            coil_c=_relax(before.coil_c, coil_target, dt, OUTDOOR_COIL_TAU_S),
            discharge_c=_relax(before.discharge_c, discharge_target, dt, DISCHARGE_TAU_S),
        )


def _relax(value: float, target: float, dt: float, tau_s: float) -> float:
    """Exact first-order lag over dt (stable for any step)."""
    return target + (value - target) * math.exp(-dt / tau_s)
