"""The log of room-sensor faults: once when a fault begins, once when it ends, not every tick."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from minisplit.controller.core.control import ZoneInput
from minisplit.controller.core.observation import HeadReport
from minisplit.controller.core.sensor_health import ZoneSensors

log = logging.getLogger(__name__)


class SensorFaultLog:
    def __init__(self) -> None:
        self._logged: dict[str, tuple[str, ...]] = {}  # by zone id

    def note(
        self,
        sensors: Mapping[str, ZoneSensors],
        followed: Mapping[str, ZoneInput],
        heads: Mapping[str, HeadReport],
    ) -> None:
        """Log what changed of each zone's sensor faults (``sensors``), and the reading the zone
        now follows. Only while the zone's head answers (as its report in ``heads`` says), as
        the zone state and STATUS= say them: a head not reached is reported offline, and its
        sensors, unread, are no fault on top (before its first answer they would all be
        `missing`)."""
        for zone_id, zone_sensors in sensors.items():
            if not heads[zone_id].available:
                continue
            old = self._logged.get(zone_id, ())
            new = zone_sensors.faults()
            if old == new:
                continue
            self._logged[zone_id] = new
            zone = followed[zone_id]
            if zone.temperature is None:
                now_on = "no sensor: the zone asks for no refrigerant"
            else:
                now_on = f"the {zone.sensor.value} sensor ({zone.temperature:.1f} °C)"
            for name in new:
                if name not in old:
                    log.warning("zone %s: %s; the zone follows %s", zone_id, name, now_on)
            for name in old:
                if name not in new:
                    log.warning("zone %s: %s is over; the zone follows %s", zone_id, name, now_on)
