"""The simulated house: the plant with the outdoor unit's and every head's firmware on one clock.

Both the Modbus simulator (`hil.simulator`) and the benchmark drive this one object, so the
units behave the same whether a controller reaches them over registers or through typed
commands."""

from __future__ import annotations

from collections.abc import Mapping

from minisplit.hil.firmware import (
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    HeadFirmware,
    HeadThermostat,
    HeadView,
    OduView,
    OutdoorFirmware,
)
from minisplit.hil.heatpump import HeadRatings
from minisplit.hil.plant import HeadDrive, Plant
from minisplit.hil.weather import WeatherSample

# The firmware decides at most this far apart (its ramps run at 1 Hz/s, timers at 180 s); the
# plant sub-steps on its own as it needs.
DEFAULT_MAX_STEP_S = 10.0


class HouseSim:
    """Plant + `OutdoorFirmware` + one `HeadFirmware` per zone, advanced together by `step`.

    With a ``thermostat`` every head is setpoint-driven (behind an interface) and the outdoor
    unit follows their demand (`hil.firmware.HeadThermostat`)."""

    def __init__(
        self,
        plant: Plant,
        heads: Mapping[str, HeadRatings],
        *,
        heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
        max_step_s: float = DEFAULT_MAX_STEP_S,
        thermostat: HeadThermostat | None = None,
    ) -> None:
        if max_step_s <= 0:
            raise ValueError(f"max_step_s must be positive, got {max_step_s}")
        self.plant = plant
        self.max_step_s = max_step_s
        self.odu = OutdoorFirmware(
            plant, heartbeat_timeout_s=heartbeat_timeout_s, follows_heads=thermostat is not None
        )
        self.heads: dict[str, HeadFirmware] = {
            zone: HeadFirmware(
                plant,
                zone,
                ratings,
                heartbeat_timeout_s=heartbeat_timeout_s,
                thermostat=thermostat,
            )
            for zone, ratings in heads.items()
        }
        if len(self.heads) > self.odu.ratings.max_heads:
            raise ValueError(
                f"{len(self.heads)} heads, but the outdoor unit takes {self.odu.ratings.max_heads}"
            )
        self.zones = tuple(self.heads)
        self._drives: dict[str, HeadDrive] = {z: h.drive() for z, h in self.heads.items()}
        self._ticks = tuple((zone, head.tick) for zone, head in self.heads.items())

    @property
    def time_s(self) -> float:
        """Simulated seconds since Jan 1 00:00 of the weather year."""
        return self.plant.time_s

    def step(self, seconds: float) -> None:
        """Advance everything by ``seconds`` of simulated time (in firmware steps ≤ max_step_s)."""
        if seconds < 0:
            raise ValueError("time runs forward only")
        remaining = seconds
        drives = self._drives
        odu = self.odu
        plant = self.plant
        max_step_s = self.max_step_s
        ticks = self._ticks
        while remaining > 1e-9:
            dt = remaining if remaining <= max_step_s else max_step_s
            # The firmware decides at the start of the interval, the plant runs through it.
            for zone, tick in ticks:
                drives[zone] = tick()
            compressor = odu.tick(dt, drives)
            plant.step(dt, compressor, drives)
            odu.record(dt)
            remaining -= dt

    def room_air(self, zone: str) -> float:
        """The room's air in the occupied zone (what a remote sensor reads), °C."""
        return self.plant.air_c(zone)

    def outdoor(self) -> WeatherSample:
        return self.plant.outdoor()

    def odu_view(self) -> OduView:
        return self.odu.status()

    def head_view(self, zone: str) -> HeadView:
        return self.head(zone).status()

    def head(self, zone: str) -> HeadFirmware:
        try:
            return self.heads[zone]
        except KeyError:
            raise KeyError(f"no zone {zone!r} (zones: {', '.join(self.heads)})") from None
