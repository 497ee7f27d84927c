"""The inverter heat pump's refrigerant cycle: capacity, efficiency, start-up, frost and defrost.

Pure physics in SI units and °C. The firmware in `hil.firmware` decides what the machine is
told to do; these functions say what it then delivers and costs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, cached_property

from minisplit.drivers.vocabulary import HeadMode, OduMode
from minisplit.hil.psychrometrics import (
    ZERO_C_K,
    humidity_ratio,
    saturation_pressure_ice_pa,
    saturation_pressure_pa,
)

# The outdoor modes as plain globals: on Python 3.11 reading a member off its enum class costs
# ten times as much, and the plant and the firmware compare modes every step.
ODU_OFF, ODU_HEAT, ODU_COOL = OduMode.OFF, OduMode.HEAT, OduMode.COOL


# Frost the outdoor coil carries when the unit defrosts, per kW of rated heating capacity (the
# coil's face area scales with it). Calibrated so that the reference unit at its rated speed in
# humid air at 0 °C (90 % RH) defrosts after ≈ 47 min (docs/benchmark.md: about 45 min); see
# `frost_rate_kg_s` for where the rate comes from.
FROST_LIMIT_KG_PER_KW = 0.19


@dataclass(frozen=True)
class OutdoorUnitRatings:
    """The reference outdoor unit (docs/reference-unit.md); every default of the heat pump lives
    here."""

    rated_heating_w: float = 7000.0  # at +7 °C outdoor, 60 Hz
    rated_cooling_w: float = 6500.0  # at +35 °C outdoor, 60 Hz
    rated_hz: float = 60.0
    min_hz: float = 20.0
    max_hz: float = 90.0
    max_heads: int = 8
    quiet_max_hz: float = 60.0
    standby_w: float = 10.0
    # After a start the refrigerant has to move and the indoor coils to warm before heat
    # arrives (docs/benchmark.md: capacity ramps over 1–2 min at full power).
    startup_ramp_s: float = 90.0
    # The unit keeps condensing pressure in check by capping its speed so that the heads that
    # take refrigerant get at most this multiple of their rated capacity.
    head_overload: float = 1.4

    def rated_capacity_w(self, mode: OduMode) -> float:
        return self.rated_cooling_w if mode is ODU_COOL else self.rated_heating_w

    @cached_property
    def frost_limit_kg(self) -> float:
        # Cached: the plant and the firmware ask every step.
        return FROST_LIMIT_KG_PER_KW * self.rated_heating_w / 1000.0


@dataclass(frozen=True)
class HeadRatings:
    """An indoor head."""

    rated_w: float = 2500.0
    has_humidity_sensor: bool = True
    has_vertical_vane: bool = True
    has_horizontal_vane: bool = True


REFERENCE_ODU = OutdoorUnitRatings()
REFERENCE_HEAD = HeadRatings()

# The head modes that take refrigerant from the outdoor unit in each of its modes: a
# multi-split heats or cools, never both, and dry mode is slow cooling.
SERVED_HEAD_MODES: dict[OduMode, tuple[HeadMode, ...]] = {
    OduMode.OFF: (),
    OduMode.HEAT: (HeadMode.HEAT,),
    OduMode.COOL: (HeadMode.COOL, HeadMode.DRY),
}

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
# +7 °C and 60 Hz, ≈ 4.3 at +7 °C and 30 Hz, ≈ 2.0 at −10 °C and 90 Hz (docs/benchmark.md).
ETA_PEAK = 0.454
ETA_PEAK_HZ = 49.0
ETA_CURVATURE_PER_HZ2 = 4.5e-5
# Part of the cooling capacity condenses water instead of cooling air; typical sensible heat
# ratios of ductless heads at rating conditions are 0.7–0.8, lower in dry mode (slow fan).
SENSIBLE_HEAT_RATIO = {HeadMode.COOL: 0.75, HeadMode.DRY: 0.6}
# Indoor fan electrical power: 20–40 W from quiet (1) to turbo (5) (docs/benchmark.md); it ends up
# as heat in the room.
FAN_W_BASE = 15.0
FAN_W_PER_SPEED = 5.0

# ---- frost and defrost ----
CP_AIR_J_PER_KG_K = 1006.0
SUBLIMATION_J_PER_KG = 2.834e6
FUSION_J_PER_KG = 3.34e5
# Frost blocks the coil's air passages: at the defrost limit the evaporator runs this much
# colder than clean (less airflow, an insulating layer), costing capacity and COP.
FROST_PENALTY_K = 3.0
# With the compressor off (or the coil above 0 °C), air warmer than 0 °C melts frost by natural
# convection over the finned coil.
PASSIVE_MELT_W_PER_K = 60.0
# Reverse-cycle defrost with the indoor fans stopped: the suction side is starved, so the
# compressor draws about half the power of heating at the same speed; the indoor coils and
# casings give up a little heat to the refrigerant (a share of each head's rating).
DEFROST_POWER_RATIO = 0.5
DEFROST_INDOOR_W_PER_W = 0.06


def capacity_factor(mode: OduMode, outdoor_c: float) -> float:
    """k(T_out): the share of rated capacity the unit delivers at rated speed."""
    # The limits as conditionals, not min()/max(): the plant asks every step, and on Python
    # 3.11 those builtins cost more than the rest of the function (so below, too).
    if mode is ODU_COOL:
        if outdoor_c >= COOLING_RATING_C:
            k = 1.0 - COOLING_DERATE_PER_K * (outdoor_c - COOLING_RATING_C)
            return k if k > 0.7 else 0.7
        k = 1.0 + COOLING_GAIN_PER_K * (COOLING_RATING_C - outdoor_c)
        return k if k < 1.1 else 1.1
    k = 1.0 + HEATING_DERATE_PER_K * (outdoor_c - HEATING_RATING_C)
    k = k if k > 0.25 else 0.25
    return k if k < 1.15 else 1.15


def capacity_per_hz(ratings: OutdoorUnitRatings, mode: OduMode, outdoor_c: float) -> float:
    """The unit's capacity map: W of capacity per Hz of compressor speed now (clean coil)."""
    return ratings.rated_capacity_w(mode) * capacity_factor(mode, outdoor_c) / ratings.rated_hz


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


def cycle(
    ratings: OutdoorUnitRatings,
    mode: OduMode,
    frequency_hz: float,
    outdoor_c: float,
    indoor_c: float,
    indoor_coil_w: float,
    frost_fraction: float = 0.0,
) -> tuple[float, float, float, float, float]:
    """(capacity W, compressor power W, COP, condensing °C, evaporating °C): the plant's fast
    path of `operating_point`, with no object made."""
    heating = mode is not ODU_COOL
    rated = ratings.rated_cooling_w if not heating else ratings.rated_heating_w
    # Frost acts like a colder outdoor coil: lower suction pressure, less capacity.
    penalty = FROST_PENALTY_K * frost_fraction if heating else 0.0
    capacity = rated * frequency_hz / ratings.rated_hz * capacity_factor(mode, outdoor_c - penalty)
    outdoor_load = capacity / rated
    indoor_load = capacity / indoor_coil_w
    if heating:
        condensing = indoor_c + CONDENSER_APPROACH_K[0] + CONDENSER_APPROACH_K[1] * indoor_load
        evaporating = (
            outdoor_c - EVAPORATOR_APPROACH_K[0] - EVAPORATOR_APPROACH_K[1] * outdoor_load - penalty
        )
        useful_k = condensing + ZERO_C_K
    else:
        condensing = outdoor_c + CONDENSER_APPROACH_K[0] + CONDENSER_APPROACH_K[1] * outdoor_load
        evaporating = indoor_c - EVAPORATOR_APPROACH_K[0] - EVAPORATOR_APPROACH_K[1] * indoor_load
        useful_k = evaporating + ZERO_C_K
    lift = condensing - evaporating
    lift = MIN_LIFT_K if lift < MIN_LIFT_K else lift
    # Heating delivers the condenser heat (T_hot / lift); cooling the evaporator's (T_cold / lift).
    cop = (ETA_PEAK - ETA_CURVATURE_PER_HZ2 * (frequency_hz - ETA_PEAK_HZ) ** 2) * useful_k / lift
    return capacity, capacity / cop, cop, condensing, evaporating


def operating_point(
    ratings: OutdoorUnitRatings,
    mode: OduMode,
    frequency_hz: float,
    outdoor_c: float,
    indoor_c: float,
    indoor_coil_w: float,
    frost_fraction: float = 0.0,
) -> OperatingPoint:
    """Capacity and efficiency of the running compressor.

    ``indoor_coil_w`` is the rated capacity of the heads taking refrigerant; with more coil
    surface the indoor approach shrinks. Q = Q_rated·(f/60 Hz)·k(T_out); COP is the Carnot COP
    between the condensing and evaporating temperatures times η(f). ``frost_fraction`` is the
    outdoor coil's frost over the defrost limit (heating only)."""
    if mode is OduMode.OFF or frequency_hz <= 0 or indoor_coil_w <= 0:
        raise ValueError("a heat pump operating point needs a mode, a speed and a coil")
    return OperatingPoint(
        *cycle(ratings, mode, frequency_hz, outdoor_c, indoor_c, indoor_coil_w, frost_fraction)
    )


@cache
def rated_input_power_w(ratings: OutdoorUnitRatings) -> float:
    """Compressor input at the heating rating point (+7 °C, 60 Hz, 20 °C indoors, matched
    heads): what a demand limit of 100 % means."""
    return cycle(ratings, OduMode.HEAT, ratings.rated_hz, 7.0, 20.0, ratings.rated_heating_w)[1]


def best_operating_point(
    ratings: OutdoorUnitRatings,
    mode: OduMode,
    load_w: float,
    outdoor_c: float,
    indoor_c: float,
    indoor_coil_w: float,
) -> OperatingPoint | None:
    """The speed at which the unit delivers ``load_w`` (on average) at the highest COP, with
    no start-up losses: at least the speed that covers the load, or any higher one run part of
    the time (below the minimum speed's output, cycling is the only way). None when the load
    exceeds the unit. The mean compressor power is load_w / cop of the point returned."""
    if mode is OduMode.OFF or load_w <= 0 or indoor_coil_w <= 0:
        raise ValueError("a best operating point needs a mode, a load and a coil")
    per_hz = capacity_per_hz(ratings, mode, outdoor_c)
    low = max(ratings.min_hz, load_w / per_hz)
    high = ratings.max_hz
    if low > high + 1e-9:
        return None

    def cop(hz: float) -> float:
        return cycle(ratings, mode, hz, outdoor_c, indoor_c, indoor_coil_w)[2]

    # COP(f) is unimodal (η(f) peaks in mid speed, the approaches grow with speed): golden
    # section to 0.1 Hz, one COP per narrowing.
    ratio = 0.6180339887498949
    a, b = low, max(low, high)
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    cop_c, cop_d = cop(c), cop(d)
    while b - a > 0.1:
        if cop_c >= cop_d:
            b, d, cop_d = d, c, cop_c
            c = b - ratio * (b - a)
            cop_c = cop(c)
        else:
            a, c, cop_c = c, d, cop_d
            d = a + ratio * (b - a)
            cop_d = cop(d)
    best = low if cop(low) >= max(cop_c, cop_d) else (c if cop_c >= cop_d else d)
    return operating_point(ratings, mode, best, outdoor_c, indoor_c, indoor_coil_w)


def startup_fraction(ratings: OutdoorUnitRatings, seconds_delivering: float) -> float:
    """Share of the steady capacity that reaches the heads this long after a start (or after a
    defrost, when the indoor coils have to warm again)."""
    share = seconds_delivering / ratings.startup_ramp_s
    share = share if share > 0.0 else 0.0
    return share if share < 1.0 else 1.0


def fan_power_w(speed: int) -> float:
    return FAN_W_BASE + FAN_W_PER_SPEED * speed if speed > 0 else 0.0


def frost_rate_kg_s(
    heat_from_air_w: float, air_c: float, dew_point_c: float, coil_c: float
) -> float:
    """How fast frost grows on an outdoor coil at ``coil_c`` taking this much heat from air.

    Heat and moisture leave the air together (Lewis relation ≈ 1 for air–water): the latent
    share of the heat is L·Δw / (cp·ΔT + L·Δw), with Δw the humidity-ratio difference between
    the air and saturation over ice at the coil, ΔT the air–coil difference. So frost grows
    with the heat taken and with humidity, and a slow compressor (warmer coil, smaller Δw and
    less heat) frosts less per hour. No frost above 0 °C (condensate drains) or in dry air."""
    if coil_c >= 0.0 or heat_from_air_w <= 0.0:
        return 0.0
    dw = humidity_ratio(saturation_pressure_pa(dew_point_c)) - humidity_ratio(
        saturation_pressure_ice_pa(coil_c)
    )
    if dw <= 0.0:
        return 0.0
    latent = SUBLIMATION_J_PER_KG * dw
    difference = air_c - coil_c
    sensible = CP_AIR_J_PER_KG_K * (0.1 if difference < 0.1 else difference)
    return heat_from_air_w * latent / (sensible + latent) / SUBLIMATION_J_PER_KG


def passive_melt_rate_kg_s(air_c: float) -> float:
    """Frost melting off an idle coil in air above 0 °C."""
    return PASSIVE_MELT_W_PER_K * air_c / FUSION_J_PER_KG if air_c > 0.0 else 0.0


def defrost_power_w(ratings: OutdoorUnitRatings, frequency_hz: float) -> float:
    """Compressor input during a reverse-cycle defrost at this speed."""
    return DEFROST_POWER_RATIO * rated_input_power_w(ratings) * frequency_hz / ratings.rated_hz


def defrost_melt_rate_kg_s(compressor_w: float, indoor_w: float, outdoor_c: float) -> float:
    """Frost melted by a reverse cycle: the compressor's work and the heat drawn from indoors
    reach the coil, less what the coil (held near 0 °C by the melting ice) loses to colder
    outdoor air."""
    loss = PASSIVE_MELT_W_PER_K * (-outdoor_c if -outdoor_c > 0.0 else 0.0)
    melting_w = compressor_w + indoor_w - loss
    return (melting_w if melting_w > 0.0 else 0.0) / FUSION_J_PER_KG
