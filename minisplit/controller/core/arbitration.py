"""Mode arbitration: a multi-split heats or cools, never both, so one direction wins (pure).

Policies (config `control.mode_policy`): `first` — the direction in use keeps winning while any
zone calls for it (as Daikin and Haier do); `demand` — the larger summed requested capacity
wins, and a choice is held at least `mode_hold_s`; `priority` — the named zone's direction wins
whenever it calls, otherwise as `first`."""

from __future__ import annotations

from enum import StrEnum

from minisplit.controller.core.zone import Direction

HEAT = Direction.HEAT
COOL = Direction.COOL
NONE = Direction.OFF  # no direction


class ModePolicy(StrEnum):
    FIRST = "first"
    DEMAND = "demand"
    PRIORITY = "priority"


def arbitrate(
    policy: ModePolicy,
    current: Direction,
    since: float | None,
    now: float,
    heat_w: float,
    cool_w: float,
    heat_calls: bool,
    cool_calls: bool,
    *,
    priority: Direction = NONE,
    hold_s: float = 1200.0,
) -> Direction:
    """The direction the outdoor unit should work in now.

    ``current`` is the direction chosen so far (chosen at ``since``); ``heat_w``/``cool_w`` the
    summed capacity requested by the zones that call for each direction; ``priority`` the
    direction the priority zone calls for (NONE when it does not call). With no call at all the
    current choice stands: there is nothing to decide."""
    if not heat_calls and not cool_calls:
        return current
    if heat_calls != cool_calls:
        # Only one direction is wanted: it wins under every policy.
        return HEAT if heat_calls else COOL
    # Both directions call.
    if policy is ModePolicy.PRIORITY and priority is not NONE:
        return priority
    if policy is ModePolicy.DEMAND:
        if current is NONE:
            return HEAT if heat_w >= cool_w else COOL
        if since is not None and now - since < hold_s:
            return current
        if heat_w > cool_w:
            return HEAT
        if cool_w > heat_w:
            return COOL
        return current
    # first (and priority without a priority call): the direction in use keeps winning.
    if current is not NONE:
        return current
    return HEAT if heat_w >= cool_w else COOL
