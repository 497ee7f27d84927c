"""A zone's weekly program sent as JSON to `set/program`, run by the real controller against the
real simulator over a real mosquitto: applied at once, published with where it came from, a
Home Assistant schedule switch for a zone whose only program it is, a bad one refused on the
error topic without a change, kept over a restart, and cleared with `[]` (the config's program
applies again)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest

from minisplit.controller.config import LoadedConfig, parse_config
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.core.transitions import SetSchedule
from minisplit.controller.schedule_config import SwitchPoint
from minisplit.controller.service.commands import ProgramCommand, ZoneCommand
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.testing.broker import MessageRecorder, Mosquitto, recording
from minisplit.testing.harness import running
from minisplit.testing.processes import (
    BASE,
    CONTROLLER_ID,
    START_TIMEOUT_S,
    SimulatorProcess,
    controller_config,
)

pytestmark = pytest.mark.integration

SPEED = 30.0  # cycles a third of a wall second apart; each program below holds all week
KITCHEN_SWITCH = f"homeassistant/switch/{CONTROLLER_ID}-kitchen-schedule/config"
# The office's program in the config: 19 °C all week.
CONFIGURED = '[[zones.schedule]]\nat = "00:00"\nmode = "heat"\ntemperature = 19.0\n\n'


def with_office_program(config: Path) -> LoadedConfig:
    """The demo with a program for the office (its last zone) in the config; the kitchen has
    none."""
    text = config.read_text().replace("[mqtt]", CONFIGURED + "[mqtt]", 1)
    config.write_text(text)
    return parse_config(text, str(config))


def payload_of(message: aiomqtt.Message) -> object:
    assert isinstance(message.payload, bytes)
    return json.loads(message.payload)


def state_is(**wanted: object) -> Callable[[aiomqtt.Message], bool]:
    def matches(message: aiomqtt.Message) -> bool:
        state = payload_of(message)
        assert isinstance(state, dict)
        return all(state.get(key) == value for key, value in wanted.items())

    return matches


def point(at: str, temperature: float) -> dict[str, object]:
    """A heating switch point every day as the controller publishes it: every key given."""
    return {
        "at": at,
        "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
        "mode": "heat",
        "temperature": temperature,
        "temperature_low": 20.0,
        "temperature_high": 24.0,
        "fan": "auto",
        "preset": "none",
    }


async def send(mosquitto: Mosquitto, zone: str, *fields_and_payloads: str) -> None:
    """Publish (field, payload) pairs to the zone's commands, in order, from one client."""
    pairs = zip(fields_and_payloads[::2], fields_and_payloads[1::2], strict=True)
    async with mosquitto.client() as client:
        for field, payload in pairs:
            await client.publish(f"{BASE}/zone/{zone}/set/{field}", payload, qos=1)


async def wait(recorder: MessageRecorder, topic: str, after: int, **state: object) -> None:
    await recorder.wait_for(topic, state_is(**state), after=after, timeout=START_TIMEOUT_S)


async def program_published(recorder: MessageRecorder, zone: str, after: int) -> object:
    message = await recorder.wait_for(
        f"{BASE}/zone/{zone}/program", after=after, timeout=START_TIMEOUT_S
    )
    return payload_of(message)


async def test_a_program_set_over_mqtt_applies_is_published_survives_a_restart_and_clears(
    tmp_path, mosquitto: Mosquitto
):
    modbus_port = free_port()
    config, _ = controller_config(tmp_path, modbus_port, mosquitto.port)
    loaded = with_office_program(config)
    kitchen, office = f"{BASE}/zone/kitchen/state", f"{BASE}/zone/office/state"
    sim = SimulatorProcess(config, "sim")
    async with recording(mosquitto) as recorder:
        await sim.start("--tcp", f"127.0.0.1:{modbus_port}", "--speed", str(SPEED))
        try:
            async with running(Supervisor(loaded, time_scale=SPEED)) as first:
                # The config's program is published and applied; the kitchen has none.
                await wait(recorder, office, 0, target_temperature=19.0, program_source="config")
                assert await program_published(recorder, "office", 0) == [point("00:00", 19.0)]
                assert await program_published(recorder, "kitchen", 0) == []
                await wait(recorder, kitchen, 0, program_source=None, schedule=None)
                assert not recorder.on(KITCHEN_SWITCH)

                # The kitchen's first program: applied at once, in canonical order.
                mark = len(recorder.messages)
                await send(
                    mosquitto,
                    "kitchen",
                    "program",
                    '[{"at": "12:00", "mode": "heat", "temperature": 23.5},'
                    ' {"at": "00:00", "days": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],'
                    ' "mode": "heat", "temperature": 23.5}]',
                )
                await wait(
                    recorder,
                    kitchen,
                    mark,
                    mode="heat",
                    target_temperature=23.5,
                    schedule=True,
                    program_source="mqtt",
                )
                assert await program_published(recorder, "kitchen", mark) == [
                    point("00:00", 23.5),
                    point("12:00", 23.5),
                ]
                switch = await recorder.wait_for(KITCHEN_SWITCH, after=mark)
                switch_config = payload_of(switch)
                assert isinstance(switch_config, dict)
                assert switch_config["command_topic"] == f"{BASE}/zone/kitchen/set/schedule"
                # Its schedule switch works.
                mark = len(recorder.messages)
                await send(mosquitto, "kitchen", "schedule", "OFF")
                await wait(recorder, kitchen, mark, schedule=False, next_switch=None)
                mark = len(recorder.messages)
                await send(mosquitto, "kitchen", "schedule", "ON")
                await wait(recorder, kitchen, mark, schedule=True)

                # A program the kitchen cannot take changes nothing and says why.
                mark = len(recorder.messages)
                await send(
                    mosquitto,
                    "kitchen",
                    "program",
                    '[{"at": "06:00", "mode": "heat", "temperature": 45}]',
                )
                error = payload_of(await recorder.wait_for(f"{BASE}/error", after=mark))
                assert isinstance(error, dict)
                assert error["topic"] == f"{BASE}/zone/kitchen/set/program"
                assert "[0].temperature: 45" in error["error"]
                assert len(first.settings.programs["kitchen"]) == 2

                # The office's program from MQTT takes the place of its config's.
                mark = len(recorder.messages)
                await send(
                    mosquitto,
                    "office",
                    "program",
                    '[{"at": "00:00", "mode": "heat", "temperature": 22}]',
                )
                await wait(recorder, office, mark, target_temperature=22.0, program_source="mqtt")
                await first.committer.flush()

            # Restarted: both programs from MQTT are still in effect and published.
            restart = len(recorder.messages)
            async with running(Supervisor(loaded, time_scale=SPEED)) as second:
                await wait(
                    recorder, kitchen, restart, target_temperature=23.5, program_source="mqtt"
                )
                await wait(
                    recorder, office, restart, target_temperature=22.0, program_source="mqtt"
                )
                assert await program_published(recorder, "office", restart) == [
                    point("00:00", 22.0)
                ]
                assert set(second.programs.schedules) == {"kitchen", "office"}
                # A program and the schedule switched off right after it, before it is on disk.
                mark = len(recorder.messages)
                await send(
                    mosquitto,
                    "kitchen",
                    "program",
                    '[{"at": "00:00", "mode": "heat", "temperature": 20.5}]',
                    "schedule",
                    "OFF",
                )
                await wait(recorder, kitchen, mark, target_temperature=20.5, schedule=False)

                # Cleared: the office follows its config's program again, from its point now.
                mark = len(recorder.messages)
                await send(mosquitto, "office", "program", "[]")
                await wait(recorder, office, mark, target_temperature=19.0, program_source="config")
                # The kitchen, with no program left, loses its schedule switch.
                await send(mosquitto, "kitchen", "program", " [ ] ")
                await wait(recorder, kitchen, mark, program_source=None, schedule=None)
                await recorder.wait_for(KITCHEN_SWITCH, lambda m: m.payload == b"", after=mark)
                await recorder.wait_for(
                    f"{BASE}/zone/kitchen/program", lambda m: m.payload == b"[]", after=mark
                )
                assert set(second.programs.schedules) == {"office"}
        finally:
            await sim.stop()
    assert len(recorder.on(f"{BASE}/error")) == 1


async def test_the_schedule_of_a_program_still_on_its_way_to_disk_can_be_switched(tmp_path):
    """`set/schedule` right after `set/program`, before the program is on disk or published:
    taken, as the program will be in effect by the time the switch is."""
    _, loaded = controller_config(tmp_path, free_port(), free_port())
    supervisor = Supervisor(loaded)
    assert supervisor.bridge is not None
    program = ProgramCommand("kitchen", (SwitchPoint(at="00:00", mode=ZoneMode.HEAT),))
    supervisor.on_command(program)
    outcomes = supervisor.bridge.dispatch(f"{BASE}/zone/kitchen/set/schedule", b"OFF")
    assert outcomes == [ZoneCommand("kitchen", SetSchedule(False))]
    await supervisor.committer.flush()
    assert supervisor.settings.programs == {"kitchen": program.points}
    assert supervisor.settings.zones["kitchen"].schedule is False
    await asyncio.gather(*supervisor._background)
