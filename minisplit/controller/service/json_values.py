"""Reading values out of parsed JSON that nobody vouches for (the state file, MQTT payloads):
a number that is a real, finite one, and a per-zone table read leniently (an unusable entry
is reported and left out, the others kept)."""

from __future__ import annotations

import math
import reprlib
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def finite_number(value: object) -> float | None:
    """``value`` as a float when it is a JSON number (not a bool) and finite; else None (an
    integer beyond any float included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    return number if math.isfinite(number) else None


def zone_table(
    value: object,
    table: str,
    entry: str,
    parse: Callable[[object], T | None],
    report: Callable[[str], None],
) -> dict[str, T]:
    """The per-zone table ``value`` (`{zone id: entry}`), each entry through ``parse`` (None:
    unusable). What cannot be used is reported, ``table`` (what it holds) when it is no table
    at all, ``entry`` (what an entry is, and what then happens) for each unusable entry."""
    if not isinstance(value, dict):
        report(f"{table} {reprlib.repr(value)} are not a table: ignored")
        return {}
    found = {}
    for zone_id, item in value.items():
        parsed = parse(item)
        if parsed is None:
            report(f"zone {zone_id!r}: {entry.format(shown=reprlib.repr(item))}")
            continue
        found[str(zone_id)] = parsed
    return found
