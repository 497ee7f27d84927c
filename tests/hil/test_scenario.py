"""Benchmark scenarios: the schema, the shipped files, and whether each is physically sensible."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from pathlib import Path

import pytest

from minisplit.controller.core.settings import ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import apply_zone
from minisplit.drivers.textfile import parse_toml, read_text
from minisplit.drivers.vocabulary import HeadMode, OduMode
from minisplit.hil.heatpump import SENSIBLE_HEAT_RATIO, capacity_per_hz
from minisplit.hil.plant import Plant
from minisplit.hil.scenario import (
    Scenario,
    ScenarioError,
    ScenarioFile,
    build_house,
    load_scenario,
    parse_scenario,
    scenario_file,
    shipped_scenarios,
)
from minisplit.hil.weather import DAY_S, HOUR_S, time_of_year

SHIPPED = {path.stem: path for path in shipped_scenarios()}
TMY3 = Path(__file__).parents[2] / "minisplit" / "hil" / "weather" / "greensboro-723170-tmy3.csv"

MINIMAL = """
name = "tiny"

[weather]
start = "01-08 00:00"
duration_hours = 48

[building]
construction = "unrenovated"

[[building.rooms]]
id = "living"
area_m2 = 30.0

[[building.rooms]]
id = "hall"
area_m2 = 8.0
head_w = 0

[[building.adjacency]]
rooms = ["living", "hall"]
wall_area_m2 = 6.0

[[schedules.living]]
at = "06:30"
mode = "heat"
temperature = 21.0

[[schedules.living]]
at = "22:00"
days = ["mon", "tue", "wed", "thu", "fri"]
mode = "heat"
temperature = 18.0

[[schedules.living]]
at = "10:00"
days = ["sat", "sun"]
mode = "heat_cool"
temperature_low = 20.0
temperature_high = 23.0

[[disturbances]]
room = "hall"
start = "07:40"
days = ["mon"]
duration_minutes = 10
conductance_w_per_k = 150.0

[[disturbances]]
room = "living"
start = "01-09 18:00"
duration_minutes = 60
gains_w = 400.0
"""


# ---- the shipped files ----


def test_the_issue_s_scenarios_are_shipped():
    assert set(SHIPPED) == {
        "renovated-january",
        "unrenovated-january",
        "unrenovated-shoulder",
        "unrenovated-july",
        "mixed-april",
        "eight-zone-january",
    }


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_shipped_scenario_loads_and_runs(name):
    scenario = load_scenario(SHIPPED[name])
    assert scenario.name == name
    assert scenario.description
    assert scenario.duration_s == 7 * DAY_S
    assert 4 <= len(scenario.zones) <= scenario.ratings.max_heads
    house = build_house(scenario)
    assert house.time_s == scenario.start_s
    assert house.zones == scenario.zones
    for zone in scenario.zones:
        settings = scenario.settings_at(zone, scenario.start_s)
        assert settings.mode is not ZoneMode.OFF
        assert abs(house.room_air(zone) - settings.target_temperature) < 3.0
    house.step(3600.0)
    assert all(5.0 < house.room_air(zone) < 35.0 for zone in scenario.zones)


def test_a_shipped_scenario_is_named_from_any_directory(tmp_path, monkeypatch):
    """`--scenario renovated-january` works outside the repository and from an installed
    package, where no scenarios/ folder lies beside the working directory."""
    monkeypatch.chdir(tmp_path)
    assert scenario_file("renovated-january") == SHIPPED["renovated-january"]
    assert scenario_file("mixed-april.toml") == SHIPPED["mixed-april"]
    own = tmp_path / "mixed-april.toml"  # a file of that name here is the user's: it wins
    own.write_text(MINIMAL)
    assert scenario_file("mixed-april.toml") == Path("mixed-april.toml")
    # A path with folders is a path: never swapped for a shipped file of the same name.
    assert scenario_file("elsewhere/renovated-january.toml") == Path(
        "elsewhere/renovated-january.toml"
    )
    with pytest.raises(ScenarioError, match=r"nor is it a shipped scenario: .*renovated-january"):
        load_scenario(scenario_file("renovated-janury"))


def test_weeks_are_the_ones_their_comments_claim():
    hourly = _tmy3_temperatures()

    def degree_hours(start: date, base: float, heating: bool) -> float:
        first = (start - date(2001, 1, 1)).days * 24
        week = hourly[first : first + 168]
        return sum(max(0.0, base - t) if heating else max(0.0, t - base) for t in week)

    mondays = [date(2001, 1, 1) + timedelta(weeks=k) for k in range(52)]
    coldest = max(mondays, key=lambda d: degree_hours(d, 18.0, True))
    hottest = max(mondays, key=lambda d: degree_hours(d, 24.0, False))
    for name in ("renovated-january", "unrenovated-january", "eight-zone-january"):
        assert load_scenario(SHIPPED[name]).start_s == _seconds(coldest)
    assert load_scenario(SHIPPED["unrenovated-july"]).start_s == _seconds(hottest)
    # The shoulder week: the most heating degree-hours among the weeks wholly in March, April,
    # October or November.
    shoulder = [
        d for d in mondays if d.month in (3, 4, 10, 11) and (d + timedelta(days=6)).month == d.month
    ]
    chosen = max(shoulder, key=lambda d: degree_hours(d, 18.0, True))
    assert chosen == date(2001, 3, 19)
    assert degree_hours(chosen, 18.0, True) == pytest.approx(1504, abs=1)
    assert load_scenario(SHIPPED["unrenovated-shoulder"]).start_s == _seconds(chosen)
    assert load_scenario(SHIPPED["mixed-april"]).start_s == _seconds(date(2001, 4, 16))


def _tmy3_temperatures() -> list[float]:
    with TMY3.open(encoding="utf-8") as f:
        return [float(row["dry_bulb_c"]) for row in csv.DictReader(f)]


def _seconds(day: date) -> float:
    return time_of_year(day.month, day.day)


# ---- physical sense: can the unit hold the setpoints? ----


def band_loads(scenario: Scenario, dt: float = 300.0) -> list[tuple[float, dict[str, float]]]:
    """Hour by hour: the outdoor temperature and the mean heat each zone needs to stay in its
    comfort band (setpoint ± 0.5 K, heat_cool: [low − 0.5, high + 0.5]); what `ideal` needs."""
    plant = Plant(scenario.building, scenario.weather(), scenario.start_s, scenario.ratings)
    per_hour = round(HOUR_S / dt)
    hours: list[tuple[float, dict[str, float]]] = []
    outdoor = 0.0
    sums = dict.fromkeys(scenario.zones, 0.0)
    for step in range(round(scenario.duration_s / dt)):
        bands = {}
        for zone in scenario.zones:
            s = scenario.settings_at(zone, plant.time_s)
            if s.mode is ZoneMode.HEAT:
                bands[zone] = (s.target_temperature - 0.5, 99.0)
            elif s.mode is ZoneMode.COOL:
                bands[zone] = (-99.0, s.target_temperature + 0.5)
            else:
                bands[zone] = (s.target_temperature_low - 0.5, s.target_temperature_high + 0.5)
        for zone, q in plant.step_held(dt, bands).items():
            sums[zone] += q / per_hour
        outdoor += plant.outdoor_c / per_hour
        if (step + 1) % per_hour == 0:
            hours.append((outdoor, sums))
            outdoor, sums = 0.0, dict.fromkeys(scenario.zones, 0.0)
    return hours


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_the_unit_can_hold_every_scenario(name):
    """The peak hourly load stays within ~80 % of what the unit gives at full speed then, and
    each room's within what its head can pass: otherwise no controller could keep the band and
    the benchmark would measure nothing."""
    scenario = load_scenario(SHIPPED[name])
    r = scenario.ratings
    heating = cooling = 0.0
    for outdoor_c, loads in band_loads(scenario):
        heat = sum(q for q in loads.values() if q > 0)
        cool = -sum(q for q in loads.values() if q < 0)
        heating = max(heating, heat / (r.max_hz * capacity_per_hz(r, OduMode.HEAT, outdoor_c)))
        sensible = SENSIBLE_HEAT_RATIO[HeadMode.COOL]
        cooling = max(
            cooling, cool / (sensible * r.max_hz * capacity_per_hz(r, OduMode.COOL, outdoor_c))
        )
        for zone, q in loads.items():
            head_w = scenario.heads[zone].rated_w * r.head_overload
            assert q < 0.8 * head_w and -q < 0.9 * sensible * head_w, (zone, q)
    assert heating <= 0.80 and cooling <= 0.80
    assert max(heating, cooling) > 0.25  # and it is not trivially small either


def test_the_mixed_week_needs_heat_and_cooling():
    scenario = load_scenario(SHIPPED["mixed-april"])
    hours = band_loads(scenario)
    heat_cool = [
        z for z in scenario.zones if scenario.settings_at(z, 0.0).mode is ZoneMode.HEAT_COOL
    ]
    assert sorted(heat_cool) == ["living", "office"]
    for zone in heat_cool:
        assert sum(1 for _, q in hours if q[zone] < -50) > 30  # h of cooling
    for zone in ("kitchen", "bedroom"):
        assert sum(1 for _, q in hours if q[zone] > 50) > 20  # h of heating
    both = sum(
        1
        for _, q in hours
        if any(q[z] < -50 for z in heat_cool) and any(q[z] > 50 for z in ("kitchen", "bedroom"))
    )
    assert both >= 10


# ---- schedules and disturbances ----


def test_settings_follow_the_switch_points_by_weekday():
    scenario = parse_scenario(MINIMAL)
    monday = time_of_year(1, 8)  # a Monday
    at = scenario.settings_at
    assert at("living", monday + 7 * HOUR_S).target_temperature == 21.0
    assert at("living", monday + 23 * HOUR_S).target_temperature == 18.0
    # Before Monday's first switch point, Sunday's last one holds (the week wraps).
    sunday_late = at("living", monday + 3 * HOUR_S)
    assert sunday_late.mode is ZoneMode.HEAT_COOL
    assert (sunday_late.target_temperature_low, sunday_late.target_temperature_high) == (20, 23)
    saturday = monday + 5 * DAY_S
    assert at("living", saturday + 8 * HOUR_S).target_temperature == 21.0
    assert at("living", saturday + 11 * HOUR_S).mode is ZoneMode.HEAT_COOL
    assert at("living", saturday + 11 * HOUR_S).last_on_mode is ZoneMode.HEAT_COOL
    assert at("living", monday + 7 * DAY_S + 23 * HOUR_S).target_temperature == 18.0
    with pytest.raises(KeyError, match="hall"):
        at("hall", monday)


def test_every_shipped_switch_point_gives_the_settings_it_names():
    """A switch point is made of the transitions a homeowner would send; whatever their
    rules (a setpoint ends a preset, the deadband pushes), the zone ends as the file says."""
    for path in shipped_scenarios():
        spec = ScenarioFile.model_validate(parse_toml(read_text(path)))
        for zone, points in spec.schedules.items():
            for point in points:
                settings = apply_zone(ZoneSettings(), *point.transitions())
                assert (
                    settings.mode,
                    settings.target_temperature,
                    settings.target_temperature_low,
                    settings.target_temperature_high,
                    settings.fan_mode,
                    settings.preset,
                ) == (
                    point.mode,
                    point.temperature,
                    point.temperature_low,
                    point.temperature_high,
                    point.fan,
                    point.preset,
                ), (path.name, zone, point)
                running = point.mode is not ZoneMode.OFF
                assert settings.last_on_mode is (point.mode if running else ZoneMode.HEAT)


def test_disturbances_happen_within_the_scenario():
    scenario = parse_scenario(MINIMAL)
    events = sorted(scenario.building.disturbances, key=lambda e: e.start_s)
    monday = time_of_year(1, 8)
    assert [(e.room, e.start_s, e.end_s) for e in events] == [
        ("hall", monday + 7 * HOUR_S + 40 * 60, monday + 7 * HOUR_S + 50 * 60),
        ("living", time_of_year(1, 9, 18), time_of_year(1, 9, 19)),
    ]


def test_scenario_builds_its_building():
    scenario = parse_scenario(MINIMAL)
    assert scenario.zones == ("living",)
    assert set(scenario.heads) == {"living"}
    hall = scenario.building.room("hall").params
    assert hall.loss_coefficient_w_per_k == pytest.approx(8.0 * 1.782, rel=0.01)
    assert scenario.building.adjacency[0].conductance_w_per_k == pytest.approx(12.0)
    assert scenario.duration_s == 48 * HOUR_S
    assert scenario.end_s == scenario.start_s + scenario.duration_s
    overrides = 'envelope_outdoor_w_per_k = 99.0\nconstruction = "renovated"'
    explicit = parse_scenario(
        MINIMAL.replace(
            'id = "living"\narea_m2 = 30.0', f'id = "living"\narea_m2 = 30.0\n{overrides}'
        )
    )
    living = explicit.building.room("living").params
    assert living.envelope_outdoor_w_per_k == 99.0
    assert living.interior_outdoor_w_per_k == pytest.approx(0.26 * 30.0)


# ---- rejections name the key ----


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("[weather]", "colour = 1\n[weather]"), "colour: unknown key"),
        (("area_m2 = 30.0", "area_m2 = 30.0\nareaa = 3"), "building.rooms[0].areaa: unknown key"),
        (("temperature = 21.0", "temperature = 21.0\ntemp = 3"), "schedules.living[0].temp"),
        (('start = "01-08 00:00"\n', ""), "weather.start: required key is missing"),
        (('at = "06:30"', 'at = "25:00"'), "schedules.living[0].at"),
        (("area_m2 = 30.0", "area_m2 = -1"), "building.rooms[0].area_m2"),
        (('mode = "heat"', 'mode = "warm"'), "schedules.living[0].mode"),
        (('days = ["mon"]', 'days = ["moon"]'), "disturbances[0].days[0]"),
        (('rooms = ["living", "hall"]', 'rooms = ["living", "attic"]'), "no room 'attic'"),
        (("duration_hours = 48", "duration_hours = 48\nduration_days = 2"), "exactly one"),
        (('start = "07:40"', 'start = "7:40"'), "neither HH:MM"),
        (
            (
                "[[schedules.living]]",
                "[[schedules.hall]]\nat = '00:00'\nmode = 'heat'\n\n[[schedules.living]]",
            ),
            "schedules.hall",
        ),
        (
            ("temperature_low = 20.0", "temperature_low = 24.0"),
            "temperature_low 24.0 must be below",
        ),
        (
            # Narrower than the controller's heat_cool deadband: it would push them apart.
            ("temperature_low = 20.0", "temperature_low = 22.5"),
            "temperature_low 22.5 must be below temperature_high 23.0 by at least 1 K",
        ),
        (('name = "tiny"', 'name = "tiny"\n[unit]\nmin_hz = 95'), "min_hz 95.0 must be below"),
    ],
)
def test_rejections_name_the_key(change, message):
    old, new = change
    assert old in MINIMAL
    with pytest.raises(ScenarioError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_scenario(MINIMAL.replace(old, new, 1), "tiny.toml")


def test_a_zone_without_schedule_and_bad_files_are_refused(tmp_path):
    text = MINIMAL.replace("head_w = 0", "head_w = 1500")
    with pytest.raises(ScenarioError, match="zones without a schedule: hall"):
        parse_scenario(text)
    with pytest.raises(ScenarioError, match="not valid TOML"):
        parse_scenario("name = ")
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    with pytest.raises(ScenarioError, match=r"weather\.file"):
        parse_scenario(
            MINIMAL.replace("[weather]", '[weather]\nfile = "nowhere.csv"'), base_dir=tmp_path
        )


def test_a_scenario_file_is_read_as_configs_are(tmp_path):
    # The config's reader: a directory is refused unread, bytes must be UTF-8, and tomllib's
    # own failures (too deep, too many digits) are one line.
    with pytest.raises(ScenarioError, match="it is a directory, not a regular file"):
        load_scenario(tmp_path)
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(MINIMAL.replace('name = "tiny"', 'name = "t\xe9"').encode("latin-1"))
    with pytest.raises(ScenarioError, match="not UTF-8 text: byte 0xe9"):
        load_scenario(latin1)
    with pytest.raises(ScenarioError, match="nested too deeply"):
        parse_scenario("x = " + "[" * 3000 + "]" * 3000)


def test_a_scenario_may_bring_its_own_weather_file(tmp_path):
    (tmp_path / "weather.csv").write_text(TMY3.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "s.toml").write_text(
        MINIMAL.replace("[weather]", '[weather]\nfile = "weather.csv"'), encoding="utf-8"
    )
    scenario = load_scenario(tmp_path / "s.toml")
    assert scenario.weather_path == tmp_path / "weather.csv"
    assert scenario.weather().temperature(1e6) == pytest.approx(
        load_scenario(SHIPPED["renovated-january"]).weather().temperature(1e6)
    )


def test_settings_hold_until_the_next_switch_point():
    scenario = parse_scenario(MINIMAL)
    schedule = scenario.schedules["living"]
    monday = time_of_year(1, 8)
    for t in (monday, monday + 3 * HOUR_S, monday + 6.5 * HOUR_S, monday + 5 * DAY_S + 23 * HOUR_S):
        settings, until = schedule.span(t)
        assert settings is schedule.at(t)
        assert until > t
        assert (until - monday) % (7 * DAY_S) in schedule.times  # a switch point, next week too
        for later in (t + 1.0, (t + until) / 2, until - 1e-6):
            assert schedule.at(later) is settings
        assert schedule.at(until) is not settings
    every, until = scenario.settings_span(monday + 3 * HOUR_S)
    assert every == {"living": scenario.settings_at("living", monday + 3 * HOUR_S)}
    assert until == monday + 6.5 * HOUR_S


def test_a_scenario_shifted_by_whole_weeks_keeps_its_programme_in_other_weather():
    text = SHIPPED["mixed-april"].read_text()
    week = parse_scenario(text, "mixed-april")
    later = parse_scenario(text, "mixed-april", shift_weeks=2)
    earlier = parse_scenario(text, "mixed-april", shift_weeks=-1)
    assert (later.name, earlier.name) == ("mixed-april+2w", "mixed-april-1w")
    assert later.start_s == week.start_s + 14 * DAY_S
    assert earlier.start_s == week.start_s - 7 * DAY_S
    assert later.duration_s == week.duration_s
    # The same weekday, the same settings, hour by hour; the weather is another week's.
    for hour in range(0, 7 * 24, 5):
        for zone in week.zones:
            t = hour * HOUR_S
            assert later.settings_at(zone, later.start_s + t) == week.settings_at(
                zone, week.start_s + t
            )
    weather = week.weather()
    assert weather.at(later.start_s + 12 * HOUR_S) != weather.at(week.start_s + 12 * HOUR_S)


@pytest.mark.parametrize("weeks", [40, -20])
def test_a_shift_out_of_the_weather_year_is_refused(weeks):
    with pytest.raises(ScenarioError, match="leaves the weather year"):
        parse_scenario(SHIPPED["mixed-april"].read_text(), "mixed-april", shift_weeks=weeks)
