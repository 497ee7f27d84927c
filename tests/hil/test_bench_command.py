"""`minisplit bench` on an engineer's work: a config's [control] table, the A/B table of two,
a controller of one's own by module:attr (docs/benchmark.md)."""

from __future__ import annotations

import json
import textwrap

import pytest

from minisplit.controller.cli import main
from minisplit.controller.config import ControlConfig, config_file
from minisplit.hil.baselines import OnOffBaseline
from minisplit.hil.bench import CONTROLLERS, run_minisplit
from minisplit.hil.controllers import BenchUnit, DirectController, ShippedController
from minisplit.hil.examples.pi import PerRoomPI
from minisplit.hil.scenario import parse_scenario, shipped_scenarios

SCENARIO = {p.name: p for p in shipped_scenarios()}["unrenovated-january.toml"]
PI = "minisplit.hil.examples.pi:PerRoomPI"


@pytest.fixture(scope="module")
def six_hours(tmp_path_factory):
    text = SCENARIO.read_text().replace("duration_days = 7", "duration_hours = 6")
    path = tmp_path_factory.mktemp("scenario") / "six-hours.toml"
    path.write_text(text)
    return path


def a_config(tmp_path, name, control):
    """The demo config with ``control`` as its [control] table."""
    path = tmp_path / f"{name}.toml"
    path.write_text(config_file("demo").read_text() + "\n[control]\n" + textwrap.dedent(control))
    return path


def bench_json(capsys, *args):
    assert main(["bench", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# ---- --config ----


def test_a_configs_control_table_gives_the_python_routes_figures(six_hours, tmp_path, capsys):
    tuned = a_config(tmp_path, "tuned", "kp = 0.9\nband_offset_k = 0.1\nperiod_s = 20\n")
    doc = bench_json(
        capsys, "--scenario", str(six_hours), "--controller", "minisplit", "--config", str(tuned)
    )
    (scenario,) = doc["scenarios"]
    assert list(scenario["controllers"]) == ["minisplit[tuned]"]
    figures = scenario["controllers"]["minisplit[tuned]"]
    plan = parse_scenario(six_hours.read_text(), str(six_hours))
    control = ControlConfig(kp=0.9, band_offset_k=0.1, period_s=20)
    python = run_minisplit(plan, control=control).metrics.summary(1.0)
    default = run_minisplit(plan).metrics.summary(1.0)
    for summary in (figures, python, default):
        summary.pop("speed_ratio")
        summary.pop("excess_discomfort_kh_per_zone", None)
    assert figures == python
    assert figures != default  # the table was applied


@pytest.mark.parametrize(
    ("control", "says"),
    [
        ("kp = -1\n", "control.kp"),
        ("kpp = 1\n", "control.kpp"),
        ("kp = 'high'\n", "control.kp"),
    ],
)
def test_a_bad_config_is_refused_with_the_config_errors(tmp_path, capsys, control, says):
    bad = a_config(tmp_path, "bad", control)
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--config", str(bad)])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert f"{bad}: configuration has 1 error(s):" in err
    assert says in err


def test_a_missing_config_and_a_third_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--config", str(tmp_path / "none.toml")])
    assert exit_.value.code == 1
    assert "none.toml: configuration has 1 error(s)" in capsys.readouterr().err
    config = str(a_config(tmp_path, "a", "kp = 0.5\n"))
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--config", config, "--config", config, "--config", config])
    assert exit_.value.code == 2
    assert "at most two configs" in capsys.readouterr().err


def test_a_config_without_minisplit_on_the_direct_unit_is_refused(six_hours, tmp_path, capsys):
    config = str(a_config(tmp_path, "a", "kp = 0.5\n"))
    args = ["bench", "--scenario", str(six_hours), "--config", config]
    assert main([*args, "--controller", "onoff"]) == 2
    assert "--config tunes minisplit on the direct unit" in capsys.readouterr().err


def test_what_the_bench_does_not_model_is_said(six_hours, tmp_path, capsys):
    text = config_file("demo").read_text()
    text = text.replace("[mqtt]", "[sensor_check]\nsettle_s = 900\n\n[mqtt]", 1)
    config = tmp_path / "noted.toml"
    config.write_text(text.replace("unit_id = 11\n", "unit_id = 11\nsensor_offset_k = 0.5\n"))
    args = ["bench", "--scenario", str(six_hours), "--controller", "minisplit"]
    assert main([*args, "--config", str(config)]) == 0
    err = capsys.readouterr().err
    assert "[sensor_check] is not modelled" in err
    assert "the zones' sensor_offset_k are not modelled" in err
    assert "setpoint-driven" not in err
    assert main([*args, "--config", "demo-intesis"]) == 0
    err = capsys.readouterr().err
    assert "its heads are setpoint-driven (strategy setpoint)" in err
    assert "not modelled" not in err
    assert main([*args, "--config", "demo-two-systems"]) == 0
    assert "its 2 systems are not modelled" in capsys.readouterr().err


# ---- the A/B table ----


def test_two_configs_give_the_ab_table_over_the_shifted_weeks(six_hours, tmp_path, capsys):
    a = a_config(tmp_path, "calm", "kp = 0.3\n")
    b = a_config(tmp_path, "eager", "kp = 1.2\n[control.presets.eco]\nheat_temperature = 18\n")
    args = ["--scenario", str(six_hours), "--config", str(a), "--config", str(b)]
    weeks = ["--shift-weeks", "0", "--shift-weeks", "1", "--shift-weeks", "2"]
    doc = bench_json(capsys, *args, *weeks)
    # Two configs alone: only minisplit runs, once per config, per week.
    assert [list(s["controllers"]) for s in doc["scenarios"]] == [
        ["minisplit[calm]", "minisplit[eager]"]
    ] * 3
    ab = doc["ab"]
    eco = "presets.eco.heat_temperature"
    assert ab["control_differences"] == {"kp": [0.3, 1.2], eco: [None, 18.0]}
    (name,) = ab["scenarios"]
    per = ab["scenarios"][name]
    assert per["weeks"] == 3
    energy = [
        s["controllers"]["minisplit[eager]"]["energy_kwh"]
        - s["controllers"]["minisplit[calm]"]["energy_kwh"]
        for s in doc["scenarios"]
    ]
    assert per["energy_kwh"]["min"] == pytest.approx(min(energy), abs=1e-3)
    assert per["energy_kwh"]["max"] == pytest.approx(max(energy), abs=1e-3)
    assert per["energy_kwh"]["mean"] == pytest.approx(sum(energy) / 3, abs=1e-3)
    assert min(energy) < max(energy)  # the weeks differ: a spread, not one figure thrice
    main(["bench", *args, *weeks])
    table = capsys.readouterr().out
    assert "[control] keys that differ (A → B):" in table
    assert "    kp: 0.3 → 1.2" in table
    row = next(line for line in table.splitlines() if line.startswith(f"  {name} "))
    assert row.split()[1] == "3" and row.count("[") == 3


# ---- --controller module:attr ----


def test_every_shipped_controller_implements_the_interface(six_hours):
    plan = parse_scenario(six_hours.read_text(), str(six_hours))
    from minisplit.hil.bench import bench_unit
    from minisplit.hil.scenario import build_house

    unit: BenchUnit = bench_unit(build_house(plan), plan.zones, 10.0)
    for controller in (ShippedController(unit), OnOffBaseline({}), PerRoomPI(unit)):
        assert isinstance(controller, DirectController)


def test_the_example_pi_runs_beside_the_built_ins(six_hours, capsys):
    doc = bench_json(capsys, "--scenario", str(six_hours), "--controller", PI)
    (scenario,) = doc["scenarios"]
    assert list(scenario["controllers"]) == ["minisplit", "onoff", "stock", "PerRoomPI", "ideal"]
    pi = scenario["controllers"]["PerRoomPI"]
    assert pi["energy_kwh"] > 0 and pi["compressor_starts"] > 0
    assert pi["excess_discomfort_kh_per_zone"] is not None
    assert set(CONTROLLERS) < set(scenario["controllers"])


@pytest.fixture
def own_module(tmp_path, monkeypatch):
    """A module of the engineer's on the path: one factory that builds no controller, one
    controller whose command the unit refuses."""
    (tmp_path / "own_controllers.py").write_text(
        textwrap.dedent(
            """
            from minisplit.drivers.records import OduCommand
            from minisplit.drivers.vocabulary import OduMode
            from minisplit.hil.controllers import Commands


            def no_step(unit):
                return object()


            def no_unit():
                return object()


            class TooFast:
                def __init__(self, unit):
                    pass

                def step(self, now, reports):
                    return Commands(OduCommand(OduMode.HEAT, 500.0), {})
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("no_such_module:Controller", "cannot import module 'no_such_module'"),
        ("minisplit.hil.examples.pi:Nope", "module 'minisplit.hil.examples.pi' has no attribute"),
        ("minisplit.hil.examples.pi:KP_PER_K", "it is a float, not a controller"),
        ("own_controllers:no_step", "it returned a object, not a controller"),
        ("own_controllers:no_unit", "calling it with a BenchUnit failed (no_unit() takes 0"),
        ("pi:", "not module:attr"),
    ],
)
def test_a_bad_controller_is_refused_before_anything_runs(
    six_hours, own_module, capsys, spec, says
):
    assert main(["bench", "--scenario", str(six_hours), "--controller", spec]) == 2
    err = capsys.readouterr().err
    assert f"minisplit bench: --controller {spec}: {says}" in err
    assert "[1/" not in err  # nothing ran


def test_a_command_the_unit_refuses_stops_the_bench_clearly(six_hours, own_module, capsys):
    args = ["bench", "--scenario", str(six_hours), "--controller", "own_controllers:TooFast"]
    assert main([*args, "--controller", "ideal"]) == 1
    err = capsys.readouterr().err
    assert "TooFast, 0.00 h into unrenovated-january: the unit refused a command" in err
    assert "frequency 500.0 Hz" in err


def test_an_unknown_name_is_still_refused(six_hours, capsys):
    assert main(["bench", "--scenario", str(six_hours), "--controller", "fancy"]) == 2
    assert "unknown controller 'fancy'" in capsys.readouterr().err
