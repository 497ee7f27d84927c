"""The control tick with its safety check, as the supervisor and the bench run it."""

from controller.config import ControlConfig
from controller.loop import ControlLoop, UnitRatings, unit_input, zone_input
from controller.settings import UnitSettings, ZoneMode, ZoneSettings
from controller.tuning import control_tuning_from


class Odu:
    allowed_max_frequency_hz = 90.0
    outdoor_temperature = 2.0
    defrost = False
    fault = False


class Head:
    cold_draft_prevention = False


RATINGS = UnitRatings(7000.0, 6500.0, 20.0, 90.0)


def step(loop: ControlLoop, now: float, available: bool, mode: ZoneMode, temperature: float):
    settings = ZoneSettings(mode=mode, target_temperature=22.0 if mode is ZoneMode.HEAT else 20.0)
    zones = {"a": zone_input(settings, temperature, True, 2500.0, Head())}
    unit = unit_input(RATINGS, Odu(), available, UnitSettings())
    return loop.step(zones, unit, now)


def test_commands_pass_the_safety_check_and_unreachable_unit_gets_nothing():
    loop = ControlLoop(control_tuning_from(ControlConfig()))
    first = step(loop, 0.0, True, ZoneMode.HEAT, 18.0)
    assert first.odu_command is not None and first.odu_command.mode == "heat"
    assert loop.history.running
    lost = step(loop, 10.0, False, ZoneMode.HEAT, 18.0)
    assert lost.odu_command is None
    # The run ended with the unit's answers: the history records the (forced) stop, so a later
    # start in the other mode is judged against the wait after a stop, not refused as a
    # "mode change while running".
    assert not loop.history.running and loop.history.stopped_at == 10.0
    decisions = [step(loop, 10.0 + 10 * i, True, ZoneMode.COOL, 26.0) for i in range(1, 40)]
    assert all(d.refusal is None for d in decisions)
    assert any(d.odu_command is not None and d.odu_command.mode == "cool" for d in decisions)
