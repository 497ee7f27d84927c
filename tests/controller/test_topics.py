"""Topic filters a config names: MQTT syntax, and a room sensor's filter kept out of the
controllers' own topics (`check-config` refuses them, naming the key)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from controller.config import ConfigError, parse_config
from controller.topics import filter_problem, may_match_below

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
    assert may_match_below(topic_filter, "minisplit") is below


@pytest.mark.parametrize(
    ("topic_filter", "why"),
    [
        ("#", "own topics under 'minisplit/'"),
        ("minisplit/demo/error", "own topics"),
        ("minisplit/demo/zone/living/set/remote_temperature", "own topics"),
        ("minisplit/+/error", "own topics"),
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


def test_config_accepts_a_sensor_topic_and_a_wildcard_outside_its_own() -> None:
    assert parse_config(_with_sensor("zigbee2mqtt/kitchen"), "house.toml")
    assert parse_config(_with_sensor("sensors/+/temperature"), "house.toml")


def test_check_config_says_which_key(tmp_path: Path) -> None:
    path = tmp_path / "house.toml"
    path.write_text(_with_sensor("#"))
    result = subprocess.run(
        [sys.executable, "-m", "controller.cli", "check-config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode != 0
    assert "zones[1].remote_sensor_topic" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
