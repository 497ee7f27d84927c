"""A zone's weekly program in the config: read, checked against the zone and its head, shown."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from minisplit.controller.cli import main
from minisplit.controller.config import ConfigError, parse_config
from minisplit.controller.core.schedule import DAY_S, HOUR_S
from minisplit.controller.core.settings import Preset, ZoneMode
from minisplit.controller.schedule_config import weekly_schedule
from tests.fixtures.profiles import head_text

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config" / "example.toml").read_text()
# The bedroom (zones[2]) with a program: weekday mornings warm, every night cool.
PROGRAM = """default_temperature = 19.0

[[zones.schedule]]
at = "06:30"
days = ["mon", "tue", "wed", "thu", "fri"]
mode = "heat"
temperature = 21

[[zones.schedule]]
at = "22:00"
mode = "heat"
temperature = 17.5
preset = "sleep"
"""
WITH_PROGRAM = EXAMPLE.replace("default_temperature = 19.0\n", PROGRAM, 1)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "test.toml")
    return err.value.problems


def test_a_zone_carries_its_weekly_program():
    zones = {zone.id: zone for zone in parse_config(WITH_PROGRAM, "test.toml").config.zones}
    assert zones["living"].schedule == []
    schedule = weekly_schedule(zones["bedroom"].schedule)
    tuesday_morning = schedule.at(DAY_S + 7 * HOUR_S)
    assert (tuesday_morning.mode, tuesday_morning.target_temperature) == (ZoneMode.HEAT, 21.0)
    saturday_morning = schedule.at(5 * DAY_S + 7 * HOUR_S)  # Friday night's point still holds
    assert (saturday_morning.target_temperature, saturday_morning.preset) == (17.5, Preset.SLEEP)


@pytest.mark.parametrize(
    ("change", "key", "why"),
    [
        (('at = "06:30"', 'at = "6:30"'), "schedule[0].at", "not a time of day: write HH:MM"),
        (('at = "22:00"', 'at = "24:00"'), "schedule[1].at", "not a time of day"),
        (('"thu", "fri"]', '"thu", "fr"]'), "schedule[0].days[4]", "'mon', 'tue'"),
        (("temperature = 17.5", "tempreature = 17.5"), "schedule[1].tempreature", "unknown key"),
        (('mode = "heat"\ntemperature = 21', "temperature = 21"), "schedule[0].mode", "missing"),
        (('mode = "heat"\ntemperature = 21', 'mode = "warm"'), "schedule[0].mode", "'heat_cool'"),
    ],
)
def test_a_bad_switch_point_is_refused_by_its_key(change, key, why):
    [problem] = problems(WITH_PROGRAM.replace(*change))
    assert f"zones[2].{key}" in problem and why in problem, problem


def test_a_setpoint_outside_the_zones_range_is_refused():
    text = WITH_PROGRAM.replace("temperature = 21\n", "temperature = 31\n")
    [problem] = problems(text)
    assert "zones[2].schedule[0].temperature: 31 °C is outside the zone's range 16..30" in problem
    # A default the point did not write is named as one (a zone that stops at 23 °C).
    narrow = WITH_PROGRAM.replace(
        "default_temperature = 19.0\n", "default_temperature = 19.0\nmax_temperature = 23.0\n"
    )
    found = problems(narrow)
    assert len(found) == 2, found  # both points' temperature_high
    assert "schedule[0].temperature_high: 24 °C (the default) is outside" in found[0]
    assert "range 17..23 °C" in found[0]


def test_a_heat_cool_band_narrower_than_the_deadband_is_refused():
    text = WITH_PROGRAM.replace(
        'mode = "heat"\ntemperature = 21',
        'mode = "heat_cool"\ntemperature_low = 21\ntemperature_high = 21.5',
    )
    [problem] = problems(text)
    assert "zones[2].schedule[0]" in problem and "by at least 1 K" in problem, problem


def _heat_only_house(tmp_path: Path, program: str) -> Path:
    (tmp_path / "head.toml").write_text(head_text('{ 1 = "heat", 3 = "fan_only" }'))
    without_odu = re.sub(r"\[outdoor_unit\][^[]*", "", program)
    config = tmp_path / "house.toml"
    config.write_text(re.sub(r"(unit_id = 1[1-4]\n)", r'\1profile = "head.toml"\n', without_odu))
    return config


def test_check_config_refuses_a_mode_the_head_cannot_run(tmp_path, capsys):
    cooling = WITH_PROGRAM.replace('at = "22:00"\nmode = "heat"', 'at = "22:00"\nmode = "cool"')
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(_heat_only_house(tmp_path, cooling))])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert (
        "zones[2].schedule[1].mode: 'cool' is not a mode the head runs (off, heat, fan_only)"
    ) in err
    assert main(["check-config", str(_heat_only_house(tmp_path, WITH_PROGRAM))]) == 0


def test_check_config_prints_each_zones_program(tmp_path, capsys):
    config = tmp_path / "house.toml"
    config.write_text(
        WITH_PROGRAM.replace(
            'preset = "sleep"\n',
            'preset = "sleep"\n\n[[zones.schedule]]\nat = "09:00"\ndays = ["sat", "sun"]\n'
            'mode = "heat_cool"\ntemperature_low = 20.5\ntemperature_high = 25\nfan = "low"\n',
            1,
        )
    )
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    bedroom = out[out.index("zone bedroom") : out.index("zone office")]
    assert "program: 06:30 mon,tue,wed,thu,fri: heat 21 °C\n" in bedroom
    assert "program: 22:00 every day: heat 17.5 °C preset sleep\n" in bedroom
    assert "program: 09:00 sat,sun: heat_cool 20.5-25 °C fan low\n" in bedroom
    assert out.count("program:") == 3


def test_the_example_configs_commented_program_is_a_valid_one():
    text = re.sub(
        r"^# (\[\[zones\.schedule\]\]|at =|days =|mode =|temperature =|preset =)",
        r"\1",
        EXAMPLE,
        flags=re.MULTILINE,
    )
    office = parse_config(text, "example.toml").config.zones[3]
    assert [point.summary() for point in office.schedule] == [
        "06:30 mon,tue,wed,thu,fri: heat 21 °C",
        "22:00 every day: heat 18 °C preset sleep",
    ]
