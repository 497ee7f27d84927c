"""The benchmark's figures (docs/benchmark.md), accumulated step by step from a simulated run.

BOPTEST-style: energy, peak power (max of 15-min means), mean system COP, thermal discomfort
(K·h per zone outside the comfort band while the zone is on), compressor starts, starts per
calendar hour, shortest run, RMS tracking error. Pure: the runner feeds it numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

COMFORT_HALF_BAND_K = 0.5  # the band is [setpoint − 0.5 K, setpoint + 0.5 K] (docs/benchmark.md)
PEAK_WINDOW_S = 900.0
# A scheduled change that asks this much more of a zone (a heating target raised, a cooling
# target lowered, or the zone switched on) is a recovery; it is on time when the room is within
# RECOVERY_WITHIN_K of the new target at the switch point's moment (docs/benchmark.md).
RECOVERY_STEP_K = 1.0
RECOVERY_WITHIN_K = 0.3
# Within this long before a switch point that asks more of a zone, a room already on its way to
# the new target is in comfort: its band reaches to the new band's far edge (`ZoneTarget.ahead`).
RECOVERY_LEAD_S = 3 * 3600.0


@dataclass(frozen=True)
class ZoneTarget:
    """What the occupant asked for in one zone at one instant."""

    on: bool
    low: float  # the setpoint (heat/cool/dry) or the low setpoint (heat_cool)
    high: float  # equal to ``low`` except in heat_cool
    heats: bool = True  # the mode lets the unit heat this room (heat, heat_cool)
    cools: bool = True  # the mode lets the unit cool this room (cool, dry, heat_cool)
    # The band's far edge, moved toward a coming raise's (`ahead`): None, the setpoints' own.
    reach: float | None = None

    @cached_property
    def band(self) -> tuple[float, float]:
        # Cached: the benchmark asks for it every step of every zone.
        low, high = self.low - COMFORT_HALF_BAND_K, self.high + COMFORT_HALF_BAND_K
        reach = self.reach
        if reach is not None:
            return (reach, high) if reach < low else (low, reach)
        return low, high

    def ahead(self, later: ZoneTarget) -> ZoneTarget:
        """This target while ``later`` is coming (within `RECOVERY_LEAD_S`): a raise of the
        heating side (or the zone switched on to heat) lets the room be as warm as the later
        band's top already, a drop of the cooling side as cool as its bottom; else the same."""
        if not (self.on and later.on):
            return self
        if self.heats and later.heats and later.low > self.low and not self.cools:
            return replace(self, reach=max(later.band[1], self.band[1]))
        if self.cools and later.cools and later.high < self.high and not self.heats:
            return replace(self, reach=min(later.band[0], self.band[0]))
        return self

    @property
    def held_band(self) -> tuple[float, float]:
        """The band as far as the mode can hold it: a room in heat mode may float above it
        (sun), a room in cool mode below it; only heat_cool holds both edges."""
        return self.held_within(0.0)

    def held_within(self, inset_k: float) -> tuple[float, float]:
        """`held_band` with each held edge moved ``inset_k`` into the band (0: the edges)."""
        low, high = self.band
        return (
            low + inset_k if self.heats else -math.inf,
            high - inset_k if self.cools else math.inf,
        )


def outside_band(air_c: float, target: ZoneTarget) -> float:
    """Kelvin outside the comfort band (0 inside)."""
    return deviations(air_c, target)[0]


def tracking_error(air_c: float, target: ZoneTarget) -> float:
    """Kelvin from the setpoint; in heat_cool, from the interval between the two setpoints."""
    return deviations(air_c, target)[1]


def deviations(air_c: float, target: ZoneTarget) -> tuple[float, float]:
    """(`outside_band`, `tracking_error`) in one call (`MetricsRecorder.record` works the same
    out inline, from each target's band and setpoints)."""
    low, high = target.band
    outside = _beyond(air_c, low, high)
    if target.low == target.high:
        return outside, air_c - target.low
    return outside, _beyond(air_c, target.low, target.high)


def _beyond(air_c: float, low: float, high: float) -> float:
    """How far ``air_c`` lies outside [low, high], 0 inside: max(low − air, air − high, 0)
    spelled out, as on Python 3.11 the builtin costs more than the rest of the function."""
    below, above = low - air_c, air_c - high
    worst = above if above > below else below
    return 0.0 if worst < 0.0 else worst


class MetricsRecorder:
    """Accumulates one controller's run of one scenario."""

    def __init__(self, zones: Sequence[str]) -> None:
        self.zones = list(zones)
        self.duration_s = 0.0
        self.energy_j = 0.0
        self.heat_j = 0.0  # heat moved (heating or cooling), for the mean COP
        self._discomfort_ks = [0.0] * len(self.zones)  # per zone, in zone order
        self._above_ks = [0.0] * len(self.zones)  # the part of it above the band
        self.error_sq_ks = 0.0
        self.on_s = 0.0
        self.starts = 0
        self.starts_by_hour: dict[int, int] = {}
        self.shortest_run_s: float | None = None
        self._run_started: float | None = None
        self._running = False
        self._window = -1.0  # the 15-minute window being summed (its index)
        self._window_j = 0.0
        self.peak_w = 0.0
        self._targets_seen: tuple[ZoneTarget, ...] | None = None
        self._on: list[tuple[int, float, float, float, float, int]] = []
        # Mean offset of the room from the setpoint: K·s and s, while heating (heat mode) and
        # while cooling (cool, dry), apart (`SIDES`); heat_cool and fan_only are in neither.
        self._offset_ks = [0.0, 0.0]
        self._offset_s = [0.0, 0.0]
        self.recoveries = 0
        self.recoveries_on_time = 0

    def record(
        self,
        t_s: float,
        dt_s: float,
        air_c: Sequence[float],
        targets: Sequence[ZoneTarget],
        power_w: float,
        heat_w: float,
        compressor_running: bool,
    ) -> None:
        """One step of ``dt_s`` seconds that began at ``t_s`` (absolute simulated time);
        ``air_c`` and ``targets`` hold one value per zone, in the order of `zones`."""
        discomfort, above_band = self._discomfort_ks, self._above_ks
        if len(targets) != len(discomfort) or len(air_c) != len(discomfort):
            raise ValueError(f"one air temperature and one target per zone ({len(discomfort)})")
        self.duration_s += dt_s
        self.energy_j += power_w * dt_s
        self.heat_j += abs(heat_w) * dt_s
        # The targets hold between schedule switches: the very tuple of last step (the bench
        # passes one) is taken as it is, without a copy or a comparison.
        seen = targets if isinstance(targets, tuple) else tuple(targets)
        if seen is not self._targets_seen and seen != self._targets_seen:
            if self._targets_seen is not None:
                self._count_recoveries(self._targets_seen, seen, air_c)
            self._zones_on(seen)
        # The sums in locals while the zones add to them, in the same order as one by one.
        error_sq_ks, on_s = self.error_sq_ks, self.on_s
        offset_ks, offset_s = self._offset_ks, self._offset_s
        for i, band_low, band_high, low, high, side in self._on:
            # `deviations` spelled out: the call costs more than its arithmetic, every step of
            # every zone.
            air = air_c[i]
            below, above = band_low - air, air - band_high
            if above > below:
                if above > 0.0:
                    discomfort[i] += above * dt_s
                    above_band[i] += above * dt_s
            elif below > 0.0:
                discomfort[i] += below * dt_s
            error = air - low if low == high else _beyond(air, low, high)
            error_sq_ks += error**2 * dt_s
            on_s += dt_s
            if side < 2:
                offset_ks[side] += (air - low) * dt_s
                offset_s[side] += dt_s
        self.error_sq_ks, self.on_s = error_sq_ks, on_s
        window = t_s // PEAK_WINDOW_S
        if window != self._window:
            self._close_window()
            self._window, self._window_j = window, 0.0
        self._window_j += power_w * dt_s
        if compressor_running != self._running:
            self._compressor(t_s, compressor_running)

    def _zones_on(self, targets: tuple[ZoneTarget, ...]) -> None:
        """Work out (zone index, band low and high, low and high setpoint, side) of each zone
        that is on under ``targets``, new since the last step (they hold between schedule
        switches); side 0 heating only, 1 cooling only, 2 neither or both."""
        self._targets_seen = targets
        self._on = [(i, *t.band, t.low, t.high, _side(t)) for i, t in enumerate(targets) if t.on]

    def _count_recoveries(
        self,
        before: Sequence[ZoneTarget],
        after: Sequence[ZoneTarget],
        air_c: Sequence[float],
    ) -> None:
        """The targets changed at this step: each zone asked for RECOVERY_STEP_K more warmth
        (heating) or coolth (cooling) than before is a recovery, on time if its room is already
        within RECOVERY_WITHIN_K of the new target."""
        for old, new, air in zip(before, after, air_c, strict=True):
            side = _side(new)
            if not new.on or side == 2:
                continue
            if side == 0:
                wanted = new.low - (old.low if old.on and old.heats else -math.inf)
                on_time = air >= new.low - RECOVERY_WITHIN_K
            else:
                wanted = (old.high if old.on and old.cools else math.inf) - new.high
                on_time = air <= new.high + RECOVERY_WITHIN_K
            if wanted >= RECOVERY_STEP_K:  # a zone switched on counts (infinitely more)
                self.recoveries += 1
                self.recoveries_on_time += on_time

    @property
    def discomfort_ks(self) -> dict[str, float]:
        """Per zone, K·s outside the comfort band while on."""
        return dict(zip(self.zones, self._discomfort_ks, strict=True))

    def _close_window(self) -> None:
        if self._window >= 0:
            self.peak_w = max(self.peak_w, self._window_j / PEAK_WINDOW_S)

    def _compressor(self, t_s: float, running: bool) -> None:
        """The compressor started or stopped at ``t_s``."""
        if running and not self._running:
            self.starts += 1
            hour = int(t_s // 3600)
            self.starts_by_hour[hour] = self.starts_by_hour.get(hour, 0) + 1
            self._run_started = t_s
        elif not running and self._running and self._run_started is not None:
            run = t_s - self._run_started
            self.shortest_run_s = (
                run if self.shortest_run_s is None else min(self.shortest_run_s, run)
            )
        self._running = running

    def summary(self, wall_s: float) -> dict[str, float | int | None]:
        """The §9 figures. Discomfort is averaged per zone, in K·h."""
        self._close_window()
        zones = max(len(self.zones), 1)
        energy_kwh = self.energy_j / 3.6e6
        return {
            "energy_kwh": round(energy_kwh, 3),
            "peak_power_kw": round(self.peak_w / 1000.0, 3),
            "mean_cop": round(self.heat_j / self.energy_j, 3) if self.energy_j else None,
            "discomfort_kh_per_zone": round(sum(self._discomfort_ks) / 3600 / zones, 3),
            # Of it, the part above the band (too warm; the rest is too cold): in heat mode
            # mostly the sun's, which no heat pump that only heats can take away.
            "discomfort_above_kh_per_zone": round(sum(self._above_ks) / 3600 / zones, 3),
            "compressor_starts": self.starts,
            "starts_per_hour": max(self.starts_by_hour.values(), default=0),
            "shortest_run_s": None if self.shortest_run_s is None else round(self.shortest_run_s),
            "rms_error_k": round(math.sqrt(self.error_sq_ks / self.on_s), 3) if self.on_s else None,
            # The room's mean offset from the setpoint while heating and while cooling: how
            # warm (or cool) a controller keeps the house, to compare energy at equal comfort.
            "mean_offset_heat_k": _mean(self._offset_ks[0], self._offset_s[0]),
            "mean_offset_cool_k": _mean(self._offset_ks[1], self._offset_s[1]),
            "recoveries": self.recoveries,
            "recoveries_on_time_pct": round(100.0 * self.recoveries_on_time / self.recoveries, 1)
            if self.recoveries
            else None,
            "speed_ratio": round(self.duration_s / wall_s) if wall_s > 0 else None,
        }


def _side(target: ZoneTarget) -> int:
    """0: the mode heats only (heat); 1: it cools only (cool, dry); 2: both or neither."""
    if target.heats != target.cools:
        return 0 if target.heats else 1
    return 2


def _mean(total_ks: float, seconds: float) -> float | None:
    return round(total_ks / seconds, 3) if seconds else None
