"""The `ideal` bound of the benchmark (docs/benchmark.md): the least energy that keeps every room in
its comfort band.

Each room is held exactly at the band edge nearest to free-floating (the plant's `step_held`
supplies exactly the heat needed, nothing while the room floats inside its band) — the lower
edge in heat mode, the upper in cool/dry, either in heat_cool; a room in heat mode that the sun
pushes above its band stays there, as it would under any controller; each step's
heat is delivered at the best system COP the unit can reach for that load
(`heatpump.best_operating_point`: any speed, cycling without start-up losses), fans included
for the share of time the heads deliver; heating and cooling may run at once (no heat/cool
exclusivity). No real controller can use less energy without leaving the band.

With an ``inset_k`` the same source holds each room that far inside the band instead: what a
perfect controller would score if it kept that margin (a sensor's resolution, say), so that the
bench can show how much of a controller's excess discomfort so small a margin already costs."""

from __future__ import annotations

from collections.abc import Mapping

from minisplit.drivers.vocabulary import HeadMode, OduMode
from minisplit.hil.heatpump import (
    SENSIBLE_HEAT_RATIO,
    best_operating_point,
    fan_power_w,
    operating_point,
)
from minisplit.hil.metrics import ZoneTarget
from minisplit.hil.plant import Plant

IDEAL_STEP_S = 60.0
IDEAL_FAN_SPEED = 1  # the quietest fan that moves the coil's air: the least fan power


def _direction_power(
    plant: Plant,
    mode: OduMode,
    loads: Mapping[str, float],
    air: Mapping[str, float],
    coil: Mapping[str, float],
    outdoor_c: float,
) -> tuple[float, float]:
    """(electric W, heat W) to deliver ``loads`` (W per room, positive) in one direction."""
    heat = sum(loads.values())
    if heat <= 0:
        return 0.0, 0.0
    coil_w = sum(coil[z] for z in loads)
    indoor_c = sum(air[z] * coil[z] for z in loads) / coil_w
    # In cooling the coil also condenses moisture: the sensible heat is a fixed share of it.
    refrigerant_w = heat if mode is OduMode.HEAT else heat / SENSIBLE_HEAT_RATIO[HeadMode.COOL]
    r = plant.ratings
    point = best_operating_point(r, mode, refrigerant_w, outdoor_c, indoor_c, coil_w)
    if point is None:  # beyond the unit: full speed, all the time
        point = operating_point(r, mode, r.max_hz, outdoor_c, indoor_c, coil_w)
    duty = min(1.0, refrigerant_w / point.capacity_w)
    fans = duty * len(loads) * fan_power_w(IDEAL_FAN_SPEED)
    return refrigerant_w / point.cop + fans, refrigerant_w


def ideal_step(
    plant: Plant,
    dt: float,
    targets: Mapping[str, ZoneTarget],
    coil_w: Mapping[str, float],
    inset_k: float = 0.0,
) -> tuple[float, float]:
    """Advance the plant ``dt`` seconds with the ideal source, holding each room ``inset_k``
    inside its band's edge; return (mean electric W, heat W)."""
    bands = {zone: t.held_within(inset_k) for zone, t in targets.items() if t.on}
    loads = plant.step_held(dt, bands)
    air = {zone: plant.air_c(zone) for zone in loads}
    outdoor_c = plant.outdoor().temperature_c
    heating = {z: q for z, q in loads.items() if q > 0}
    cooling = {z: -q for z, q in loads.items() if q < 0}
    heat_power, heat_w = _direction_power(plant, OduMode.HEAT, heating, air, coil_w, outdoor_c)
    cool_power, cool_w = _direction_power(plant, OduMode.COOL, cooling, air, coil_w, outdoor_c)
    return heat_power + cool_power + plant.ratings.standby_w, heat_w + cool_w
