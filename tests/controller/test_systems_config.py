"""Several systems per controller (`[systems.<name>]`, docs/architecture.md 'Systems'): each
its outdoor unit (or none) and the zones that name it, each with its own strategy; the
single-system form stays one system, `main`. Every misuse is refused naming its key."""

from __future__ import annotations

import pytest

from minisplit.controller.config import (
    DEFAULT_HEARTBEAT_TIMEOUT_S,
    MAIN_SYSTEM,
    ConfigError,
    Strategy,
    config_file,
    load_config,
    parse_config,
)
from minisplit.controller.core.arbitration import ModePolicy
from minisplit.controller.tuning import control_tuning, setpoint_tuning

HEAD = """
[[zones]]
id = "{id}"
name = "{id}"
bus = "line"
unit_id = {unit_id}
profile = "{profile}"
"""


def zone(zone_id: str, unit_id: int, profile: str = "reference-head", system: str | None = None):
    text = HEAD.format(id=zone_id, unit_id=unit_id, profile=profile)
    return text if system is None else text + f'system = "{system}"\n'


BASE = 'controller_id = "house"\n[buses.line]\ntype = "tcp"\nhost = "127.0.0.1"\nport = 5020\n'
UPSTAIRS = '[systems.upstairs]\nname = "Upstairs"\n[systems.upstairs.outdoor_unit]\nbus = "line"\n'
DOWNSTAIRS = "[systems.downstairs]\n"
TWO = (
    BASE
    + UPSTAIRS
    + DOWNSTAIRS
    + zone("bedroom", 11, system="upstairs")
    + zone("living", 21, "intesis-mitsubishi", "downstairs")
)


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, "house.toml")
    return caught.value.problems


def test_each_system_gets_its_strategy_zones_and_outdoor_unit() -> None:
    loaded = parse_config(TWO, "house.toml")
    up, down = loaded.systems["upstairs"], loaded.systems["downstairs"]
    assert (up.strategy, down.strategy) == (Strategy.DIRECT, Strategy.SETPOINT)
    assert [z.id for z in up.zones] == ["bedroom"] and [z.id for z in down.zones] == ["living"]
    assert up.outdoor_unit is not None and down.outdoor_unit is None
    assert (up.display_name, down.display_name) == ("Upstairs", "downstairs")
    assert (up.topic_level, down.topic_level) == ("upstairs", "downstairs")
    assert loaded.system_of("living") is down


def test_the_single_system_form_is_one_system_named_main() -> None:
    loaded = parse_config(
        BASE + '[outdoor_unit]\nbus = "line"\nheartbeat_timeout_s = 30\n' + zone("bedroom", 11),
        "house.toml",
    )
    (system,) = loaded.systems.values()
    assert system.name == MAIN_SYSTEM and system.topic_level is None
    assert system.heartbeat_timeout_s == 30 and loaded.strategy is Strategy.DIRECT


def test_systems_and_outdoor_unit_together_are_refused() -> None:
    text = BASE + '[outdoor_unit]\nbus = "line"\n' + TWO.removeprefix(BASE)
    (problem,) = problems(text)
    assert "give [outdoor_unit] (one system) or [systems.<name>.outdoor_unit]" in problem
    assert problem.startswith("line 6: outdoor_unit")


def test_a_zone_without_system_is_refused_when_systems_are_given() -> None:
    (problem,) = problems(TWO + zone("office", 12))
    assert problem.endswith(
        "zones[2].id: zone 'office' names no system: with [systems], each zone names its own "
        "(upstairs, downstairs)"
    )


def test_a_zone_naming_an_unknown_system_is_refused() -> None:
    (problem,) = problems(TWO + zone("office", 12, system="attic"))
    assert problem.endswith(
        "zones[2].system: zone 'office': no system 'attic' in [systems] (upstairs, downstairs)"
    )


def test_a_zone_naming_a_system_without_systems_is_refused() -> None:
    text = BASE + '[outdoor_unit]\nbus = "line"\n' + zone("bedroom", 11, system="upstairs")
    (problem,) = problems(text)
    assert "zones[0].system: zone 'bedroom': system 'upstairs' needs [systems.upstairs]" in problem


def test_a_system_without_a_zone_is_refused() -> None:
    (problem,) = problems(TWO + "[systems.attic]\n")
    assert problem.endswith(
        "systems.attic: system 'attic' has no zone: give it one (system = 'attic') or leave it out"
    )


def test_a_mix_inside_one_system_is_refused_but_across_systems_is_fine() -> None:
    parse_config(TWO, "house.toml")  # direct upstairs, setpoint downstairs
    (problem,) = problems(TWO + zone("office", 12, "intesis-mitsubishi", "upstairs"))
    assert "zones[2].profile: zone 'office': profile 'intesis-mitsubishi' has no " in problem
    assert "the heads of one system are all driven directly or all by their setpoints" in problem


def test_direct_heads_in_a_system_without_outdoor_unit_name_its_table() -> None:
    (problem,) = problems(TWO.replace('"intesis-mitsubishi"', '"reference-head"'))
    assert "needs an [systems.downstairs.outdoor_unit] whose profile has frequency_setpoint" in (
        problem
    )


def test_units_of_two_systems_may_not_share_a_unit_id() -> None:
    (problem,) = problems(TWO.replace("unit_id = 21", "unit_id = 11"))
    assert "zone 'living' and zone 'bedroom' share unit id 11 on bus 'line'" in problem


def test_the_outdoor_units_of_two_systems_may_not_share_a_unit_id() -> None:
    text = TWO.replace(DOWNSTAIRS, '[systems.downstairs.outdoor_unit]\nbus = "line"\n').replace(
        'profile = "intesis-mitsubishi"', 'profile = "reference-head"'
    )
    (problem,) = problems(text)
    assert (
        "the outdoor unit of system 'downstairs' and the outdoor unit of system 'upstairs' "
        "share unit id 1 on bus 'line'" in problem
    )


def test_the_shipped_two_systems_demo_loads() -> None:
    loaded = load_config(config_file("demo-two-systems"))
    assert {n: s.strategy for n, s in loaded.systems.items()} == {
        "upstairs": Strategy.DIRECT,
        "downstairs": Strategy.SETPOINT,
    }


def test_each_system_beats_at_its_own_outdoor_units_heartbeat_timeout() -> None:
    loaded = parse_config(
        TWO.replace('bus = "line"\n', 'bus = "line"\nheartbeat_timeout_s = 30\n', 1), "h"
    )
    assert loaded.systems["upstairs"].heartbeat_timeout_s == 30
    assert loaded.systems["downstairs"].heartbeat_timeout_s == DEFAULT_HEARTBEAT_TIMEOUT_S


def test_the_systems_follow_a_config_adjusted_after_loading() -> None:
    """Tests and tools adjust a validated config (the fault matrix lengthens the heartbeat so
    that the compressed clock cannot lapse it): the systems must not keep the loaded text's."""
    loaded = parse_config(TWO, "h")
    assert loaded.systems["upstairs"].heartbeat_timeout_s == DEFAULT_HEARTBEAT_TIMEOUT_S
    config = loaded.config
    assert config.systems is not None
    upstairs = config.systems["upstairs"]
    assert upstairs.outdoor_unit is not None
    longer = upstairs.outdoor_unit.model_copy(update={"heartbeat_timeout_s": 600})
    loaded.config = config.model_copy(
        update={
            "systems": {
                **config.systems,
                "upstairs": upstairs.model_copy(update={"outdoor_unit": longer}),
            }
        }
    )
    assert loaded.systems["upstairs"].heartbeat_timeout_s == 600


def test_the_priority_zone_applies_in_its_own_system_only() -> None:
    text = TWO + '[control]\nmode_policy = "priority"\npriority_zone = "living"\n'
    loaded = parse_config(text, "house.toml")
    down = control_tuning(loaded, loaded.systems["downstairs"]).coordinator
    up = control_tuning(loaded, loaded.systems["upstairs"]).coordinator
    assert (down.mode_policy, down.priority_zone) == (ModePolicy.PRIORITY, "living")
    assert (up.mode_policy, up.priority_zone) == (ModePolicy.FIRST, None)
    assert setpoint_tuning(loaded, loaded.systems["downstairs"]).mode_policy is ModePolicy.PRIORITY
