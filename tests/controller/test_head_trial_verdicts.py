"""What a head trial's samples are judged to say (pure: no unit involved)."""

from __future__ import annotations

from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.head_trial import Sample, TrialResult, judge


def sample(t: float, **seen: object) -> Sample:
    fields: dict[str, object] = {
        "power": None,
        "mode": None,
        "thermo_on": None,
        "return_air_c": None,
        "coil_c": None,
        "compressor_hz": None,
        "compressor_running": None,
    }
    return Sample(elapsed_s=t, **{**fields, **seen})  # type: ignore[arg-type]


def verdicts(samples: list[Sample], mode: ZoneMode) -> dict[str, str]:
    return {check.name: check.verdict for check in judge(samples, mode)}


def test_a_head_that_answers_but_never_switches_on_fails():
    samples = [sample(t, power=False, mode="heat", return_air_c=18.0) for t in (10, 20, 30)]
    assert verdicts(samples, ZoneMode.HEAT)["on in mode"] == "fail"


def test_a_head_on_in_the_other_mode_fails_and_says_what_it_read():
    samples = [sample(10, power=True, mode="cool")]
    (check,) = [c for c in judge(samples, ZoneMode.HEAT) if c.name == "on in mode"]
    assert check.verdict == "fail" and "read back: cool" in check.detail


def test_a_coil_that_stays_near_the_return_air_fails_the_air_check():
    samples = [sample(t, return_air_c=20.0, coil_c=22.0) for t in (10, 20)]
    assert verdicts(samples, ZoneMode.HEAT)["air"] == "fail"
    cold = [sample(t, return_air_c=26.0, coil_c=12.0) for t in (10, 20)]
    assert verdicts(cold, ZoneMode.COOL)["air"] == "pass"
    assert verdicts(cold, ZoneMode.HEAT)["air"] == "fail"  # the wrong way


def test_without_a_coil_the_return_air_must_move_the_right_way():
    warming = [sample(t, return_air_c=18.0 + t / 100) for t in (0, 20, 40)]
    assert verdicts(warming, ZoneMode.HEAT)["air"] == "pass"
    assert verdicts(warming, ZoneMode.COOL)["air"] == "fail"


def test_a_compressor_that_never_runs_fails():
    samples = [sample(t, compressor_hz=0.0, compressor_running=False) for t in (10, 20)]
    assert verdicts(samples, ZoneMode.COOL)["compressor"] == "fail"


def test_nothing_reported_is_not_a_pass():
    result = TrialResult("zone x", ZoneMode.HEAT, 21.0, "setpoint")
    result.checks = judge([sample(10)], ZoneMode.HEAT)
    assert {c.verdict for c in result.checks} == {"not reported"}
    assert not result.passed
