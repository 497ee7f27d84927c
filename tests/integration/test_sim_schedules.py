"""`minisplit sim --scenario S --play-schedules` as a user runs it: the simulated homeowner sets
the zones over a real mosquitto, and the real controller's published target follows the
scenario's switch point, at 60× speed."""

from __future__ import annotations

import json

import aiomqtt
import pytest

from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.testing.broker import Mosquitto, recording
from minisplit.testing.harness import running
from minisplit.testing.processes import BASE, START_TIMEOUT_S, SimulatorProcess, controller_config

pytestmark = pytest.mark.integration

SPEED = 60.0
# The scenario starts at 06:00; the living room's programme switches from 19 °C to 22.5 °C at
# 06:10, ten wall seconds later: time for the controller to come up and hear the first.
SCENARIO = """
name = "schedules"
[weather]
start = "01-15 06:00"
duration_hours = 2
[building]
rooms = [
  { id = "living", area_m2 = 35 },
  { id = "kitchen", area_m2 = 15 },
  { id = "bedroom", area_m2 = 18 },
  { id = "office", area_m2 = 12 },
]
[[schedules.living]]
at = "00:00"
mode = "heat"
temperature = 19.0
[[schedules.living]]
at = "06:10"
mode = "heat"
temperature = 22.5
[[schedules.kitchen]]
at = "00:00"
mode = "off"
[[schedules.bedroom]]
at = "00:00"
mode = "off"
[[schedules.office]]
at = "00:00"
mode = "cool"
temperature = 25.0
"""


def target(message: aiomqtt.Message) -> object:
    assert isinstance(message.payload, bytes)
    return json.loads(message.payload)["target_temperature"]


async def test_the_controller_s_target_follows_the_played_schedule(tmp_path, mosquitto: Mosquitto):
    modbus_port = free_port()
    config, loaded = controller_config(tmp_path, modbus_port, mosquitto.port)
    (tmp_path / "scenario.toml").write_text(SCENARIO)
    sim = SimulatorProcess(config, "sim")
    living = f"{BASE}/zone/living/state"
    async with recording(mosquitto) as recorder:
        await sim.start(
            "--tcp",
            f"127.0.0.1:{modbus_port}",
            "--speed",
            str(SPEED),
            "--scenario",
            str(tmp_path / "scenario.toml"),
            "--play-schedules",
        )
        try:
            async with running(Supervisor(loaded, time_scale=SPEED)):
                # As soon as the controller is online, the homeowner sets the programme of the
                # moment; the controller's default for the living room is off at 21 °C.
                before = await recorder.wait_for(
                    living, lambda m: target(m) == 19.0, timeout=START_TIMEOUT_S
                )
                assert json.loads(before.payload)["mode"] == "heat"
                office = await recorder.wait_for(
                    f"{BASE}/zone/office/state", lambda m: target(m) == 25.0
                )
                assert json.loads(office.payload)["mode"] == "cool"
                after = await recorder.wait_for(
                    living,
                    lambda m: target(m) == 22.5,
                    after=recorder.messages.index(before),
                    timeout=10.0 + START_TIMEOUT_S,
                )
                assert json.loads(after.payload)["mode"] == "heat"
        finally:
            await sim.stop()
    log = sim.output()
    # Sent at the switch point's simulated time (the log's clock is the simulator's), once.
    assert "homeowner at 01-15 06:10: living mode=heat temperature=22.5" in log, log[-3000:]
    assert log.count("living mode=heat temperature=22.5") == 1
    # Nothing refused: every command was within the zones' limits and arrived live.
    assert not recorder.on(f"{BASE}/error")
