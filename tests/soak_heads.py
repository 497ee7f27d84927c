"""The soak's watch on setpoint-driven heads (issue 13), from the units' side: every write the
head takes, against what the setpoint strategy allows (controller/core/head_setpoint.py,
`SetpointTuning`):
- a head's setpoint changes at most once per `setpoint_write_interval_s`, except where the
  strategy re-aims at once: the head's power or mode changes with it, the homeowner changed
  the zone, or a defrost (the strategy lowers the setpoint while the fan is stopped, and
  restores it after) was under way within `defrost_max_s`, or the previous change reached the
  head late (its write lost to a line fault, and sent again once it answered);
- a head the strategy switches on runs at least `min_on_s` (the call hold, `call_hold_s`,
  only lengthens it) unless the homeowner switched it off, and stays off at least
  `min_off_s`, whoever switched it off; a switch whose write was held up by a line fault on
  the head's address (it reached the head late) is not held to these."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from minisplit.controller.core.head_setpoint import SetpointTuning
from minisplit.hil.modbus_units import IndoorHead


@dataclass
class _Head:
    power: bool = False
    power_since: float = -math.inf
    setpoint: float | None = None
    setpoint_since: float = -math.inf
    mode: float | int | None = None
    mode_since: float = -math.inf


@dataclass
class SetpointWatch:
    """The setpoint heads' writes checked on the units' clock; ``tolerance_s`` covers the
    writes' latency and the watcher's step. ``user_changed_at(zone)`` and
    ``defrosted_at()`` say when the homeowner last changed the zone and when a defrost was
    last seen (-inf: never)."""

    tuning: SetpointTuning
    tolerance_s: float
    user_changed_at: Callable[[str], float]
    defrosted_at: Callable[[], float]
    # Whether the zone's head was unreachable (a line fault) at some time in the span.
    unreachable: Callable[[str, float, float], bool]
    heads: dict[str, _Head] = field(default_factory=dict)
    setpoint_changes: int = 0
    quick_changes_excused: int = 0
    power_cycles: int = 0
    homeowner_stops: int = 0
    shortest_on_s: float = math.inf
    shortest_off_s: float = math.inf
    shortest_setpoint_hold_s: float = math.inf
    violations: list[str] = field(default_factory=list)

    def written(self, zone_id: str, head: IndoorHead, now: float) -> None:
        """The controller wrote to the zone's head at ``now`` (simulated s)."""
        state = self.heads.setdefault(zone_id, _Head())
        power = bool(head.value("power"))
        setpoint = head.value("display_setpoint")
        mode = head.value("mode")
        if power != state.power:
            self._switched(zone_id, state, power, now)
        if mode != state.mode:
            state.mode, state.mode_since = mode, now
        # Switched or turned round just now (one cycle's writes may take several requests),
        # or changed by the homeowner: the strategy aims afresh.
        re_aimed = now - max(
            state.power_since, state.mode_since
        ) <= self.tolerance_s or self._homeowner(zone_id, now)
        if setpoint is not None and setpoint != state.setpoint:
            self._setpoint(zone_id, state, float(setpoint), re_aimed, now)

    def _setpoint(
        self, zone_id: str, state: _Head, setpoint: float, re_aimed: bool, now: float
    ) -> None:
        interval = self.tuning.setpoint_write_interval_s
        held, since = now - state.setpoint_since, state.setpoint_since
        if state.setpoint is not None:
            self.setpoint_changes += 1
            if held >= interval - self.tolerance_s:
                self.shortest_setpoint_hold_s = min(self.shortest_setpoint_hold_s, held)
            # A defrost re-aims at once; so does the strategy after a change that reached
            # the head late (its write lost to a line fault and sent again).
            elif (
                re_aimed
                or now - self.defrosted_at() <= self.tuning.defrost_max_s
                or self.unreachable(zone_id, since - interval, since)
            ):
                self.quick_changes_excused += 1
            else:
                self.violations.append(
                    f"t={now:.0f} s: {zone_id} setpoint {state.setpoint:g} -> {setpoint:g} "
                    f"after {held:.0f} s (interval {interval:g} s)"
                )
        state.setpoint, state.setpoint_since = setpoint, now

    def _switched(self, zone_id: str, state: _Head, power: bool, now: float) -> None:
        tuning = self.tuning
        lasted = now - state.power_since
        # A switch held up by a line fault on the address reached the head late.
        late = self.unreachable(zone_id, state.power_since - self.tolerance_s, now)
        if power:  # on again after an off spell
            self.shortest_off_s = min(self.shortest_off_s, lasted)
            if lasted < tuning.min_off_s - self.tolerance_s and not late:
                self.violations.append(
                    f"t={now:.0f} s: {zone_id} on again {lasted:.0f} s after it was switched "
                    f"off (min_off_s {tuning.min_off_s:g})"
                )
        elif self._homeowner(zone_id, now):
            self.homeowner_stops += 1
        else:
            self.power_cycles += 1
            self.shortest_on_s = min(self.shortest_on_s, lasted)
            if lasted < tuning.min_on_s - self.tolerance_s and not late:
                self.violations.append(
                    f"t={now:.0f} s: {zone_id} switched off after {lasted:.0f} s on "
                    f"(min_on_s {tuning.min_on_s:g}, call hold {tuning.call_hold_s:g})"
                )
        state.power, state.power_since = power, now

    def _homeowner(self, zone_id: str, now: float) -> bool:
        """The homeowner changed the zone recently enough for this write to carry it."""
        return now - self.user_changed_at(zone_id) <= 2 * self.tolerance_s + 60.0

    def summary(self) -> str:
        def s(value: float) -> str:
            return f"{value:.0f}" if value < math.inf else "-"

        return (
            f"setpoint heads: {self.setpoint_changes} setpoint changes (shortest hold "
            f"{s(self.shortest_setpoint_hold_s)} s past quick re-aims, "
            f"{self.quick_changes_excused} quick ones excused: power, mode, homeowner, "
            f"defrost or a late write), {self.power_cycles} switch-offs by the strategy "
            f"(shortest run {s(self.shortest_on_s)} s), {self.homeowner_stops} by the "
            f"homeowner, shortest off {s(self.shortest_off_s)} s; violations: "
            f"{len(self.violations)}"
        )
