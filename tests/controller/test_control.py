"""One control tick across zones, coordinator and head commands."""

from controller.compressor import UnitObservation
from controller.control import ControlState, ControlTuning, UnitInput, ZoneInput, control_step
from controller.settings import FanMode, SwingMode, UnitSettings, ZoneMode, ZoneSettings

UNIT = UnitInput(
    UnitObservation(7000.0, 6500.0, 20.0, 90.0, 90.0, 5.0),
    available=True,
    defrost=False,
    settings=UnitSettings(quiet=True, demand_limit_pct=80),
)
TUNING = ControlTuning()


def zone(mode: ZoneMode, temperature: float | None, target: float = 21.0, **kw) -> ZoneInput:
    settings = ZoneSettings(mode=mode, target_temperature=target, **kw)
    return ZoneInput(settings, temperature, available=True, rated_capacity_w=2500.0)


def test_cold_room_in_heat_gets_refrigerant_and_others_do_not():
    zones = {
        "a": zone(ZoneMode.HEAT, 18.0, fan_mode=FanMode.HIGH, swing_mode=SwingMode.SWING),
        "b": zone(ZoneMode.OFF, 18.0),
        "c": zone(ZoneMode.FAN_ONLY, 18.0),
    }
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.odu.mode == "heat" and out.odu.frequency_hz >= 20.0
    assert out.odu.quiet and out.odu.demand_limit_pct == 80
    a, b, c = out.zones["a"], out.zones["b"], out.zones["c"]
    assert a.action == "heating" and a.head.capacity_request_pct > 0
    assert a.head.power and a.head.mode == "heat" and a.head.fan == "high"
    assert a.head.vane_vertical == "swing" and a.head.display_setpoint == 21.0
    assert not b.head.power and b.action == "off" and b.head.capacity_request_pct == 0
    assert c.head.power and c.head.mode == "fan_only" and c.action == "fan"


def test_opposite_call_waits_with_mode_conflict():
    zones = {"a": zone(ZoneMode.HEAT, 18.0), "b": zone(ZoneMode.COOL, 28.0, target=24.0)}
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.odu.mode == "heat"
    assert out.zones["b"].mode_conflict and out.zones["b"].action == "idle"
    assert out.zones["b"].head.capacity_request_pct == 0


def test_defrost_reports_defrosting_and_holds_integrators():
    zones = {"a": zone(ZoneMode.HEAT, 19.0)}
    state, _ = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    state, _ = control_step(state, zones, UNIT, 600.0, TUNING)
    defrosting = UnitInput(UNIT.observation, True, True, UNIT.settings)
    held, out = control_step(state, zones, defrosting, 1200.0, TUNING)
    assert out.zones["a"].action == "defrosting"
    assert held.zones["a"].integral == state.zones["a"].integral


def test_unavailable_head_contributes_no_demand():
    zones = {"a": ZoneInput(ZoneSettings(mode=ZoneMode.HEAT), 15.0, False, 2500.0)}
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.odu.frequency_hz == 0 and out.zones["a"].demand == 0


def test_heat_cool_shows_the_setpoint_in_use_on_the_head():
    zones = {
        "a": zone(
            ZoneMode.HEAT_COOL, 27.0, target_temperature_low=20.0, target_temperature_high=24.0
        )
    }
    _, out = control_step(ControlState(), zones, UNIT, 0.0, TUNING)
    assert out.odu.mode == "cool" and out.zones["a"].head.display_setpoint == 24.0
