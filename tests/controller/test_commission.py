"""`minisplit commission` against the real simulator and a real mosquitto: the units
identified, a polling with its counters, a head against its remote sensor, a head tried, the
config; as Markdown and HTML. A wrong unit id makes a report that says so; bad arguments and a
running controller are refused."""

from __future__ import annotations

import asyncio
import os
from html.parser import HTMLParser
from pathlib import Path

import aiomqtt
import pytest

from minisplit.controller.cli import main
from minisplit.controller.commission import commission
from minisplit.controller.commission_report import html_page, markdown
from minisplit.controller.config import load_config
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.service.persistence import hold_state_lock
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import start_mosquitto
from minisplit.testing.harness import with_heartbeat
from minisplit.testing.processes import controller_config
from tests.fixtures.commissioning import demo_config, demo_simulator

SPEED = 60.0


async def test_a_whole_report_of_the_demo_house(tmp_path):
    broker = start_mosquitto(tmp_path / "broker")
    try:
        port = free_port()
        path, _ = controller_config(
            tmp_path,
            port,
            broker.port,
            zone_extra={"living": 'remote_sensor_topic = "sensors/living"'},
        )
        async with aiomqtt.Client("127.0.0.1", broker.port) as client:
            await client.publish("sensors/living", "12.25", retain=True)
        loaded = with_heartbeat(load_config(path), 600)
        async with Simulator(loaded, speed=SPEED).running(tcp=("127.0.0.1", port)) as sim:
            report = await commission(
                loaded,
                path.read_text(),
                poll_s=3,
                trial_mode=ZoneMode.HEAT,
                trial_zones=["living"],
                time_scale=SPEED,
            )
            head_air = sim.head_register("living", "return_air_temperature")
    finally:
        broker.stop()
    assert report.healthy, report.problems
    assert [u.profile for u in report.units] == ["reference-odu"] + ["reference-head"] * 4
    assert all(u.firmware == "258" for u in report.units)
    assert all(u.polls >= 2 and u.answered == u.polls for u in report.units)
    living = next(s for s in report.sensors if s.zone == "living")
    assert living.remote_c == 12.25
    assert living.head_c is not None and head_air is not None
    assert living.gap_k == pytest.approx(living.head_c - 12.25)
    assert next(s for s in report.sensors if s.zone == "kitchen").remote == "none configured"
    (trial,) = report.trials
    assert trial.passed and trial.target.startswith("zone living")

    text = markdown(report)
    for heading in (
        "Lines",
        "Units",
        "Polling for 3 s",
        "Sensors",
        "Heads tried",
        "The config used",
    ):
        assert f"## {heading}" in text
    assert "| living | " in text and "12.2 °C" in text
    assert "remote sensor: living (the controller regulates" in text  # over 1.5 K: said
    assert f"port = {port}" in text  # the config, as it was used
    page = html_page(report)
    checker = _Tags()
    checker.feed(page)
    assert checker.open == [] and checker.tables == 5  # lines, units, polls, sensors, trial


class _Tags(HTMLParser):
    """Whether every opened tag is closed, and how many tables."""

    VOID = frozenset({"meta", "br"})

    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.tables = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag not in self.VOID:
            self.open.append(tag)
        self.tables += tag == "table"

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, (self.open, tag)
        self.open.pop()


async def test_a_unit_at_a_wrong_id_makes_a_report_that_says_so(tmp_path, capsys):
    async with demo_simulator(tmp_path) as (_, port):
        config = demo_config(tmp_path, port, ("unit_id = 13", "unit_id = 23"))
        output = tmp_path / "report.html"
        argv = ["commission", "-c", str(config), "-o", str(output), "--poll-seconds", "5"]
        code = await asyncio.to_thread(main, [*argv, "--no-trial"])
    assert code == 1
    assert capsys.readouterr().out.strip() == f"{output}: NEEDS ATTENTION"
    page = output.read_text()
    assert "NEEDS ATTENTION" in page
    assert "zone bedroom (unit 23 on bus sim)" in page
    assert "no answer" in page and "timeout" in page


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["-o", "report.txt"], "name a .md (Markdown) or .html file"),
        (["-o", "nowhere/report.md"], "no directory nowhere"),
        (["-o", "r.md", "--poll-seconds", "1"], "--poll-seconds takes 5 to 3600"),
        (["-o", "r.md", "--minutes", "2"], "--minutes takes 5 to 60"),
        (["-o", "r.md", "--try", "attic"], "--try attic: no such zone (zones: living"),
        (["-o", "r.md", "--try", "living", "--no-trial"], "exclude each other"),
        (["-o", "r.md", "--time-scale", "0"], "--time-scale takes above 0"),
    ],
)
def test_bad_arguments_are_refused_before_any_unit_is_contacted(
    tmp_path, capsys, monkeypatch, extra, said
):
    monkeypatch.chdir(tmp_path)
    config = demo_config(tmp_path, 1)  # nothing listens there
    assert main(["commission", "-c", str(config), *extra]) == 2
    assert said in capsys.readouterr().err
    assert not list(Path(tmp_path).glob("r*.md")) and not (tmp_path / "report.txt").exists()


def test_refused_while_the_controller_runs_with_the_config(tmp_path, capsys):
    config = demo_config(tmp_path, free_port())
    state_file = load_config(config).config.state_file
    state_file.parent.mkdir(parents=True, exist_ok=True)
    lock = hold_state_lock(state_file)
    assert lock is not None
    try:
        code = main(["commission", "-c", str(config), "-o", str(tmp_path / "r.md")])
    finally:
        os.close(lock)
    assert code == 1
    assert "not contacting the units" in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists()
