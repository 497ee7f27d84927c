"""Mode arbitration policies: first, demand (held), priority."""

from minisplit.controller.core.arbitration import ModePolicy, arbitrate
from minisplit.controller.core.zone import Direction

HEAT, COOL, NONE = Direction.HEAT, Direction.COOL, Direction.OFF


def decide(policy, current, heat_w, cool_w, *, since=0.0, now=100.0, priority=NONE):
    return arbitrate(
        policy, current, since, now, heat_w, cool_w, heat_w > 0, cool_w > 0,
        priority=priority, hold_s=1200.0,
    )  # fmt: skip


def test_one_direction_calling_wins_under_every_policy():
    for policy in ModePolicy:
        assert decide(policy, COOL, 500.0, 0.0) is HEAT
        assert decide(policy, HEAT, 0.0, 500.0) is COOL


def test_no_call_keeps_the_current_choice():
    for policy in ModePolicy:
        assert decide(policy, HEAT, 0.0, 0.0) is HEAT
        assert decide(policy, NONE, 0.0, 0.0) is NONE


def test_first_keeps_the_direction_in_use():
    assert decide(ModePolicy.FIRST, HEAT, 100.0, 5000.0) is HEAT
    assert decide(ModePolicy.FIRST, NONE, 100.0, 5000.0) is COOL


def test_demand_picks_the_larger_sum_and_holds_it():
    assert decide(ModePolicy.DEMAND, NONE, 100.0, 5000.0) is COOL
    # Within the hold the choice stands; after it the larger demand wins.
    assert decide(ModePolicy.DEMAND, HEAT, 100.0, 5000.0, since=0.0, now=1199.0) is HEAT
    assert decide(ModePolicy.DEMAND, HEAT, 100.0, 5000.0, since=0.0, now=1200.0) is COOL
    assert decide(ModePolicy.DEMAND, HEAT, 5000.0, 5000.0, since=0.0, now=9999.0) is HEAT


def test_priority_zone_direction_wins_when_it_calls():
    assert decide(ModePolicy.PRIORITY, HEAT, 4000.0, 100.0, priority=COOL) is COOL
    assert decide(ModePolicy.PRIORITY, HEAT, 4000.0, 100.0) is HEAT  # as `first` otherwise
