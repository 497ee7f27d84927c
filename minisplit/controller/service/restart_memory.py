"""What the controller keeps across a restart besides the settings: when each boost began (the
control core counts a boost from then, not from the first tick that sees it), and so when it
ends, the defrost interval the frost anticipation learned, and what each room showed of its
warm-up and drift (optimal start). All travel in the saved state (`SavedState`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from minisplit.controller.core.control import ControlOutput, ControlState
from minisplit.controller.core.optimal_start import RoomRates, ZoneLookahead
from minisplit.controller.core.presets import boost_elapsed_s
from minisplit.controller.core.settings import Preset
from minisplit.controller.core.tick import Controller
from minisplit.controller.service.persistence import SavedState
from minisplit.controller.service.saved_rates import rounded

# The rooms' rates are saved at most this often (controller seconds): each learning window
# moves them a little, and every save is a write to the controller's flash.
ROOM_RATES_SAVE_S = 3600.0


class BoostCounter:
    """Tells the control core when each boost it has not counted yet began: a boost started
    before a restart goes on with what was left of it (`boost_elapsed_s`), a new one from the
    moment it was asked for."""

    def __init__(self, duration_s: float, time_scale: float) -> None:
        self._duration_s = duration_s
        self._time_scale = time_scale
        self._counted: dict[str, float | None] = {}  # by zone: the start the core counts from

    def count(
        self, controller: Controller, state: SavedState, now: float, calendar_now: float
    ) -> None:
        """Before the tick at controller time ``now`` (``calendar_now`` in calendar seconds)."""
        counted: dict[str, float | None] = {}
        for zone_id, settings in state.zones.items():
            if settings.preset is not Preset.BOOST:
                continue
            started = counted[zone_id] = state.boost_started.get(zone_id)
            if zone_id not in self._counted or self._counted[zone_id] != started:
                elapsed = boost_elapsed_s(started, calendar_now, self._duration_s, self._time_scale)
                controller.resume_boost(zone_id, now - elapsed)
        self._counted = counted


def with_defrost_interval(
    controller: Controller, system: str, wanted: SavedState
) -> SavedState | None:
    """The settings to save when the defrost interval ``system``'s controller learned changed
    (once per defrost at most), else None."""
    interval = controller.state.frost.interval_s
    if interval == wanted.defrost_intervals_s.get(system):
        return None
    return wanted.with_defrost_interval(system, interval)


def ended_boosts(output: ControlOutput, state: SavedState, wanted: SavedState) -> Iterator[str]:
    """The zones whose boost the core has ended (``output``) while their settings in effect
    (``state``) still say boost: those become the comfort preset, as if the homeowner had chosen
    it, so that Home Assistant shows what the zone does and a restart does not boost again.
    Unless the homeowner changed the preset meanwhile, or began a new boost, and that is on its
    way to disk (``wanted``)."""
    for zone_id, out in output.zones.items():
        if state.zones[zone_id].preset is not Preset.BOOST or out.preset is Preset.BOOST:
            continue
        if wanted.zones[zone_id].preset is not Preset.BOOST:
            continue
        if wanted.boost_started.get(zone_id) == state.boost_started.get(zone_id):
            yield zone_id


def resumed_lookahead(saved: SavedState, zones: Iterable[str]) -> dict[str, ZoneLookahead]:
    """The optimal start's memory for ``zones`` from the rates saved before a restart."""
    return {z: ZoneLookahead(saved.room_rates[z]) for z in zones if z in saved.room_rates}


class RoomRatesSaver:
    """Saves what the rooms showed (`ControlState.lookahead`) when a rate moved by what the
    state file keeps (`saved_rates.rounded`), at most every `ROOM_RATES_SAVE_S`."""

    def __init__(self) -> None:
        self._saved_at: float | None = None

    def with_rates(
        self, states: Iterable[ControlState], wanted: SavedState, now: float
    ) -> SavedState | None:
        """The settings to save at ``now``, else None (nothing moved, or saved too lately)."""
        if self._saved_at is not None and now - self._saved_at < ROOM_RATES_SAVE_S:
            return None
        rates = {
            zone_id: rounded(look.rates)
            for state in states
            for zone_id, look in state.lookahead.items()
            if look.rates.learned
        }
        known = wanted.room_rates
        if all(_same(rates[z], known.get(z)) for z in rates):
            return None
        self._saved_at = now
        return wanted.with_room_rates({**known, **rates})


def _same(a: RoomRates, b: RoomRates | None) -> bool:
    """The same rates but for how many windows taught them."""
    return b is not None and a._replace(learned=0) == b._replace(learned=0)
