"""Optimal start and stop (`controller.core.optimal_start`): when a switch point is brought
forward, how it stays so, and what the rooms' rates learn from."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.core.compressor import UnitInput, UnitObservation
from minisplit.controller.core.control import ControlState, ControlTuning, ZoneInput, control_step
from minisplit.controller.core.optimal_start import (
    DRIFTING,
    NOTHING,
    WARMING,
    RoomRates,
    StartTuning,
    ZoneLookahead,
    early_switch,
    learn,
)
from minisplit.controller.core.presets import PresetTable
from minisplit.controller.core.room_sensor import SensorSource
from minisplit.controller.core.schedule import Switch
from minisplit.controller.core.settings import Preset, UnitSettings, ZoneMode, ZoneSettings
from minisplit.controller.core.zone import PiTuning
from minisplit.drivers.vocabulary import HeadMode, ZoneAction

TUNING = StartTuning()
PRESETS = PresetTable()
HOUR = 3600.0
# A room that warms 2 K/h at no difference to the outdoors and loses 3 %/h of it.
LOOK = ZoneLookahead(RoomRates(2.0, 2.0, 0.03))


def heat(target: float) -> ZoneSettings:
    return ZoneSettings(mode=ZoneMode.HEAT, target_temperature=target)


def cool(target: float) -> ZoneSettings:
    return ZoneSettings(mode=ZoneMode.COOL, target_temperature=target)


OFF = ZoneSettings(mode=ZoneMode.OFF)


def warmup_s(rise_k: float, room: float, outdoor: float) -> float:
    """What the module should find: dead time + margin × rise / (gain − loss × difference)."""
    rate = 2.0 - 0.03 * (room - outdoor)
    return TUNING.dead_time_s + TUNING.lead_margin * rise_k / rate * HOUR


def decide(
    settings: ZoneSettings,
    later: ZoneSettings,
    left_s: float,
    room: float,
    outdoor: float = 0.0,
    look: ZoneLookahead = LOOK,
) -> tuple[ZoneLookahead, ZoneSettings | None]:
    now = 1000.0
    return early_switch(
        look, settings, Switch(now + left_s, later), room, outdoor, now, PRESETS, TUNING
    )


def test_a_raise_starts_when_the_warm_up_takes_the_time_left():
    # 19.0 → 21.0: 1.9 K to 20.9 (the aim 0.1 K short) at 2 − 0.03 × 19 = 1.43 K/h.
    need = warmup_s(1.9, 19.0, 0.0)
    assert decide(heat(19.0), heat(21.0), need + 60.0, 19.0)[1] is None
    look, early = decide(heat(19.0), heat(21.0), need - 60.0, 19.0)
    assert early == heat(21.0)
    assert look.starting


def test_a_colder_day_starts_earlier():
    mild = warmup_s(1.9, 19.0, 10.0)
    cold = warmup_s(1.9, 19.0, -15.0)
    left = 0.5 * (mild + cold)
    assert decide(heat(19.0), heat(21.0), left, 19.0, outdoor=10.0)[1] is None
    assert decide(heat(19.0), heat(21.0), left, 19.0, outdoor=-15.0)[1] is not None


def test_switching_on_is_a_raise_and_a_room_already_there_needs_no_start():
    assert decide(OFF, heat(21.0), 1800.0, 19.0)[1] == heat(21.0)
    assert decide(heat(20.0), heat(21.0), 1800.0, 21.2)[1] is None


def test_a_cooling_raise_mirrors_heating():
    # 35 °C outside: the head cools 2 K/h less 0.03 × 8 K of heat coming in.
    need = TUNING.dead_time_s + TUNING.lead_margin * 1.9 / (2.0 - 0.03 * 8.0) * HOUR
    assert decide(cool(27.0), cool(25.0), need + 60.0, 27.0, outdoor=35.0)[1] is None
    assert decide(cool(27.0), cool(25.0), need - 60.0, 27.0, outdoor=35.0)[1] == cool(25.0)


def test_no_early_heating_start_on_a_mild_morning():
    # 8 K or less between the outdoors and the new target: the room warms quickly, and sun and
    # gains bring it up anyway (stored warmth comes back as an overheated afternoon).
    assert decide(heat(18.0), heat(21.0), 1800.0, 18.0, outdoor=13.5)[1] is None
    assert decide(heat(18.0), heat(21.0), 1800.0, 18.0, outdoor=12.5)[1] == heat(21.0)
    # An outdoor temperature nobody reads (interfaces without an outdoor unit) is not mild.
    now = 0.0
    _, early = early_switch(
        LOOK, heat(18.0), Switch(1800.0, heat(21.0)), 18.0, None, now, PRESETS, TUNING
    )
    assert early == heat(21.0)
    # Not for cooling: a summer morning is mild outside, and pre-cooling meets the target.
    assert decide(cool(27.0), cool(25.0), 1800.0, 27.0, outdoor=22.0)[1] == cool(25.0)


def test_what_a_switch_point_asks_is_kept_only_for_the_same_settings():
    # The zone weighs its next switch point every tick of the hours before: what it asks is
    # kept with the settings it came from, and worked out again for any others.
    need = warmup_s(1.9, 19.0, 0.0)
    look, early = decide(heat(19.0), heat(19.5), need - 60.0, 19.0)
    assert early is None  # a small raise: the room gets there from the switch point
    assert look.asks is not None and look.asks.next == (19.5, float("inf"))
    # The program changed: the same moment now asks for 21 °C (new settings objects).
    look, early = decide(heat(19.0), heat(21.0), need - 60.0, 19.0, look=look)
    assert early == heat(21.0)
    assert look.asks is not None and look.asks.next == (21.0, float("inf"))
    # And the other way: kept for the very objects it was worked out from.
    now, later = heat(19.0), heat(21.0)
    first, _ = decide(now, later, need + 600.0, 19.0)
    again, _ = decide(now, later, need + 300.0, 19.0, look=first)
    assert again.asks is first.asks


def test_once_brought_forward_a_switch_point_stays_so_until_its_moment():
    look, early = decide(heat(19.0), heat(21.0), 1800.0, 19.0)
    assert early is not None
    # The room is nearly there: the start would not be needed now, but it is not undone.
    look, again = decide(heat(19.0), heat(21.0), 600.0, 20.8, look=look)
    assert again == heat(21.0) and look.early_for is not None
    # The moment came (the caller now gives the point after it): nothing brought forward.
    look, after = early_switch(look, heat(21.0), None, 20.9, 0.0, 5000.0, PRESETS, TUNING)
    assert after is None and look.early_for is None


def test_nothing_is_brought_forward_beyond_the_longest_lead_or_when_off():
    far = TUNING.max_lead_s + 60.0
    assert decide(OFF, heat(24.0), far, 10.0, outdoor=-20.0)[1] is None
    off = StartTuning(enabled=False)
    now = 0.0
    _, early = early_switch(
        LOOK, heat(19.0), Switch(600.0, heat(21.0)), 19.0, 0.0, now, PRESETS, off
    )
    assert early is None


def test_a_preset_counts_at_its_setpoint():
    # Eco is 2 K below: 21 in eco is 19, so eco 21 → comfort 21 is a 2 K raise.
    eco = ZoneSettings(mode=ZoneMode.HEAT, target_temperature=21.0, preset=Preset.ECO)
    assert decide(eco, heat(21.0), 1800.0, 19.0)[1] == heat(21.0)


def test_a_setback_comes_early_while_the_room_stays_in_its_band():
    # Held at 21, the room drifts 0.03 × 21 K/h toward 0 °C: 0.945 K/h with the margin; the
    # band allows 0.4 K (0.5 less 0.1 inside): ~25 minutes.
    assert decide(heat(21.0), heat(18.0), 20 * 60.0, 21.0)[1] == heat(18.0)
    assert decide(heat(21.0), heat(18.0), 30 * 60.0, 21.0)[1] is None
    assert decide(heat(21.0), OFF, 20 * 60.0, 21.0)[1] == OFF
    look, _ = decide(heat(21.0), heat(18.0), 20 * 60.0, 21.0)
    assert not look.starting  # a stop: the loop keeps its usual aim


def test_a_warm_afternoon_lets_a_cooling_zone_stop_early_only_when_it_stays_in_band():
    # Cooling at 24 with 30 °C outside: the room drifts up 0.27 K/h (with the margin).
    assert decide(cool(24.0), cool(27.0), 3600.0, 24.0, outdoor=30.0)[1] == cool(27.0)
    assert decide(cool(24.0), cool(27.0), 3600.0, 24.0, outdoor=45.0)[1] is None


@given(
    room=st.floats(10.0, 30.0),
    outdoor=st.floats(-25.0, 40.0),
    left=st.floats(1.0, 6 * HOUR),
    now_target=st.floats(16.0, 24.0),
    later_target=st.floats(16.0, 24.0),
)
def test_never_brought_forward_beyond_the_longest_lead(
    room, outdoor, left, now_target, later_target
):
    _, early = decide(heat(now_target), heat(later_target), left, room, outdoor)
    if early is not None:
        assert left <= TUNING.max_lead_s
        assert early == heat(later_target) != heat(now_target)


def run_window(look: ZoneLookahead, kind: int, start: float, slope_k_per_h: float, outdoor: float):
    """A window of the tuning's length (plus a tick) at a constant slope; the last tick ends it."""
    t = 0.0
    while t <= TUNING.window_s + 10.0:
        look = learn(look, kind, start + slope_k_per_h * t / HOUR, outdoor, t, TUNING)
        t += 10.0
    return look


def test_drifting_rooms_teach_their_loss():
    look = ZoneLookahead(RoomRates(2.0, 2.0, 0.03))
    for _ in range(30):  # a room at 20 °C over 0 °C, falling 1 K/h: a loss of 0.05/h
        look = run_window(look, DRIFTING, 20.0, -1.0, 0.0)
    assert look.rates.loss == pytest.approx(0.05, rel=0.05)
    assert look.rates.learned >= 30


def test_warming_rooms_teach_their_gain_net_of_the_loss():
    look = ZoneLookahead(RoomRates(2.0, 2.0, 0.05))
    for _ in range(30):  # rising 1.5 K/h at 20 K over the outdoors: gain 1.5 + 0.05 × 20
        look = run_window(look, WARMING, 18.0, 1.5, -2.0)
    assert look.rates.heat_gain == pytest.approx(
        1.5 + 0.05 * (20.0 + 0.75 * TUNING.window_s / HOUR), rel=0.02
    )
    assert look.rates.cool_gain == 2.0 and look.rates.loss == 0.05


def cut_short(kind: int, seconds: float, slope_k_per_h: float) -> ZoneLookahead:
    """``kind`` for ``seconds`` at a constant slope from 18 °C (5 °C outside), then nothing."""
    look = ZoneLookahead(RoomRates(2.0, 2.0, 0.03))
    t = 0.0
    while t <= seconds + 10.0:
        kind_now = kind if t <= seconds else NOTHING
        look = learn(look, kind_now, 18.0 + slope_k_per_h * t / HOUR, 5.0, t, TUNING)
        t += 10.0
    return look


def test_a_warm_up_shorter_than_a_window_teaches_as_it_ends_unless_very_short():
    # 10 minutes at 4 K/h with 13 K to the outdoors: gain 4 + 0.03 × 13.x
    taught = cut_short(WARMING, 600.0, 4.0).rates
    assert taught.learned == 1 and taught.heat_gain == pytest.approx(
        2.0 + TUNING.learn_weight * (4.0 + 0.03 * 13.33 - 2.0), rel=0.01
    )
    assert cut_short(WARMING, 200.0, 4.0).rates == RoomRates(2.0, 2.0, 0.03)
    # A burst that warmed the air a few tenths (a head's short run at night) teaches nothing.
    assert cut_short(WARMING, 400.0, 3.0).rates == RoomRates(2.0, 2.0, 0.03)
    # A drift cut short says nothing (a 0.1 K reading in a few minutes).
    assert cut_short(DRIFTING, 600.0, -1.0).rates == RoomRates(2.0, 2.0, 0.03)


def test_a_drift_near_the_outdoor_temperature_teaches_nothing():
    look = run_window(ZoneLookahead(RoomRates(2.0, 2.0, 0.03)), DRIFTING, 20.0, -1.0, 18.0)
    assert look.rates.loss == 0.03


# ---- in the control tick -------------------------------------------------------------------

UNIT = UnitInput(
    UnitObservation(7000.0, 6500.0, 20.0, 90.0, 90.0, 0.0),
    available=True,
    defrost=False,
    settings=UnitSettings(),
)


def zone_in(settings: ZoneSettings, room: float, upcoming: Switch | None) -> ZoneInput:
    return ZoneInput(settings, room, True, 2500.0, sensor=SensorSource.REMOTE, upcoming=upcoming)


def test_a_zone_switched_on_by_its_program_starts_early_and_aims_near_the_new_target():
    morning = Switch(1800.0, heat(21.0))  # in 30 min; the room at 19 °C needs ~40 min
    _, out = control_step(
        ControlState(), {"a": zone_in(OFF, 19.0, morning)}, UNIT, 0.0, ControlTuning()
    )
    a = out.zones["a"]
    assert a.head.power and a.head.mode is HeadMode.HEAT and a.action is ZoneAction.HEATING
    assert a.settings == heat(21.0) and a.setpoint == 21.0
    assert a.head.display_setpoint == 21.0
    # Without optimal start the zone stays off until the switch point.
    tuning = ControlTuning(start=StartTuning(enabled=False))
    _, out = control_step(ControlState(), {"a": zone_in(OFF, 19.0, morning)}, UNIT, 0.0, tuning)
    assert not out.zones["a"].head.power and out.zones["a"].action is ZoneAction.OFF


def test_the_early_start_aims_nearer_the_target_than_the_loop_does():
    early = Switch(600.0, heat(21.0))  # 0.2 K to go takes ~13 minutes (dead time 10 + 3)
    zones = {"a": zone_in(heat(19.0), 20.7, early)}
    tuning = ControlTuning(pi=PiTuning(band_offset_k=0.4, low_load_band_offset_k=0.5))
    state, out = control_step(ControlState(), zones, UNIT, 0.0, tuning)
    # 20.7 is past the usual aim (21 − 0.4) but short of the early start's (21 − 0.1).
    assert out.zones["a"].action is ZoneAction.HEATING
    state, out = control_step(state, {"a": zone_in(heat(21.0), 20.7, None)}, UNIT, 10.0, tuning)
    assert out.zones["a"].demand == 0.0  # the switch point came: the usual aim again


def test_the_zones_learn_their_rates_in_the_control_state():
    tuning = ControlTuning()
    zones = {"a": zone_in(heat(21.0), 17.0, None)}
    state = ControlState()
    now = 0.0
    room = 17.0
    while now < 3 * TUNING.window_s:
        state, _ = control_step(state, zones, UNIT, now, tuning)
        now += 10.0
        room += 7.0 * 10.0 / HOUR  # warming fast: more than the prior's 5 K/h
        zones = {"a": zone_in(heat(21.0), round(room, 1), None)}
    assert state.lookahead["a"].rates.learned >= 1
    assert state.lookahead["a"].rates.heat_gain > TUNING.prior.heat_gain


def test_a_room_that_warms_when_left_alone_does_not_coast_into_a_cooling_setback():
    # Cooling at 24 on a night at 22 °C outside: the physics says it would cool, but the room
    # has shown it warms 0.6 K/h left alone (people, appliances, a hot roof): no early stop
    # an hour before; with no such drift learned it may (the floor of 0.2 K/h, × 1.5, in 1 h).
    warming = ZoneLookahead(RoomRates(2.0, 2.0, 0.03, drift=0.6))
    calm = ZoneLookahead(RoomRates(2.0, 2.0, 0.03, drift=0.0))
    assert decide(cool(24.0), cool(26.0), 3600.0, 24.0, outdoor=22.0, look=warming)[1] is None
    assert decide(cool(24.0), cool(26.0), 3600.0, 24.0, outdoor=22.0, look=calm)[1] is not None


def test_a_room_learned_to_lose_nothing_still_coasts_only_briefly():
    # A loss of 0 (sun kept it warm while it was learned) must not make a setback come hours
    # early: the drift toward the edge is never taken slower than 0.2 K/h (× 1.5).
    never = ZoneLookahead(RoomRates(2.0, 2.0, 0.0))
    assert decide(heat(21.0), heat(18.0), 2 * HOUR, 21.0, outdoor=21.0, look=never)[1] is None
    assert decide(heat(21.0), heat(18.0), 0.5 * HOUR, 21.0, outdoor=21.0, look=never)[1] is not None


def test_drifting_windows_teach_the_recent_drift_even_near_the_outdoor_temperature():
    look = ZoneLookahead(RoomRates(2.0, 2.0, 0.03))
    for _ in range(30):
        look = run_window(look, DRIFTING, 24.0, 0.5, 23.0)  # warming 0.5 K/h, 1 K over outside
    assert look.rates.drift == pytest.approx(0.5, abs=0.05)
    assert look.rates.loss == 0.03  # too near the outdoors to tell the loss
