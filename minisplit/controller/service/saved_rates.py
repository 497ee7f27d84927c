"""The rooms' learned warm-up and drift (`core.optimal_start.RoomRates`) in the state file: as
saved (rounded, so that a small move of the estimate is no write), and read back leniently (a
damaged entry is reported and learned again)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from minisplit.controller.core.optimal_start import PRIOR, RoomRates
from minisplit.controller.service.json_values import finite_number, zone_table

# Beyond these a saved rate is damage, not a room (the core's own learning stays well inside).
_LIMITS = {
    "heat_gain": (0.0, 50.0),
    "cool_gain": (0.0, 50.0),
    "loss": (0.0, 5.0),
    "drift": (-50.0, 50.0),
    "sun": (0.0, 50.0),
}
# Saved before the sun was learned: the prior's.
_OPTIONAL = {"sun": PRIOR.sun}


def rounded(rates: RoomRates) -> RoomRates:
    """``rates`` as the state file keeps them: a tenth of a kelvin per hour for the gains and
    the drift and the sun's warming, a thousandth per hour for the loss."""
    return RoomRates(
        round(rates.heat_gain, 1),
        round(rates.cool_gain, 1),
        round(rates.loss, 3),
        rates.learned,
        round(rates.drift, 1),
        round(rates.sun, 1),
    )


def encode_rates(rates: Mapping[str, RoomRates]) -> dict[str, dict[str, float | int]]:
    return {
        zone_id: {
            "heat_gain": r.heat_gain,
            "cool_gain": r.cool_gain,
            "loss": r.loss,
            "drift": r.drift,
            "sun": r.sun,
            "learned": r.learned,
        }
        for zone_id, r in sorted(rates.items())
    }


def decode_rates(value: object, report: Callable[[str], None]) -> dict[str, RoomRates]:
    return zone_table(
        value,
        "rooms' learned rates",
        "learned rates {shown} unusable: ignored (learned again)",
        _rates,
        report,
    )


def _rates(entry: object) -> RoomRates | None:
    if not isinstance(entry, dict):
        return None
    values = {}
    for key, (low, high) in _LIMITS.items():
        number = finite_number(entry.get(key, _OPTIONAL.get(key)))
        if number is None or not low <= number <= high:
            return None
        values[key] = number
    learned = entry.get("learned", 0)
    if isinstance(learned, bool) or not isinstance(learned, int) or learned < 0:
        return None
    return RoomRates(
        values["heat_gain"],
        values["cool_gain"],
        values["loss"],
        learned,
        values["drift"],
        values["sun"],
    )
