"""Config validation: every rejection names the key path (and line) and the bad value."""

import os
from pathlib import Path

import pytest

from minisplit.controller.config import (
    ConfigError,
    config_file,
    load_config,
    parse_config,
    shipped_configs,
)
from minisplit.controller.tuning import control_tuning_from

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config" / "example.toml").read_text()
# The line of a table appended to EXAMPLE after an empty line.
AFTER_EXAMPLE = EXAMPLE.count("\n") + 2


@pytest.mark.parametrize("name", ["example.toml", "demo.toml"])
def test_shipped_configs_load(name):
    loaded = load_config(ROOT / "config" / name)
    assert len(loaded.config.zones) == 4
    assert loaded.odu_profile is not None and loaded.odu_profile.name == "reference-odu"


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "test.toml")
    return info.value.problems


def test_unknown_key_is_an_error_with_line():
    found = problems(EXAMPLE.replace('parity = "E"', 'parity = "E"\nparrity = "E"'))
    assert any("buses.rs485.parrity: unknown key" in p and p.startswith("line 12:") for p in found)


def test_bad_value_names_path_and_value():
    found = problems(EXAMPLE.replace("unit_id = 13", "unit_id = 300"))
    assert any("zones[2].unit_id" in p and "300" in p for p in found)


def test_bad_baudrate():
    found = problems(EXAMPLE.replace("baudrate = 19200", "baudrate = 19201"))
    assert any("buses.rs485.baudrate" in p and "19201" in p for p in found)


def test_failed_polls_tolerated_per_bus_is_bounded():
    assert parse_config(EXAMPLE, "test.toml").config.buses["rs485"].failed_polls_tolerated == 1
    line = "retries = 2"
    tolerant = EXAMPLE.replace(line, f"{line}\nfailed_polls_tolerated = 3")
    assert parse_config(tolerant, "test.toml").config.buses["rs485"].failed_polls_tolerated == 3
    found = problems(EXAMPLE.replace(line, f"{line}\nfailed_polls_tolerated = 11"))
    assert any("buses.rs485.failed_polls_tolerated" in p and "11" in p for p in found)


def test_duplicate_unit_id_on_one_bus():
    found = problems(EXAMPLE.replace("unit_id = 14", "unit_id = 13"))
    assert any("share unit id 13" in p for p in found)


def test_undefined_bus():
    found = problems(EXAMPLE.replace('bus = "rs485"\nunit_id = 12', 'bus = "rs458"\nunit_id = 12'))
    assert any("bus 'rs458' is not defined" in p for p in found)


def test_duplicate_zone_id():
    found = problems(EXAMPLE.replace('id = "office"', 'id = "kitchen"'))
    assert any("zone id 'kitchen' appears twice" in p for p in found)


def test_setpoint_limits_inverted():
    text = EXAMPLE.replace(
        'id = "office"', 'id = "office"\nmin_temperature = 28.0\nmax_temperature = 20.0'
    )
    assert any("min_temperature 28.0 must be below" in p for p in problems(text))


def test_unknown_profile():
    text = EXAMPLE.replace('profile = "reference-odu"', 'profile = "no-such-unit"')
    assert any("outdoor_unit.profile" in p and "no-such-unit" in p for p in problems(text))


def test_profile_of_the_wrong_kind():
    text = EXAMPLE.replace('profile = "reference-odu"', 'profile = "reference-head"')
    assert any("describes a indoor_head" in p for p in problems(text))


def test_invalid_toml_reports_line():
    assert any("line" in p and "not valid TOML" in p for p in problems("controller_id = \n"))


def test_missing_required_key():
    text = EXAMPLE.replace('controller_id = "house"', "")
    assert any("controller_id: required key is missing" in p for p in problems(text))


def test_bad_identifier():
    text = EXAMPLE.replace('controller_id = "house"', 'controller_id = "My House!"')
    assert any("controller_id" in p and "My House!" in p for p in problems(text))


def test_config_without_mqtt_is_valid():
    start = EXAMPLE.index("[mqtt]")
    loaded = parse_config(EXAMPLE[:start], "no-mqtt.toml")
    assert loaded.config.mqtt is None


def test_profile_from_a_file_next_to_the_config(tmp_path):
    profile = (ROOT / "config" / "profiles" / "reference-head.toml").read_text()
    (tmp_path / "my-head.toml").write_text(profile.replace('"reference-head"', '"my-head"'))
    config = tmp_path / "site.toml"
    config.write_text(EXAMPLE.replace("unit_id = 14", 'unit_id = 14\nprofile = "my-head.toml"'))
    loaded = load_config(config)
    assert loaded.head_profile(loaded.config.zone("office")).name == "my-head"


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")


# ---- [sensor_check]: when a room sensor is implausible (controller.core.sensor_health) ----


def test_sensor_check_defaults_and_its_own_values():
    assert parse_config(EXAMPLE, "t.toml").config.sensor_check.stuck_full_demand_s == 7200.0
    text = EXAMPLE + "\n[sensor_check]\nmax_temperature = 45.0\nstuck_switches = 4\n"
    check = parse_config(text, "t.toml").config.sensor_check
    assert (check.max_temperature, check.stuck_switches) == (45.0, 4)


def test_sensor_check_rejects_an_inverted_range_and_unknown_keys():
    found = problems(EXAMPLE + "\n[sensor_check]\nmin_temperature = 30.0\nmax_temperature = 20.0\n")
    assert any(p.startswith("line") and "sensor_check" in p and "below" in p for p in found)
    found = problems(EXAMPLE + "\n[sensor_check]\nstuck_after_s = 60\n")
    assert any("sensor_check.stuck_after_s: unknown key" in p for p in found)


def test_defrost_lift_reaches_the_control_tuning_and_is_bounded():
    text = EXAMPLE + "\n[control]\ndefrost_lift_k = 0.2\ndefrost_lead_s = 1800\n"
    frost = control_tuning_from(parse_config(text, "t.toml").config.control).frost
    assert (frost.lift_k, frost.lead_s) == (0.2, 1800.0)
    found = problems(EXAMPLE + "\n[control]\ndefrost_lift_k = 0.8\n")
    assert any("control.defrost_lift_k" in p and "0.8" in p for p in found)


def test_optimal_start_reaches_the_control_tuning_and_is_checked():
    text = EXAMPLE + "\n[control]\noptimal_start = false\noptimal_start_max_lead_s = 5400\n"
    start = control_tuning_from(parse_config(text, "t.toml").config.control).start
    assert (start.enabled, start.max_lead_s) == (False, 5400.0)
    assert control_tuning_from(parse_config(EXAMPLE, "t.toml").config.control).start.enabled
    found = problems(EXAMPLE + '\n[control]\noptimal_start = "soon"\n')
    assert any("control.optimal_start" in p and "boolean" in p for p in found)
    found = problems(EXAMPLE + "\n[control]\noptimal_start_max_lead_s = 60\n")
    assert any("control.optimal_start_max_lead_s" in p and "600" in p for p in found)


def test_forecast_use_reaches_the_control_tuning_and_is_checked():
    assert control_tuning_from(parse_config(EXAMPLE, "t.toml").config.control).forecast.enabled
    text = EXAMPLE + "\n[control]\nforecast = false\n"
    assert not control_tuning_from(parse_config(text, "t.toml").config.control).forecast.enabled
    found = problems(EXAMPLE + '\n[control]\nforecast = "sunny"\n')
    assert any("control.forecast" in p and "boolean" in p for p in found)


def test_the_site_is_read_and_checked_by_key():
    assert parse_config(EXAMPLE, "t.toml").config.site is None
    site = parse_config(EXAMPLE + "\n[site]\nlatitude = 47.4\nlongitude = 8.5\n", "t.toml")
    assert site.config.site is not None
    assert (site.config.site.latitude, site.config.site.longitude) == (47.4, 8.5)
    for table, key, said in [
        ("latitude = 91.0\nlongitude = 8.5", "site.latitude", "90"),
        ("latitude = 47.4\nlongitude = -181.0", "site.longitude", "-180"),
        ("latitude = nan\nlongitude = 8.5", "site.latitude", "finite"),
        ('latitude = "47.4"\nlongitude = 8.5', "site.latitude", "number"),
        ("latitude = 47.4", "site.longitude", "missing"),
        ("latitude = 47.4\nlongitude = 8.5\naltitude = 400", "site.altitude", ""),
    ]:
        found = problems(EXAMPLE + f"\n[site]\n{table}\n")
        assert any(key in p and said in p for p in found), (table, found)


def test_idle_cooling_head_choice_reaches_the_tuning_and_is_checked():
    tuning = control_tuning_from(parse_config(EXAMPLE, "t.toml").config.control)
    assert tuning.idle_cooling_off
    text = EXAMPLE + '\n[control]\nidle_cooling_head = "quiet"\n'
    assert not control_tuning_from(parse_config(text, "t.toml").config.control).idle_cooling_off
    found = problems(EXAMPLE + '\n[control]\nidle_cooling_head = "low"\n')
    assert any("control.idle_cooling_head" in p and "low" in p for p in found)


# ---- files that are not a config: one line naming the file, never a traceback or a hang ----


def test_a_config_that_is_not_utf8_is_refused(tmp_path):
    config = tmp_path / "latin1.toml"
    config.write_bytes(EXAMPLE.replace("Living room", "Séjour").encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.source == str(config)
    assert info.value.problems == ["not UTF-8 text: byte 0xe9 on line 25"]


def test_arrays_nested_deeper_than_python_recurses_are_refused():
    found = problems('controller_id = "h"\nx = ' + "[" * 3000 + "]" * 3000 + "\n")
    assert found == ["not valid TOML: arrays or tables nested too deeply"]


def test_an_integer_beyond_pythons_digit_limit_is_refused_with_its_line():
    found = problems('controller_id = "h"\nx = ' + "9" * 5000 + "\n")
    assert found == ["not valid TOML: an integer longer than 4300 digits (line 2)"]


def test_a_long_value_is_cut_short_in_the_message():
    (found,) = problems(EXAMPLE.replace("unit_id = 13", "unit_id = " + "9" * 4000))
    assert found.startswith("line 45: zones[2].unit_id: Input should be less than or equal")
    assert len(found) < 200


def test_a_config_larger_than_a_mebibyte_is_refused_unread(tmp_path):
    config = tmp_path / "huge.toml"
    config.write_text(EXAMPLE + "#" * (1 << 20) + "\n")
    with pytest.raises(ConfigError, match="larger than 1048576 bytes"):
        load_config(config)


def test_a_directory_as_profile_is_refused(tmp_path):
    # Devices and FIFOs too, unread: see test_cli (without the check, they hang a process).
    text = EXAMPLE.replace('profile = "reference-odu"', f'profile = "{tmp_path}"')
    assert problems(text) == [
        f"line 21: outdoor_unit.profile: {tmp_path}: cannot read: it is a directory, "
        "not a regular file"
    ]


def test_a_profile_that_is_not_utf8_is_refused(tmp_path):
    profile = (ROOT / "config" / "profiles" / "reference-head.toml").read_text()
    (tmp_path / "head.toml").write_bytes(profile.replace("head", "tête").encode("latin-1"))
    config = tmp_path / "site.toml"
    config.write_text(EXAMPLE.replace("unit_id = 14", 'unit_id = 14\nprofile = "head.toml"'))
    with pytest.raises(ConfigError) as info:
        load_config(config)
    (found,) = info.value.problems
    assert found.startswith(f"line 53: zones[3].profile: {tmp_path / 'head.toml'}: not UTF-8")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('""', "must name a file, not be empty"),
        ('"/"', "names a directory, not a file"),
        ('"/var/lib/minisplit/"', "names a directory, not a file"),
        ('"/tmp/a\\u0000b"', "must not contain a NUL character"),
        ('"/tmp"', "/tmp is a directory; name a file in it, e.g. /tmp/state.json"),
        ("5", "Input is not a valid path"),
    ],
)
def test_a_state_file_that_cannot_be_a_file_is_refused(value, message):
    text = EXAMPLE.replace('"/var/lib/minisplit/state.json"', value)
    (found,) = problems(text)
    assert found.startswith(f"line 5: state_file: {message}")


def test_a_state_file_under_a_plain_file_is_refused(tmp_path):
    (tmp_path / "plain").write_text("")
    inside = tmp_path / "plain" / "state.json"
    text = EXAMPLE.replace("/var/lib/minisplit/state.json", str(inside))
    assert problems(text) == [
        f"line 5: state_file: {tmp_path / 'plain'} is not a directory, so {inside} cannot be "
        "created"
    ]


@pytest.mark.parametrize("make", [os.mkfifo, None])
def test_a_state_file_that_is_a_fifo_or_device_is_refused(tmp_path, make):
    """The controller renames a new file over its state file at each save: over a FIFO, or
    as root over /dev/null, which it replaced with a regular file."""
    path = tmp_path / "fifo" if make else Path("/dev/null")
    if make:
        make(path)
    text = EXAMPLE.replace("/var/lib/minisplit/state.json", str(path))
    assert problems(text) == [
        f"line 5: state_file: {path} is a device, FIFO or socket, not a regular file; name a "
        "new file"
    ]


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("/var/lib/minisplit/state.json", "/tmp/" + "y" * 5000, "line 5: state_file"),
        ('profile = "reference-odu"', 'profile = "' + "y" * 5000 + '"', "line 21: outdoor_unit"),
    ],
)
def test_a_file_name_too_long_is_one_error(old, new, key):
    """The filesystem's limit on a name ended check-config in a traceback."""
    (found,) = problems(EXAMPLE.replace(old, new))
    assert found.startswith(key) and found.endswith("File name too long")


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("unit_id = 14", 'unit_id = 14\nremote_sensor_topic = "a/' + "x" * 70_000 + '"'),
        ("unit_id = 14", "unit_id = 14\n" + "y" * 5000 + " = 1"),  # an unknown key
    ],
)
def test_an_error_about_a_huge_key_or_value_stays_a_short_line(old, new):
    (found,) = problems(EXAMPLE.replace(old, new, 1))
    assert found.startswith("line 53: zones[3].") and len(found) < 700


# ---- strict types: a value of the wrong type is an error, never converted ----


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        ("unit_id = 11", 'unit_id = "11"', "zones[0].unit_id", "valid integer (got '11')"),
        ("unit_id = 11", "unit_id = 11.0", "zones[0].unit_id", "valid integer (got 11.0)"),
        ("stopbits = 1", "stopbits = true", "buses.rs485.stopbits", "not true or false"),
        ("baudrate = 19200", 'baudrate = "19200"', "buses.rs485.baudrate", "Input should be"),
        ('name = "Office"', "name = 7", "zones[3].name", "valid string (got 7)"),
    ],
)
def test_values_of_the_wrong_type_are_not_converted(old, new, key, message):
    (found,) = problems(EXAMPLE.replace(old, new))
    assert f"{key}: " in found and message in found


def test_a_boolean_is_not_a_number():
    (found,) = problems(EXAMPLE + "\n[control]\nperiod_s = true\n")
    assert (
        found
        == f"line {AFTER_EXAMPLE + 1}: control.period_s: Input should be a valid number (got True)"
    )


def test_an_integer_is_a_valid_number():
    text = EXAMPLE + "\n[control]\nperiod_s = 10\n"
    assert parse_config(text, "t.toml").config.control.period_s == 10.0


# ---- errors about several keys name each key and its line, never the table's contents ----


def test_a_shared_unit_id_names_both_keys_and_their_lines():
    (found,) = problems(EXAMPLE.replace("unit_id = 14", "unit_id = 13"))
    assert found == (
        "line 45: zones[2].unit_id, line 52: zones[3].unit_id: zone 'office' and zone 'bedroom' "
        "share unit id 13 on bus 'rs485'"
    )


def test_an_inverted_range_names_both_keys_and_their_lines():
    text = EXAMPLE.replace(
        'id = "office"', 'id = "office"\nmin_temperature = 28.0\nmax_temperature = 20.0'
    )
    (found,) = problems(text)
    assert found == (
        "line 50: zones[3].min_temperature, line 51: zones[3].max_temperature: "
        "min_temperature 28.0 must be below max_temperature 20.0"
    )


def test_a_table_is_never_printed_in_an_error():
    text = EXAMPLE.replace('name = "Office"', 'name = "Office"\nsensor = { a = 1, b = [2] }')
    text += '\n[control]\nmode_policy = "priority"\n'
    found = problems(text)
    assert found == [
        "line 51: zones[3].sensor: unknown key",
        f"line {AFTER_EXAMPLE + 2}: control.mode_policy: "
        "mode_policy 'priority' needs priority_zone",
    ]


def test_the_value_of_an_unknown_key_is_never_printed():
    # It may be a secret written where it does not belong.
    (found,) = problems(EXAMPLE.replace("[mqtt]", '[mqtt]\npassword = "hunter2"'))
    assert "hunter2" not in found and "mqtt.password: unknown key" in found


def test_a_password_file_path_with_a_nul_is_refused():
    text = EXAMPLE.replace('password_file = "', 'password_file = "\\u0000')
    (found,) = problems(text)
    assert "mqtt.password_file: must not contain a NUL character" in found


def test_a_shipped_config_is_named_from_any_directory(tmp_path, monkeypatch):
    """`-c demo` works outside the repository and from an installed package; a file of that
    name in the working directory is the user's and wins; a mistyped name lists the shipped."""
    monkeypatch.chdir(tmp_path)
    shipped = {path.stem: path for path in shipped_configs()}
    # The fault file beside them is no config.
    assert set(shipped) == {
        "demo",
        "demo-diii-net",
        "demo-gateway",
        "demo-intesis",
        "demo-two-systems",
        "example",
    }
    assert config_file("demo") == shipped["demo"]
    assert load_config(config_file("demo.toml")).config.controller_id == "demo"
    (tmp_path / "demo.toml").write_text("not a config")
    assert config_file("demo.toml") == Path("demo.toml")
    with pytest.raises(ConfigError) as err:
        load_config(config_file("demx"))
    assert err.value.problems[-1] == (
        "nor is it a shipped config: demo, demo-diii-net, demo-gateway, demo-intesis,"
        " demo-two-systems, example"
    )


@pytest.mark.parametrize(
    ("path", "what"),
    [
        ("config/demo-faults.toml", "a fault file ([[faults]]): the simulator takes it"),
        ("config/profiles/coolmasternet.toml", "a device profile ([device]): a config names it"),
        ("minisplit/hil/scenarios/mixed-april.toml", "a bench scenario ([weather])"),
    ],
)
def test_another_of_the_products_files_is_named_for_what_it_is(path, what):
    """The fault file sits beside the configs in config/: checked as a config, it is named
    for what it is and where it goes, not reported as a config missing buses and zones."""
    with pytest.raises(ConfigError) as err:
        load_config(ROOT / path)
    (problem,) = err.value.problems
    assert problem.startswith(f"not a config: this is {what}")


def test_an_initial_mode_that_is_no_zone_mode_is_refused_by_name():
    text = EXAMPLE.replace("unit_id = 12\n", 'unit_id = 12\ninitial_mode = "warm"\n', 1)
    [problem] = problems(text)
    assert "zones[1].initial_mode" in problem and "'warm'" in problem, problem
    assert "heat_cool" in problem  # the message lists the modes there are


@pytest.mark.parametrize(
    ("high", "why"),
    [("21.5", "outside 22..30"), ("31.0", "outside 22..30"), ("18.0", "at least 1 K above")],
)
def test_a_heat_cool_upper_default_outside_its_room_is_refused(high, why):
    text = EXAMPLE.replace("unit_id = 12\n", f"unit_id = 12\ndefault_temperature_high = {high}\n")
    [problem] = problems(text)
    assert "zones[1].default_temperature_high" in problem and why in problem, problem
