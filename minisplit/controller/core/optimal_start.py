"""Optimal start and stop (pure): bring a zone's next switch point forward when that keeps the
homeowner's comfort at less cost, from what the room has shown of its warm-up and cool-down.

- **Early start**: a switch point that asks for more warmth (or coolth) — a morning's end of
  the night setback, a zone switched on — is brought forward by the time the room needs to get
  there, so that it is at the new target at the scheduled time, not an hour later.
- **Early stop** (coasting): a switch point that asks for less — the evening's setback, a zone
  switched off — is brought forward while the room, left alone, stays inside the comfort band
  of the setpoint still in effect until then (the warmth stored in the room is used up instead
  of being held to the last minute).

What a room shows is learned as it runs (`learn`), per zone, in a two-number model of the room
against the outdoors: with its head working hard it moves toward the target at ``gain`` minus
``loss`` × (room − outdoor) kelvin per hour; left alone it drifts toward the outdoors at
``loss`` × (room − outdoor). Both are learned from the zone's own temperature over windows of
a quarter hour or so (a reading moves in 0.1 K steps), as exponential averages.
docs/architecture.md, "Optimal start and stop"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from minisplit.controller.core.forecast import ForecastTuning, learn_sun
from minisplit.controller.core.presets import PresetTable, preset_setpoints
from minisplit.controller.core.schedule import Switch
from minisplit.controller.core.settings import ZoneMode, ZoneSettings

HOUR_S = 3600.0
INFINITE = float("inf")


class RoomRates(NamedTuple):
    """What a room has shown (kelvin per hour, and per hour): see the module's text."""

    heat_gain: float  # how fast the working head warms it, at no difference to the outdoors
    cool_gain: float  # how fast the working head cools it, likewise
    loss: float  # drift toward the outdoors, per kelvin of difference, per hour
    learned: int = 0  # windows learned from
    drift: float = 0.0  # how fast it moved of late left alone (K/h, signed): sun, gains, losses
    # How fast the sun warms it left alone, K/h per kW/m² of the forecast's sun (learned only
    # with a forecast: `controller.core.forecast`).
    sun: float = 0.0


# Before anything is learned: a room that its working head warms 5 K/h (cools 2 K/h), that
# loses 3 % of its difference to the outdoors an hour (a time constant of ~33 h), and that the
# sun warms 1 K/h per kW/m² (a room with a south window). The bench's rooms learn 4.5–9.6 K/h
# of warm-up (a small head in a cold room ~2–3); a guess of 2 K/h started each first morning
# two or three times too early, and the warmth stored that morning stayed for days in mild
# sunny weeks (unrenovated-shoulder+2w: 15.5 K·h per zone beyond the bound's, 9.9 with 5 K/h).
PRIOR = RoomRates(5.0, 2.0, 0.03, sun=1.0)


@dataclass(frozen=True, slots=True)
class StartTuning:
    """Optimal start and stop (config `[control] optimal_start`)."""

    enabled: bool = True
    prior: RoomRates = PRIOR
    # A start is never brought forward by more than this, nor a stop.
    max_lead_s: float = 3 * HOUR_S
    # The compressor's own delays before the head works (a minimum off time, its ramp).
    dead_time_s: float = 600.0
    # The time a warm-up needs is stretched by this (a late start costs comfort, an early
    # one a little energy), and a coasting room's drift by this (it must stay in the band).
    lead_margin: float = 1.2
    drift_margin: float = 1.5
    # During an early start the zone aims this far short of the new target (the loop's usual
    # aim lies further inside the band: the room must be at the target at the switch point).
    aim_offset_k: float = 0.1
    # Early stop: the room must stay this far inside the band of the setpoint still in effect,
    # and is never taken to drift toward an edge slower than this (K/h).
    min_drift: float = 0.2
    band_k: float = 0.5
    keep_inside_k: float = 0.1
    # No early heating start while it is less than this much colder outdoors than the new
    # target: a mild morning's room warms quickly, and sun and gains bring it up anyway;
    # warmth stored ahead comes back as an overheated afternoon (a warm April week: 16.6 K·h
    # per zone above the band beyond the bound's, 4.9 without). Not for cooling: a summer
    # morning is mild outside, and pre-cooling then is what meets the day's first target.
    mild_k: float | None = 8.0
    # A zone learns its warm-up while its aim is this far off (its head works hard).
    working_k: float = 0.3
    # Learning: a window's length, how much one window moves the estimate, and the slowest
    # warm-up the model believes (a window of defrosts or open windows is no room's nature).
    window_s: float = 900.0
    min_warmup_s: float = 300.0
    min_warmup_k: float = 0.5
    learn_weight: float = 0.25
    min_gain: float = 0.3
    max_gain: float = 12.0
    min_loss: float = 0.005
    max_loss: float = 0.5


# What a learning window watches (`Window.kind`).
NOTHING, WARMING, COOLING, DRIFTING = 0, 1, 2, 3


class Window(NamedTuple):
    """A learning window under way: what the zone did since ``since``, from where."""

    kind: int
    since: float
    temperature: float
    outdoor: float
    solar: float | None = None  # the forecast's sun then, kW/m² (None: no forecast)


class SwitchAsks(NamedTuple):
    """What the next switch point asks of a zone: the (heating, cooling) setpoints its
    settings regulate to now and those at the switch point (`_heat_cool`), with the settings
    and the preset table they are worked out from."""

    settings: ZoneSettings
    later: ZoneSettings
    presets: PresetTable
    now: tuple[float, float]
    next: tuple[float, float]


class ZoneLookahead(NamedTuple):
    """What a zone's optimal start remembers: the room's rates, the window under way, and the
    switch point (its moment) being met early, if one is."""

    rates: RoomRates
    window: Window | None = None
    early_for: float | None = None  # the moment of the switch point brought forward
    starting: bool = False  # that switch point asks more of the zone (an early start)
    # The forecast's sun will overheat the room anyway: it is held at the band's bottom
    # (`controller.core.forecast`), as worked out at ``held_at``.
    held: bool = False
    held_at: float | None = None
    # What the next switch point asks, kept while the settings, the switch point's and the
    # table stay the same objects: `early_switch` weighs it every tick of the hours before.
    asks: SwitchAsks | None = None


def _heat_cool(settings: ZoneSettings, presets: PresetTable) -> tuple[float, float]:
    """The (heating, cooling) setpoints the settings regulate to: −inf / +inf for a side they
    do not (off and fan only regulate neither; dry is left alone: it dries, not cools)."""
    mode = settings.mode
    if mode is ZoneMode.OFF or mode is ZoneMode.FAN_ONLY or mode is ZoneMode.DRY:
        return -INFINITE, INFINITE
    heat, cool = preset_setpoints(settings, presets)
    if mode is ZoneMode.HEAT:
        return heat, INFINITE
    if mode is ZoneMode.COOL:
        return -INFINITE, cool
    return heat, cool


def _warmup_s(rate: float, rise_k: float, tuning: StartTuning) -> float:
    if rise_k <= 0.0:
        return 0.0
    rate = max(rate, tuning.min_gain)
    return tuning.dead_time_s + tuning.lead_margin * rise_k / rate * HOUR_S


def _coasts(
    temperature: float,
    outdoor: float,
    lower_edge: float,
    upper_edge: float,
    left_s: float,
    rates: RoomRates,
    tuning: StartTuning,
) -> bool:
    """A room left alone for ``left_s`` stays between the edges. Toward each edge it is taken
    to drift as fast as the faster of the physics (its loss toward the outdoors) and what it
    has shown of late left alone (sun and gains included), stretched by the margin, and never
    slower than `StartTuning.min_drift`."""
    margin, floor = tuning.drift_margin, tuning.min_drift
    hours = left_s / HOUR_S
    toward_outdoors = rates.loss * (outdoor - temperature)  # K/h, signed
    if lower_edge > -INFINITE:
        down = max(-toward_outdoors, -rates.drift, floor)
        if temperature - margin * down * hours < lower_edge:
            return False
    if upper_edge < INFINITE:
        up = max(toward_outdoors, rates.drift, floor)
        if temperature + margin * up * hours > upper_edge:
            return False
    return True


def early_switch(
    look: ZoneLookahead,
    settings: ZoneSettings,
    upcoming: Switch | None,
    temperature: float | None,
    outdoor: float | None,
    now: float,
    presets: PresetTable,
    tuning: StartTuning,
) -> tuple[ZoneLookahead, ZoneSettings | None]:
    """The settings to run the zone on now — the next switch point's (brought forward), or
    None for its own — and the zone's memory. Once brought forward, a switch point stays so
    until its moment (the room's progress must not start and stop it again)."""
    if upcoming is None or not tuning.enabled or temperature is None:
        return (look if look.early_for is None else look._replace(early_for=None)), None
    at = upcoming.at_s
    left = at - now
    if left <= 0.0 or left > tuning.max_lead_s:
        return (look if look.early_for is None else look._replace(early_for=None)), None
    if look.early_for == at:
        return look, upcoming.settings
    later = upcoming.settings
    asks = look.asks
    if (
        asks is None
        or asks.settings is not settings
        or asks.later is not later
        or asks.presets is not presets
    ):
        asks = SwitchAsks(
            settings, later, presets, _heat_cool(settings, presets), _heat_cool(later, presets)
        )
        look = look._replace(asks=asks)
    heat_now, cool_now = asks.now
    heat_next, cool_next = asks.next
    rates = look.rates
    out = temperature if outdoor is None else outdoor
    starting = False
    if heat_next > heat_now or cool_next < cool_now:
        # More is asked: start when the warm-up (or cool-down) takes the time left.
        if heat_next > heat_now:
            rate = rates.heat_gain - rates.loss * (temperature - out)
            need = _warmup_s(rate, heat_next - tuning.aim_offset_k - temperature, tuning)
        else:
            rate = rates.cool_gain - rates.loss * (out - temperature)
            need = _warmup_s(rate, temperature - cool_next - tuning.aim_offset_k, tuning)
        if need < left:
            return look, None
        mild = tuning.mild_k
        if (
            mild is not None
            and outdoor is not None  # unknown (no outdoor unit read): not taken for mild
            and heat_next > heat_now
            and outdoor > heat_next - mild
        ):
            return look, None
        starting = True
    elif heat_next < heat_now or cool_next > cool_now:
        # Less is asked: stop early while the room stays inside the band still in effect.
        margin = tuning.band_k - tuning.keep_inside_k
        lower = heat_now - margin if heat_now > -INFINITE else -INFINITE
        upper = cool_now + margin if cool_now < INFINITE else INFINITE
        if not _coasts(temperature, out, lower, upper, left, rates, tuning):
            return look, None
    else:
        return look, None
    return look._replace(early_for=at, starting=starting), later


def learn(
    look: ZoneLookahead,
    kind: int,
    temperature: float | None,
    outdoor: float | None,
    now: float,
    tuning: StartTuning,
    solar: float | None = None,
    sun_tuning: ForecastTuning | None = None,
) -> ZoneLookahead:
    """Follow the zone's window: ``kind`` is what the zone does this tick (`WARMING`: its head
    works hard toward a target well away; `COOLING` likewise; `DRIFTING`: no refrigerant, the
    room left to the outdoors; `NOTHING`: none of these, or no reading). A window that ran its
    length moves the room's rates; a change of kind ends it and starts a new one. A warm-up is
    often shorter than a window (a room warms 1–2 K in a quarter hour): one that ran at least
    `StartTuning.min_warmup_s` and moved the room `min_warmup_k` teaches as it ends (a burst
    of a few minutes warms the air alone, faster than a room recovers); a drift that short
    says nothing (0.1 K readings). ``solar``: the forecast's sun now (kW/m², None: no
    forecast); a drift under the sun teaches the room's response to it (``sun_tuning``'s
    rule), not its loss."""
    window = look.window
    if temperature is None or outdoor is None:
        return look if window is None else look._replace(window=None)
    if window is not None and (window.kind != kind or now < window.since):
        elapsed = now - window.since
        rates = look.rates
        if (
            window.kind != DRIFTING
            and elapsed >= tuning.min_warmup_s
            and abs(temperature - window.temperature) >= tuning.min_warmup_k
        ):
            rates = _learned(rates, window, temperature, outdoor, elapsed, tuning)
        started = None if kind == NOTHING else Window(kind, now, temperature, outdoor, solar)
        return look._replace(rates=rates, window=started)
    if kind == NOTHING:
        return look
    if window is None:
        return look._replace(window=Window(kind, now, temperature, outdoor, solar))
    elapsed = now - window.since
    if elapsed < tuning.window_s:
        return look
    rates = _learned(look.rates, window, temperature, outdoor, elapsed, tuning, solar, sun_tuning)
    window = Window(kind, now, temperature, outdoor, solar)
    return look._replace(rates=rates, window=window)


def _learned(
    rates: RoomRates,
    window: Window,
    temperature: float,
    outdoor: float,
    elapsed_s: float,
    tuning: StartTuning,
    solar: float | None = None,
    sun_tuning: ForecastTuning | None = None,
) -> RoomRates:
    """The rates after a window from ``window`` to (``temperature``, ``outdoor``) now."""
    slope = (temperature - window.temperature) * HOUR_S / elapsed_s  # K/h
    difference = 0.5 * (temperature + window.temperature) - 0.5 * (outdoor + window.outdoor)
    weight = tuning.learn_weight
    kind = window.kind
    if kind == DRIFTING:
        drift = rates.drift + weight * (slope - rates.drift)
        if sun_tuning is not None and solar is not None and window.solar is not None:
            light = 0.5 * (solar + window.solar)
            if light >= sun_tuning.min_sun_kw:
                # Under the sun the loss cannot be told from it: the loss learned in the dark
                # stands, and what it does not explain is the sun's.
                sun = learn_sun(rates.sun, rates.loss, slope, difference, light, sun_tuning)
                return rates._replace(drift=drift, sun=sun)
        if difference * difference < 25.0:
            # Too near the outdoors to tell the loss from noise; the drift is what it is.
            return rates._replace(drift=drift)
        loss = min(max(-slope / difference, tuning.min_loss), tuning.max_loss)
        return rates._replace(
            loss=rates.loss + weight * (loss - rates.loss), learned=rates.learned + 1, drift=drift
        )
    if kind == WARMING:
        gain = min(max(slope + rates.loss * difference, tuning.min_gain), tuning.max_gain)
        return rates._replace(
            heat_gain=rates.heat_gain + weight * (gain - rates.heat_gain),
            learned=rates.learned + 1,
        )
    gain = min(max(-slope - rates.loss * difference, tuning.min_gain), tuning.max_gain)
    return rates._replace(
        cool_gain=rates.cool_gain + weight * (gain - rates.cool_gain), learned=rates.learned + 1
    )
