"""From `[control]` in the config to the control core's tuning."""

import pytest
from pydantic import ValidationError

from minisplit.controller.config import ControlConfig, SensorCheckConfig
from minisplit.controller.core.arbitration import ModePolicy
from minisplit.controller.core.control import ControlTuning
from minisplit.controller.core.presets import PresetRule
from minisplit.controller.core.sensor_health import SensorCheck
from minisplit.controller.core.zone import PiTuning
from minisplit.controller.tuning import control_tuning_from


def test_defaults_give_the_core_defaults():
    tuning = control_tuning_from(ControlConfig())
    assert tuning.pi.kp == 2.0 and tuning.pi.band_offset_k == 0.15
    assert tuning.pi.low_load_band_offset_k == PiTuning().low_load_band_offset_k
    assert tuning.coordinator.mode_policy is ModePolicy.FIRST
    assert tuning.coordinator.max_starts_per_hour == 3
    assert tuning.coordinator.limits.min_frequency_hz == 20.0
    assert tuning.presets.eco == PresetRule(heat_offset_k=-2.0, cool_offset_k=2.0)
    assert tuning.presets.boost_duration_s == 1800.0
    assert tuning.head_sensor_bias.heating_k == 1.5


def test_every_control_key_reaches_the_core():
    config = ControlConfig.model_validate(
        {
            "kp": 1.0,
            "band_offset_k": 0.2,
            "low_load_band_offset_k": 0.3,
            "outdoor_feed_forward_per_k": 0.01,
            "mode_policy": "priority",
            "priority_zone": "living",
            "mode_hold_s": 600,
            "max_starts_per_hour": 2,
            "quiet_max_frequency_hz": 45,
            "head_sensor_heating_bias_k": 2.0,
            "head_sensor_bias_tau_s": 120,
            "presets": {
                "eco": {"heat_temperature": 18.0},
                "away": {"cool_offset_k": 6.0},
                "boost": {"duration_s": 900},
            },
        }
    )
    tuning = control_tuning_from(config, (25.0, 80.0))
    assert tuning.pi.kp == 1.0 and tuning.pi.band_offset_k == 0.2
    assert tuning.pi.low_load_band_offset_k == 0.3
    assert tuning.pi.outdoor_feed_forward_per_k == 0.01
    c = tuning.coordinator
    assert c.mode_policy is ModePolicy.PRIORITY and c.priority_zone == "living"
    assert c.mode_hold_s == 600 and c.max_starts_per_hour == 2
    assert c.quiet_max_frequency_hz == 45
    assert (c.limits.min_frequency_hz, c.limits.max_frequency_hz) == (25.0, 80.0)
    assert tuning.head_sensor_bias.heating_k == 2.0 and tuning.head_sensor_bias.tau_s == 120
    assert tuning.presets.eco == PresetRule(heat_temperature=18.0, cool_offset_k=2.0)
    assert tuning.presets.away == PresetRule(heat_temperature=16.0, cool_offset_k=6.0)
    assert tuning.presets.boost_duration_s == 900


def test_bad_preset_and_policy_configs_are_refused():
    with pytest.raises(ValidationError, match="not both"):
        ControlConfig.model_validate(
            {"presets": {"eco": {"heat_temperature": 18.0, "heat_offset_k": -2.0}}}
        )
    with pytest.raises(ValidationError, match="priority_zone"):
        ControlConfig.model_validate({"mode_policy": "priority"})


def test_a_config_without_control_keys_runs_the_core_as_it_is():
    """Each `[control]` key defaults to the core's own default (one declaration): the default
    config maps to the tuning the core has without one, field by field."""
    assert control_tuning_from(ControlConfig()) == ControlTuning()


def test_a_config_without_sensor_check_keys_checks_as_the_core_does():
    c, core = SensorCheckConfig(), SensorCheck()
    assert (c.min_temperature, c.max_temperature, c.settle_s) == (
        core.min_c,
        core.max_c,
        core.settle_s,
    )
    assert (c.stuck_switches, c.stuck_full_demand_s) == (
        core.stuck_switches,
        core.stuck_full_demand_s,
    )
