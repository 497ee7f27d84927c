"""The zones' weekly programs on the supervisor's clock: local wall-clock time made from the
calendar, and each switch point due applied to the settings as a homeowner's change would be."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, tzinfo

from minisplit.controller.config import ZoneConfig
from minisplit.controller.core.schedule import (
    Switch,
    WeeklySchedule,
    due_switch,
    settings_transitions,
)
from minisplit.controller.core.transitions import apply_zone
from minisplit.controller.schedule_config import weekly_schedule
from minisplit.controller.service.persistence import SavedState
from minisplit.controller.service.state_report import ProgramState

# A Monday: local seconds counted from it fall on Monday 00:00 at every multiple of a week, the
# clock `core.schedule` runs on.
_MONDAY = datetime(1970, 1, 5)


def local_seconds(calendar_s: float, tz: tzinfo | None = None) -> float:
    """Calendar time (Unix seconds) as the wall clock of ``tz`` (the host's time zone if None)
    shows it, in seconds since Monday 1970-01-05 00:00: a change to or from summer time moves
    it by the hour, as it moves a thermostat's clock."""
    local = datetime.fromtimestamp(calendar_s, tz)
    return (local.replace(tzinfo=None) - _MONDAY).total_seconds()


def local_time_text(local_s: float) -> str:
    """A moment of `local_seconds` as local date and time, to the minute."""
    return (_MONDAY + timedelta(seconds=local_s)).isoformat(sep=" ", timespec="minutes")


class ZonePrograms:
    """The weekly program of each zone that has one (`[[zones.schedule]]`)."""

    def __init__(self, zones: Iterable[ZoneConfig]) -> None:
        self.schedules: dict[str, WeeklySchedule] = {
            zone.id: weekly_schedule(zone.schedule) for zone in zones if zone.schedule
        }

    def apply_due(self, state: SavedState, local_s: float, calendar_now: float) -> SavedState:
        """``state`` with each switch point due at ``local_s`` applied (`core.schedule.due_switch`:
        a manual change holds until the next point) and noted as the zone's last applied. A zone
        whose schedule is switched off keeps its settings and no point: switched on again, the
        point in effect applies. Nothing due: ``state`` itself."""
        for zone_id, schedule in self.schedules.items():
            if not state.zones[zone_id].schedule:
                if zone_id in state.schedule_applied:
                    state = state.with_schedule_applied(zone_id, None)
                continue
            switch = due_switch(schedule, state.schedule_applied.get(zone_id), local_s)
            if switch is None:
                continue
            settings = apply_zone(state.zones[zone_id], *settings_transitions(switch.settings))
            state = state.with_zone(zone_id, settings, calendar_now)
            state = state.with_schedule_applied(zone_id, switch.at_s)
        return state

    def upcoming(self, state: SavedState, local_s: float, now: float) -> dict[str, Switch]:
        """Each running program's next switch point, with the moment moved onto the control's
        clock (``now`` there is ``local_s`` here; to the second, so that it stays the same
        value from one cycle to the next): what optimal start looks ahead to."""
        switches = {}
        for zone_id, schedule in self.schedules.items():
            if state.zones[zone_id].schedule:
                at = schedule.span(local_s)[1]
                switches[zone_id] = Switch(round(now + at - local_s), schedule.at(at))
        return switches

    def next_switch(self, state: SavedState, zone_id: str, local_s: float) -> ProgramState | None:
        """What the zone state says of the zone's program: None where it has none."""
        schedule = self.schedules.get(zone_id)
        if schedule is None:
            return None
        if not state.zones[zone_id].schedule:
            return ProgramState(on=False, next_switch=None)
        return ProgramState(on=True, next_switch=local_time_text(schedule.span(local_s)[1]))
