"""Config validation: every rejection names the key path (and line) and the bad value."""

from pathlib import Path

import pytest

from controller.config import ConfigError, load_config, parse_config
from controller.tuning import control_tuning_from

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config" / "example.toml").read_text()


@pytest.mark.parametrize("name", ["example.toml", "demo.toml"])
def test_shipped_configs_load(name):
    loaded = load_config(ROOT / "config" / name)
    assert len(loaded.config.zones) == 4
    assert loaded.odu_profile.name == "reference-odu"


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


# ---- [sensor_check]: when a room sensor is implausible (controller.sensor_health) ----


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


def test_idle_cooling_head_choice_reaches_the_tuning_and_is_checked():
    tuning = control_tuning_from(parse_config(EXAMPLE, "t.toml").config.control)
    assert tuning.idle_cooling_off
    text = EXAMPLE + '\n[control]\nidle_cooling_head = "quiet"\n'
    assert not control_tuning_from(parse_config(text, "t.toml").config.control).idle_cooling_off
    found = problems(EXAMPLE + '\n[control]\nidle_cooling_head = "low"\n')
    assert any("control.idle_cooling_head" in p and "low" in p for p in found)
