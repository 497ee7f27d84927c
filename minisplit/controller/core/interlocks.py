"""The independent safety check: every ODU command is verified here before it is written.

Pure (docs/architecture.md, 'Layered safety'): the coordinator already respects these limits; this
second layer refuses anything that would break them, whatever produced it."""

from __future__ import annotations

from dataclasses import dataclass

from minisplit.drivers.records import OduCommand
from minisplit.drivers.vocabulary import OduMode


@dataclass(frozen=True)
class InterlockLimits:
    min_off_s: float = 180.0
    min_on_s: float = 180.0
    mode_change_wait_s: float = 180.0
    min_frequency_hz: float = 20.0
    max_frequency_hz: float = 90.0


@dataclass(frozen=True)
class CompressorHistory:
    """What the safety check remembers of the commands it let through."""

    running: bool = False
    mode: OduMode = OduMode.OFF  # the mode of the last run (the four-way valve's position)
    started_at: float | None = None
    stopped_at: float | None = None  # None: not within memory, so a start is allowed


class InterlockViolation(ValueError):
    """A command that would break an interlock; it is not sent."""


def is_running(cmd: OduCommand) -> bool:
    return cmd.mode != OduMode.OFF and cmd.frequency_hz > 0


def check_command(
    history: CompressorHistory,
    cmd: OduCommand,
    now: float,
    limits: InterlockLimits,
    *,
    forced_stop: bool = False,
) -> CompressorHistory:
    """Verify ``cmd`` at time ``now``; return the updated history or raise InterlockViolation.

    ``forced_stop`` lets a stop through before the minimum on time (a unit fault or lost
    communication stops the compressor regardless)."""
    if cmd.frequency_hz != 0 and not (
        limits.min_frequency_hz <= cmd.frequency_hz <= limits.max_frequency_hz
    ):
        raise InterlockViolation(
            f"frequency {cmd.frequency_hz} Hz outside 0 or "
            f"{limits.min_frequency_hz}..{limits.max_frequency_hz} Hz"
        )
    if cmd.mode == OduMode.OFF and cmd.frequency_hz != 0:
        raise InterlockViolation(f"mode off with frequency {cmd.frequency_hz} Hz")
    runs = is_running(cmd)
    if history.running and runs:
        if cmd.mode != history.mode:
            raise InterlockViolation(
                f"mode change {history.mode} -> {cmd.mode} while running (stop first)"
            )
        return history
    if history.running and not runs:
        on_for = now - (history.started_at if history.started_at is not None else now)
        if on_for < limits.min_on_s and not forced_stop:
            raise InterlockViolation(
                f"stop after {on_for:.0f} s of running (minimum on time {limits.min_on_s:.0f} s)"
            )
        return CompressorHistory(False, history.mode, history.started_at, now)
    if not history.running and runs:
        if history.stopped_at is not None:
            off_for = now - history.stopped_at
            wait = limits.min_off_s
            if history.mode not in (OduMode.OFF, cmd.mode):
                wait = max(wait, limits.mode_change_wait_s)
            if off_for < wait:
                raise InterlockViolation(
                    f"start in {cmd.mode} after {off_for:.0f} s stopped "
                    f"(must wait {wait:.0f} s after the {history.mode} run)"
                )
        return CompressorHistory(True, cmd.mode, now, history.stopped_at)
    return history
