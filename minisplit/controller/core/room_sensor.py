"""Which thermometer a zone follows, and how the head's own is corrected (pure).

A remote sensor sits in the occupied zone and wins while it is plausible: fresh (younger than
the zone's timeout) and believable (`controller.core.sensor_health`). Otherwise the head's
return-air sensor serves, with two corrections: a static per-zone offset (config
`sensor_offset_k`, added in `controller.core.tick.zone_input`), and the bias it picks up while its
coil works — warm air pools at the ceiling where it measures, so it reads ~1.5 K warm while
heating and a little cool while cooling (docs/benchmark.md). That bias builds up and fades with the
coil, so the control core estimates it as a first-order lag of whether the head got
refrigerant (`HeadSensorBias`, applied in `controller.core.control`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum


class SensorSource(StrEnum):
    REMOTE = "remote"
    HEAD = "head"


@dataclass(frozen=True, slots=True)
class RoomReading:
    temperature: float | None  # None: no usable reading at all
    sensor: SensorSource


def room_temperature(remote: float | None, head: float | None) -> RoomReading:
    """The remote reading when there is one, else the head's; the reading says which. Each is
    None when it cannot be used (`controller.core.sensor_health`: missing, stale, implausible)."""
    if remote is not None:
        return RoomReading(remote, SensorSource.REMOTE)
    return RoomReading(head, SensorSource.HEAD)


@dataclass(frozen=True, slots=True)
class HeadSensorBias:
    """How far the head's sensor reads from the room air while the head gets refrigerant, and the
    time constant with which that builds up and fades (a first-order lag toward `heating_k`,
    `cooling_k` or 0, see `controller.core.control`). The defaults are the plant model's
    (docs/benchmark.md) figures; an installer calibrates them against a room thermometer."""

    heating_k: float = 1.5
    cooling_k: float = -0.5
    tau_s: float = 300.0

    def decay(self, dt_s: float) -> float:
        """The share of the old bias left after ``dt_s`` seconds."""
        return math.exp(-dt_s / self.tau_s) if self.tau_s > 0 else 0.0
