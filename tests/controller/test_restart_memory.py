"""Which boosts end: the core's word, unless the homeowner asked for something else meanwhile."""

from dataclasses import replace
from types import SimpleNamespace
from typing import cast

from minisplit.controller.core.control import ControlOutput
from minisplit.controller.core.frost import FrostState
from minisplit.controller.core.settings import Preset, ZoneSettings
from minisplit.controller.core.tick import Controller
from minisplit.controller.service.persistence import SavedState
from minisplit.controller.service.restart_memory import ended_boosts, with_defrost_interval

BOOST = ZoneSettings(preset=Preset.BOOST)


def core_says(**presets: Preset) -> ControlOutput:
    """The control output as far as `ended_boosts` reads it: each zone's preset in effect."""
    zones = {zone: SimpleNamespace(preset=preset) for zone, preset in presets.items()}
    return cast(ControlOutput, SimpleNamespace(zones=zones))


def test_a_boost_the_core_ended_ends_and_one_it_keeps_does_not():
    state = SavedState({"a": BOOST, "b": BOOST}, boost_started={"a": 100.0, "b": 100.0})
    output = core_says(a=Preset.COMFORT, b=Preset.BOOST)
    assert list(ended_boosts(output, state, state)) == ["a"]


def test_a_boost_asked_for_again_or_a_preset_changed_meanwhile_is_left_to_the_homeowner():
    state = SavedState({"a": BOOST, "b": BOOST}, boost_started={"a": 100.0, "b": 100.0})
    # on its way to disk: a new boost in a, eco in b
    wanted = SavedState(
        {"a": BOOST, "b": replace(BOOST, preset=Preset.ECO)},
        boost_started={"a": 200.0},
    )
    output = core_says(a=Preset.COMFORT, b=Preset.COMFORT)
    assert list(ended_boosts(output, state, wanted)) == []


def test_a_zone_not_boosting_has_no_boost_to_end():
    state = SavedState({"a": replace(BOOST, preset=Preset.NONE)})
    assert list(ended_boosts(core_says(a=Preset.NONE), state, state)) == []


def test_each_systems_learned_defrost_interval_is_saved_apart() -> None:
    """Two systems' controllers learn their own interval: saving one keeps the other's, and
    an unchanged one asks for no write."""
    learned = cast(
        Controller, SimpleNamespace(state=SimpleNamespace(frost=FrostState(interval_s=2400.0)))
    )
    wanted = SavedState(defrost_intervals_s={"downstairs": 3000.0})
    saved = with_defrost_interval(learned, "upstairs", wanted)
    assert saved is not None
    assert saved.defrost_intervals_s == {"downstairs": 3000.0, "upstairs": 2400.0}
    assert with_defrost_interval(learned, "upstairs", saved) is None


def test_the_rooms_rates_are_saved_when_they_moved_at_most_hourly_and_resumed():
    from minisplit.controller.core.control import ControlState
    from minisplit.controller.core.optimal_start import RoomRates, ZoneLookahead
    from minisplit.controller.service.restart_memory import RoomRatesSaver, resumed_lookahead

    def state(gain: float, learned: int = 4) -> ControlState:
        return ControlState(lookahead={"a": ZoneLookahead(RoomRates(gain, 2.0, 0.03, learned))})

    saver = RoomRatesSaver()
    wanted = SavedState({"a": ZoneSettings()})
    saved = saver.with_rates([state(2.43)], wanted, 0.0)
    assert saved is not None and saved.room_rates == {"a": RoomRates(2.4, 2.0, 0.03, 4)}
    # Moved, but within the hour: not yet; after it, yes.
    assert saver.with_rates([state(2.9)], saved, 1800.0) is None
    later = saver.with_rates([state(2.9)], saved, 3700.0)
    assert later is not None and later.room_rates["a"].heat_gain == 2.9
    # Only the count of windows moved (or less than the file keeps): nothing to write.
    assert RoomRatesSaver().with_rates([state(2.91, learned=9)], later, 9e9) is None
    # Nothing learned yet: the prior is not saved.
    assert RoomRatesSaver().with_rates([state(2.0, learned=0)], wanted, 0.0) is None
    # After a restart the control starts from what was saved.
    assert resumed_lookahead(later, ["a", "b"]) == {"a": ZoneLookahead(later.room_rates["a"])}
