"""The independent safety check refuses every command that would break an interlock."""

import pytest

from minisplit.controller.core.interlocks import (
    CompressorHistory,
    InterlockLimits,
    InterlockViolation,
    check_command,
)
from minisplit.drivers.records import OduCommand
from minisplit.drivers.vocabulary import OduMode

LIMITS = InterlockLimits()


def started_at(t: float, mode="heat") -> CompressorHistory:
    return check_command(CompressorHistory(), OduCommand(mode, 30.0), t, LIMITS)


def test_start_from_nothing_is_allowed():
    history = started_at(0.0)
    assert history.running and history.started_at == 0.0


@pytest.mark.parametrize("frequency", [5.0, 19.9, 90.1, 200.0, -1.0])
def test_frequency_outside_limits_is_refused(frequency):
    with pytest.raises(InterlockViolation, match="frequency"):
        check_command(CompressorHistory(), OduCommand(OduMode.HEAT, frequency), 0.0, LIMITS)


def test_mode_off_with_frequency_is_refused():
    with pytest.raises(InterlockViolation, match="mode off"):
        check_command(CompressorHistory(), OduCommand(OduMode.OFF, 30.0), 0.0, LIMITS)


def test_stop_before_minimum_on_time_is_refused_unless_forced():
    history = started_at(0.0)
    with pytest.raises(InterlockViolation, match="minimum on time"):
        check_command(history, OduCommand(OduMode.HEAT, 0.0), 179.0, LIMITS)
    forced = check_command(history, OduCommand(OduMode.HEAT, 0.0), 179.0, LIMITS, forced_stop=True)
    assert not forced.running and forced.stopped_at == 179.0
    assert not check_command(history, OduCommand(OduMode.HEAT, 0.0), 180.0, LIMITS).running


def test_restart_before_minimum_off_time_is_refused():
    stopped = check_command(started_at(0.0), OduCommand(OduMode.HEAT, 0.0), 200.0, LIMITS)
    with pytest.raises(InterlockViolation, match="must wait 180"):
        check_command(stopped, OduCommand(OduMode.HEAT, 25.0), 379.0, LIMITS)
    assert check_command(stopped, OduCommand(OduMode.HEAT, 25.0), 380.0, LIMITS).running


def test_mode_change_while_running_is_refused():
    with pytest.raises(InterlockViolation, match="while running"):
        check_command(started_at(0.0), OduCommand(OduMode.COOL, 30.0), 500.0, LIMITS)


def test_mode_change_needs_stop_and_wait():
    limits = InterlockLimits(min_off_s=180, mode_change_wait_s=300)
    history = check_command(CompressorHistory(), OduCommand(OduMode.HEAT, 30.0), 0.0, limits)
    stopped = check_command(history, OduCommand(OduMode.HEAT, 0.0), 200.0, limits)
    assert check_command(stopped, OduCommand(OduMode.HEAT, 30.0), 380.0, limits).running
    with pytest.raises(InterlockViolation, match="must wait 300"):
        check_command(stopped, OduCommand(OduMode.COOL, 30.0), 380.0, limits)
    assert check_command(stopped, OduCommand(OduMode.COOL, 30.0), 500.0, limits).mode == "cool"
