"""Topic filters a config names: MQTT syntax, and a room sensor's filter kept out of the
controllers' own topics (`check-config` refuses them, naming the key)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from minisplit.controller.config import ConfigError, parse_config
from minisplit.controller.topics import filter_problem, overlaps

ROOT = Path(__file__).resolve().parents[2]
DEMO = (ROOT / "config" / "demo.toml").read_text()


def _with_sensor(topic_filter: str) -> str:
    """The demo config, its kitchen following ``topic_filter`` as room sensor."""
    escaped = topic_filter.replace("\\", "\\\\").replace('"', '\\"')
    return DEMO.replace("unit_id = 12\n", f'unit_id = 12\nremote_sensor_topic = "{escaped}"\n', 1)


@pytest.mark.parametrize(
    "topic_filter",
    ["zigbee2mqtt/kitchen", "sensors/+/temperature", "sensors/#", "+", "minisplit", "a//b"],
)
def test_valid_filters(topic_filter: str) -> None:
    assert filter_problem(topic_filter) is None


@pytest.mark.parametrize(
    ("topic_filter", "why"),
    [
        ("", "empty"),
        ("a/#/b", "'#'"),
        ("a/b#", "'#'"),
        ("a/b+/c", "'+'"),
        ("a/\0", "NUL"),
        ("x" * 70000, "longer"),
    ],
)
def test_invalid_filters(topic_filter: str, why: str) -> None:
    assert why in (filter_problem(topic_filter) or "")


@pytest.mark.parametrize(
    ("first", "second", "common"),
    [
        ("a/b", "a/b", True),
        ("a/b", "a/c", False),
        ("a/+", "+/b", True),
        ("a/#", "a", True),
        ("a", "a/#", True),
        ("a", "a/+", False),
        ("a/b/c", "a/+", False),
        ("#", "x/y/z", True),
        ("+/+", "a/b/c", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
        # Wildcards in the first level never match the broker's `$` topics.
        ("#", "$SYS/broker/uptime", False),
        ("+/broker/uptime", "$SYS/broker/uptime", False),
    ],
)
def test_filters_overlap_when_a_topic_matches_both(first: str, second: str, common: bool) -> None:
    assert overlaps(first, second) is common
    assert overlaps(second, first) is common


@pytest.mark.parametrize(
    ("topic_filter", "below"),
    [
        ("#", True),
        ("+/#", True),
        ("minisplit/#", True),
        ("minisplit/+/error", True),
        ("minisplit/demo/zone/+/set/+", True),
        ("+/demo/error", True),
        ("minisplit", False),
        ("+", False),
        ("minisplitx/#", False),
        ("zigbee2mqtt/#", False),
    ],
)
def test_what_a_filter_covers(topic_filter: str, below: bool) -> None:
    assert overlaps(topic_filter, "minisplit/+/#") is below


@pytest.mark.parametrize(
    ("topic_filter", "why"),
    [
        ("#", "own topics under 'minisplit/'"),
        ("minisplit/demo/error", "own topics"),
        ("minisplit/demo/zone/living/set/remote_temperature", "own topics"),
        ("minisplit/+/error", "own topics"),
        # Home Assistant's status is the controller's own to handle: the sensor would never
        # be read; its discovery configs (the controller's own among them) would be rejects.
        ("homeassistant/status", "Home Assistant's status topic 'homeassistant/status'"),
        ("homeassistant/+", "Home Assistant's status topic"),
        ("homeassistant/#", "discovery configs 'homeassistant/.../config'"),
        ("homeassistant/sensor/#", "discovery configs"),
        ("homeassistant/+/+/config", "discovery configs"),
        ("homeassistant/sensor/+/+/config", "discovery configs"),
        ("$SYS/#", "the broker's own topics"),
        ("$SYS/broker/uptime", "the broker's own topics"),
        ("$share/house/zigbee2mqtt/kitchen", "shared subscription"),
        ("a/#/b", "'#' other than as the whole last level"),
        ("", "is empty"),
    ],
)
def test_config_refuses_a_sensor_filter_naming_the_key(topic_filter: str, why: str) -> None:
    text = _with_sensor(topic_filter)
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "house.toml")
    (problem,) = raised.value.problems
    line = text.splitlines().index(f'remote_sensor_topic = "{topic_filter}"') + 1
    assert problem.startswith(f"line {line}: zones[1].remote_sensor_topic: ")
    assert why in problem


@pytest.mark.parametrize(
    "topic_filter",
    [
        "zigbee2mqtt/kitchen",
        "sensors/+/temperature",
        # Home Assistant's MQTT Statestream publishes its sensors under the discovery prefix.
        "homeassistant/sensor/kitchen_temperature/state",
        "homeassistant/sensor/+/state",
        "homeassistant",
    ],
)
def test_config_accepts_a_sensor_topic_and_a_wildcard_outside_its_own(topic_filter: str) -> None:
    assert parse_config(_with_sensor(topic_filter), "house.toml")


def _with_prefix(text: str, prefix: str) -> str:
    changed = text.replace("[mqtt]\n", f'[mqtt]\ndiscovery_prefix = "{prefix}"\n', 1)
    assert changed != text
    return changed


def test_the_discovery_prefix_is_the_configs() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(_with_prefix(_with_sensor("ha/status"), "ha"), "house.toml")
    (problem,) = raised.value.problems
    assert "zones[1].remote_sensor_topic: 'ha/status' would also match" in problem
    assert parse_config(_with_prefix(_with_sensor("homeassistant/status"), "ha"), "house.toml")


@pytest.mark.parametrize("topic_filter", ["#", "homeassistant/status", "$SYS/#"])
def test_check_config_says_which_key(tmp_path: Path, topic_filter: str) -> None:
    path = tmp_path / "house.toml"
    path.write_text(_with_sensor(topic_filter))
    result = subprocess.run(
        [sys.executable, "-m", "minisplit.controller.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode != 0
    headline, problem = result.stderr.splitlines()
    assert headline == f"{path}: configuration has 1 error(s):"
    assert f"zones[1].remote_sensor_topic: {topic_filter!r}" in problem
