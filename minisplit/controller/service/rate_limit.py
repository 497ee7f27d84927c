"""How often one kind of reject may be reported: a few per window, the rest only counted.

Pure (the caller passes the time): a flood of bad messages must cost a few log lines and error
reports per window, not one each, yet nobody may miss that it happened, so what was held back
is counted and said later, either with the next report of that kind or in a summary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class _Window:
    start: float
    reported: int = 0
    suppressed: int = 0


class ReportLimiter:
    """At most ``burst`` reports of each kind per ``window_s`` seconds.

    Kinds are names the caller picks from a fixed vocabulary (never from message content), so
    the per-kind memory is bounded by that vocabulary."""

    def __init__(self, burst: int = 5, window_s: float = 60.0) -> None:
        self.burst = burst
        self.window_s = window_s
        self._kinds: dict[str, _Window] = {}

    def admit(self, kind: str, now: float) -> int | None:
        """None if this event of ``kind`` is not to be reported (it is counted); else how many
        events of that kind were held back since its last report (0 usually)."""
        window = self._kinds.get(kind)
        if window is None:
            window = self._kinds[kind] = _Window(now)
        elif now - window.start >= self.window_s:
            window.start, window.reported = now, 0
        if window.reported >= self.burst:
            window.suppressed += 1
            return None
        window.reported += 1
        held_back, window.suppressed = window.suppressed, 0
        return held_back

    def due_summaries(self, now: float) -> list[tuple[str, int]]:
        """(kind, count) for every kind whose window has ended with events held back; those
        counts are then cleared (they have been said)."""
        due: list[tuple[str, int]] = []
        for kind, window in self._kinds.items():
            if window.suppressed and now - window.start >= self.window_s:
                due.append((kind, window.suppressed))
                window.start, window.reported, window.suppressed = now, 0, 0
        return due
