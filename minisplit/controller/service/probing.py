"""The units the controller refused when it probed them (another kind of device answers at the
configured unit id, or the unit's identity is implausible), and when to probe each again.

Such a unit answers, so the bus never takes it offline: without this it would be probed every
cycle, and logged every cycle. A refused unit is probed again on a backoff, in controller time,
so that a unit replaced or reconfigured on the line is taken up without a restart."""

from __future__ import annotations

from dataclasses import dataclass

from minisplit.drivers.bus import Backoff


@dataclass
class _Refusal:
    fault: str
    attempts: int
    next_probe_at: float


class RefusedUnits:
    """Refusals by unit name (the supervisor's names: the outdoor unit, zone ids)."""

    def __init__(self, backoff: Backoff) -> None:
        self._backoff = backoff
        self._refused: dict[str, _Refusal] = {}

    def due(self, unit: str, now: float) -> bool:
        """Whether ``unit`` may be probed at ``now``: never refused, or its wait is over."""
        refusal = self._refused.get(unit)
        return refusal is None or now >= refusal.next_probe_at

    def refuse(self, unit: str, fault: str, now: float) -> tuple[float, bool]:
        """Note that a probe of ``unit`` at ``now`` was refused for ``fault``: the wait until
        its next probe, and whether this is news (its first refusal, or another fault)."""
        refusal = self._refused.get(unit)
        news = refusal is None or refusal.fault != fault
        attempts = 0 if refusal is None else refusal.attempts + 1
        delay = self._backoff.delay(attempts)
        self._refused[unit] = _Refusal(fault, attempts, now + delay)
        return delay, news

    def accept(self, unit: str) -> str | None:
        """A probe of ``unit`` succeeded: the fault it was refused for until now, if any."""
        refusal = self._refused.pop(unit, None)
        return None if refusal is None else refusal.fault

    def fault(self, unit: str) -> str | None:
        refusal = self._refused.get(unit)
        return None if refusal is None else refusal.fault
