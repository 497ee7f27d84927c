"""A zone's weekly program run by the real controller against the real simulator over a real
mosquitto, its clock sped up: a switch point crossed changes the published target, a manual
MQTT change holds until the next point, a restart does not undo a manual change, and the
schedule switched off over MQTT leaves the zone as it is until switched on again."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import aiomqtt
import pytest

from minisplit.controller.config import LoadedConfig, parse_config
from minisplit.controller.service.programs import local_seconds
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.testing.broker import MessageRecorder, Mosquitto, recording
from minisplit.testing.harness import running, wait_until
from minisplit.testing.processes import BASE, START_TIMEOUT_S, SimulatorProcess, controller_config

pytestmark = pytest.mark.integration

SPEED = 120.0  # a switch point 20 simulated minutes ahead comes 10 wall seconds later
OFFICE = f"{BASE}/zone/office/state"


def state_of(message: aiomqtt.Message) -> dict[str, object]:
    assert isinstance(message.payload, bytes)
    state = json.loads(message.payload)
    assert isinstance(state, dict)
    return state


def target(message: aiomqtt.Message) -> object:
    return state_of(message)["target_temperature"]


NOW = datetime.now().replace(second=0, microsecond=0)
POINTS = [
    (NOW + timedelta(minutes=m), t) for m, t in [(0, 19.0), (20, 22.0), (40, 18.0), (60, 20.0)]
]


def with_program(config: Path, program: str | None = None) -> LoadedConfig:
    """The office (the demo's last zone) with ``program`` (its `[[zones.schedule]]` tables),
    by default: heat at 19 °C from the minute now, 22 °C twenty minutes on, 18 °C forty
    minutes on, 20 °C an hour on, every day (local time, as the controller reads it)."""
    program = program or "".join(
        f'[[zones.schedule]]\nat = "{at:%H:%M}"\nmode = "heat"\ntemperature = {t}\n\n'
        for at, t in POINTS
    )
    text = config.read_text().replace("[mqtt]", program + "[mqtt]", 1)
    config.write_text(text)
    return parse_config(text, str(config))


@contextlib.asynccontextmanager
async def house_with_program(
    tmp_path: Path, mosquitto: Mosquitto, program: str | None = None
) -> AsyncIterator[tuple[LoadedConfig, MessageRecorder]]:
    """The demo house served by the simulator (sped up as the supervisors are), the office
    with ``program`` (`with_program`), and a recorder of the broker: the config to run
    supervisors on, one after the other, and what they published."""
    modbus_port = free_port()
    config, _ = controller_config(tmp_path, modbus_port, mosquitto.port)
    loaded = with_program(config, program)
    sim = SimulatorProcess(config, "sim")
    async with recording(mosquitto) as recorder:
        await sim.start("--tcp", f"127.0.0.1:{modbus_port}", "--speed", str(SPEED))
        try:
            yield loaded, recorder
        finally:
            await sim.stop()


async def set_office(mosquitto: Mosquitto, field: str, payload: str) -> None:
    async with mosquitto.client() as client:
        await client.publish(f"{BASE}/zone/office/set/{field}", payload, qos=1)


async def targets_until(recorder: MessageRecorder, celsius: float, after: int) -> list[object]:
    """The office's published targets from message ``after`` until the first of ``celsius``."""
    found = await recorder.wait_for(
        OFFICE, lambda m: target(m) == celsius, after=after, timeout=START_TIMEOUT_S
    )
    end = recorder.messages.index(found)
    return [target(m) for m in recorder.messages[after:end] if m.topic.matches(OFFICE)]


async def test_a_program_sets_the_zone_and_a_manual_change_holds_until_the_next_point(
    tmp_path, mosquitto: Mosquitto
):
    async with house_with_program(tmp_path, mosquitto) as (loaded, recorder):
        async with running(Supervisor(loaded, time_scale=SPEED)) as first:
            # The first cycle applies the point in effect (the office starts off at 21 °C).
            start = await recorder.wait_for(
                OFFICE, lambda m: target(m) == 19.0, timeout=START_TIMEOUT_S
            )
            assert json.loads(start.payload)["mode"] == "heat"
            await set_office(mosquitto, "temperature", "20.5")
            await wait_until(
                lambda: first.settings.zones["office"].target_temperature == 20.5,
                START_TIMEOUT_S,
                "the manual change in effect",
            )
        # Restarted before the next point: the manual change stays, 19 °C is not re-applied.
        restart = len(recorder.messages)
        async with running(Supervisor(loaded, time_scale=SPEED)) as second:
            await wait_until(lambda: second.cycles >= 3, START_TIMEOUT_S, "three cycles")
            assert second.settings.zones["office"].target_temperature == 20.5
            # The next point (22 °C) is crossed and published; nothing came between.
            held = await targets_until(recorder, 22.0, restart)
            assert set(held) == {20.5}, held
            # A manual change after it holds until the point after that (18 °C).
            crossed = len(recorder.messages)
            await set_office(mosquitto, "temperature", "23.0")
            held = await targets_until(recorder, 18.0, crossed)
            assert held[-1] == 23.0 and set(held) <= {22.0, 23.0}, held
            assert second.settings.zones["office"].mode.value == "heat"
            # The state says the program runs, and when it next switches.
            state = state_of(
                await recorder.wait_for(OFFICE, lambda m: target(m) == 18.0, after=crossed)
            )
            assert state["schedule"] is True
            assert state["next_switch"] == f"{POINTS[3][0]:%Y-%m-%d %H:%M}"
            # Switched off, the point at 20 °C passes by; switched on, it applies.
            off = len(recorder.messages)
            await set_office(mosquitto, "schedule", "OFF")
            switched_off = await recorder.wait_for(
                OFFICE, lambda m: state_of(m)["schedule"] is False, after=off
            )
            state = state_of(switched_off)
            assert state["next_switch"] is None
            last_point = local_seconds(POINTS[3][0].timestamp())
            await wait_until(
                lambda: second.program_time() > last_point + 120,
                START_TIMEOUT_S,
                "the last switch point to pass",
            )
            assert {target(m) for m in recorder.messages[off:] if m.topic.matches(OFFICE)} == {18.0}
            await set_office(mosquitto, "schedule", "ON")
            await recorder.wait_for(OFFICE, lambda m: target(m) == 20.0, after=off)
    assert not recorder.on(f"{BASE}/error")


async def test_optimal_start_heats_an_off_zone_before_its_program_switches_it_on(
    tmp_path, mosquitto: Mosquitto
):
    """The office is off until its program switches it to heat at 23 °C forty (simulated)
    minutes on: the room needs longer than that, so the controller heats it already, while
    the zone still says off (the homeowner's setting) and its next switch point."""
    later = NOW + timedelta(minutes=40)
    program = (
        f'[[zones.schedule]]\nat = "{NOW:%H:%M}"\nmode = "off"\n\n'
        f'[[zones.schedule]]\nat = "{later:%H:%M}"\nmode = "heat"\ntemperature = 23.0\n\n'
    )
    async with (
        house_with_program(tmp_path, mosquitto, program) as (loaded, recorder),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        early = await recorder.wait_for(
            OFFICE,
            lambda m: state_of(m)["mode"] == "off" and state_of(m)["action"] == "heating",
            timeout=START_TIMEOUT_S,
        )
        assert supervisor.program_time() < local_seconds(later.timestamp())
        assert state_of(early)["next_switch"] == f"{later:%Y-%m-%d %H:%M}"
    assert not recorder.on(f"{BASE}/error")
