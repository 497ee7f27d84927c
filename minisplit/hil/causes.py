"""Why a room was outside its comfort band: the benchmark's discomfort split by cause
(`minisplit bench --why`), so that an engineer sees which part of a controller's excess comes
from what, rather than one number.

Each step a zone spends outside its band is put down to the first cause that applies:

- ``warm_in_heat_mode`` — above the band in a mode that cannot cool (sun, gains): the part
  `ideal` has too; a controller adds to it only by holding the room (or its neighbours) higher
  before the sun comes;
- ``cold_in_cool_mode`` — below the band in a mode that cannot heat;
- ``defrost`` — the unit defrosts, or did less than `DEFROST_RECOVERY_S` ago;
- ``setpoint_change`` — the zone's band moved less than `SETPOINT_RECOVERY_S` ago (a
  controller that sees only the present setpoint must heat or cool the room to it; `ideal`
  jumps there at once);
- ``compressor_off`` — the unit is stopped (interlocks, starts budget, a low-load cycle's off
  time, or the controller's choice);
- ``other_direction`` — the unit runs the other way (a multi-split heats or cools, never both);
- ``full_capacity`` — the unit runs at its allowed maximum;
- ``control`` — the rest: the unit runs the right way with capacity to spare.

Pure: the runner feeds it numbers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from minisplit.hil.metrics import ZoneTarget

CAUSES = (
    "warm_in_heat_mode",
    "cold_in_cool_mode",
    "defrost",
    "setpoint_change",
    "compressor_off",
    "other_direction",
    "full_capacity",
    "control",
)
DEFROST_RECOVERY_S = 1800.0
SETPOINT_RECOVERY_S = 3 * 3600.0
FULL_CAPACITY_MARGIN_HZ = 1.0


class UnitState(NamedTuple):
    """What the outdoor unit does during a step (``heating`` only means something while it
    runs; a bound without a unit reports it stopped and nothing else)."""

    running: bool = False
    heating: bool = False
    defrosting: bool = False
    at_full_capacity: bool = False


NO_UNIT = UnitState()


class DiscomfortCauses:
    """Accumulates one run's K·s outside the band per cause (summed over zones)."""

    def __init__(self, zones: Sequence[str]) -> None:
        self.zones = list(zones)
        self.ks = dict.fromkeys(CAUSES, 0.0)
        self._bands: list[tuple[float, float] | None] = [None] * len(self.zones)
        self._band_moved_at = [-float("inf")] * len(self.zones)
        self._defrost_ended_at = -float("inf")
        self._was_defrosting = False

    def record(
        self,
        t_s: float,
        dt_s: float,
        air_c: Sequence[float],
        targets: Sequence[ZoneTarget],
        unit: UnitState,
    ) -> None:
        """One step of ``dt_s`` seconds from ``t_s``; one air temperature and target per zone."""
        if len(air_c) != len(self.zones) or len(targets) != len(self.zones):
            raise ValueError(f"one air temperature and one target per zone ({len(self.zones)})")
        if self._was_defrosting and not unit.defrosting:
            self._defrost_ended_at = t_s
        self._was_defrosting = unit.defrosting
        for i, (air, target) in enumerate(zip(air_c, targets, strict=True)):
            if not target.on:
                self._bands[i] = None
                continue
            band = target.band
            if self._bands[i] is not None and band != self._bands[i]:
                self._band_moved_at[i] = t_s
            self._bands[i] = band
            low, high = band
            if air < low:
                outside, needs_heat = low - air, True
            elif air > high:
                outside, needs_heat = air - high, False
            else:
                continue
            cause = self._cause(t_s, i, target, needs_heat, unit)
            self.ks[cause] += outside * dt_s

    def _cause(
        self, t_s: float, zone: int, target: ZoneTarget, needs_heat: bool, unit: UnitState
    ) -> str:
        if not needs_heat and not target.cools:
            return "warm_in_heat_mode"
        if needs_heat and not target.heats:
            return "cold_in_cool_mode"
        if unit.defrosting or t_s - self._defrost_ended_at < DEFROST_RECOVERY_S:
            return "defrost"
        if t_s - self._band_moved_at[zone] < SETPOINT_RECOVERY_S:
            return "setpoint_change"
        if not unit.running:
            return "compressor_off"
        if unit.heating != needs_heat:
            return "other_direction"
        if unit.at_full_capacity:
            return "full_capacity"
        return "control"

    def summary(self) -> dict[str, float]:
        """K·h per zone for each cause (summing to the run's discomfort)."""
        zones = max(len(self.zones), 1)
        return {cause: round(ks / 3600 / zones, 3) for cause, ks in self.ks.items()}
