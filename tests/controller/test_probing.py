"""Refused units: probed again on a doubling backoff, news only when the fault is."""

from __future__ import annotations

from minisplit.controller.service.probing import RefusedUnits
from minisplit.drivers.bus import Backoff

WRONG = "wrong_device: device_kind=2"


def test_a_refused_unit_is_probed_again_less_and_less_often_up_to_the_cap() -> None:
    refused = RefusedUnits(Backoff(10.0, 40.0))
    assert refused.due("odu", 0.0) and refused.fault("odu") is None
    now, delays = 0.0, []
    for _ in range(5):
        delay, _ = refused.refuse("odu", WRONG, now)
        delays.append(delay)
        assert not refused.due("odu", now + delay - 0.1)
        now += delay
        assert refused.due("odu", now)
    assert delays == [10.0, 20.0, 40.0, 40.0, 40.0]
    assert refused.fault("odu") == WRONG


def test_only_a_first_refusal_or_another_fault_is_news() -> None:
    refused = RefusedUnits(Backoff(10.0, 600.0))
    assert refused.refuse("living", WRONG, 0.0) == (10.0, True)
    assert refused.refuse("living", WRONG, 10.0) == (20.0, False)
    other = "implausible_identity: min_frequency=0"
    assert refused.refuse("living", other, 30.0) == (40.0, True)
    assert refused.fault("living") == other
    assert refused.due("kitchen", 30.0)  # the others are not held back


def test_an_accepted_unit_is_no_longer_refused_and_starts_afresh() -> None:
    refused = RefusedUnits(Backoff(10.0, 600.0))
    refused.refuse("odu", WRONG, 0.0)
    refused.refuse("odu", WRONG, 10.0)
    assert refused.accept("odu") == WRONG
    assert refused.fault("odu") is None and refused.due("odu", 10.0)
    assert refused.accept("odu") is None
    assert refused.refuse("odu", WRONG, 100.0) == (10.0, True)
