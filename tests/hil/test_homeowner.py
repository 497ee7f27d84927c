"""The homeowner's commands: what the controller parses from them is the schedule's setting,
whatever the zone was set to before, in °C and in °F; over a real broker, who is told what and
when (the end-to-end run with the controller is tests/integration/test_sim_schedules.py)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.config import MqttConfig, ZoneConfig
from minisplit.controller.core.schedule import settings_transitions
from minisplit.controller.core.settings import Preset, ZoneMode, ZoneSettings
from minisplit.controller.core.transitions import (
    HEAT_COOL_DEADBAND_K,
    SetPower,
    SetSwing,
    SetSwingHorizontal,
    ZoneTransition,
    apply_zone,
)
from minisplit.controller.service.commands import ZoneCommand, parse_zone_command
from minisplit.controller.service.temperature_units import TemperatureUnit
from minisplit.drivers.vocabulary import FanSpeed, VanePosition
from minisplit.hil.homeowner import Homeowner, command_message
from minisplit.hil.scenario import parse_scenario
from minisplit.hil.weather import time_of_year
from minisplit.testing.broker import Mosquitto, recording
from tests.hil.test_scenario import MINIMAL

ZONE = ZoneConfig(id="living", name="Living room", bus="sim", unit_id=11)  # setpoints 16..30 °C


@st.composite
def zone_settings(draw: st.DrawFn) -> ZoneSettings:
    """Settings within the zone's limits, to 0.1 °C, with the heat_cool band at least 1 K."""
    tenths = st.integers(160, 300).map(lambda t: t / 10)
    low = draw(st.integers(160, 290).map(lambda t: t / 10))
    high = draw(st.integers(round((low + HEAT_COOL_DEADBAND_K) * 10), 300).map(lambda t: t / 10))
    return ZoneSettings(
        mode=draw(st.sampled_from(ZoneMode)),
        target_temperature=draw(tenths),
        target_temperature_low=low,
        target_temperature_high=high,
        fan_mode=draw(st.sampled_from(FanSpeed)),
        preset=draw(st.sampled_from(Preset)),
    )


def parsed(change: ZoneTransition, unit: TemperatureUnit) -> ZoneTransition:
    field, payload = command_message(change, unit)
    command = parse_zone_command(ZONE, field, payload.encode(), unit)
    assert isinstance(command, ZoneCommand)
    return command.change


@given(before=zone_settings(), wanted=zone_settings())
def test_the_commands_give_any_zone_the_schedule_s_settings_in_celsius(before, wanted):
    changes = [parsed(change, TemperatureUnit.CELSIUS) for change in settings_transitions(wanted)]
    assert changes == settings_transitions(wanted)
    # All the homeowner sets (`last_on_mode` is the controller's memory of the last mode).
    after = apply_zone(before, *changes)
    assert replace(after, last_on_mode=wanted.last_on_mode) == wanted


@given(before=zone_settings(), wanted=zone_settings())
def test_in_fahrenheit_the_setpoints_come_back_within_the_payload_s_rounding(before, wanted):
    unit = TemperatureUnit.FAHRENHEIT
    after = apply_zone(before, *(parsed(c, unit) for c in settings_transitions(wanted)))
    assert (after.mode, after.fan_mode, after.preset) == (
        wanted.mode,
        wanted.fan_mode,
        wanted.preset,
    )
    for side in ("target_temperature", "target_temperature_low", "target_temperature_high"):
        assert abs(getattr(after, side) - getattr(wanted, side)) <= 0.05 / 1.8 + 1e-9  # 0.05 °F


def test_every_zone_change_has_its_command():
    unit = TemperatureUnit.CELSIUS
    for change in (
        SetPower(True),
        SetPower(False),
        SetSwing(VanePosition.SWING),
        SetSwingHorizontal(VanePosition.AUTO),
    ):
        field, payload = command_message(change, unit)
        assert parse_zone_command(ZONE, field, payload.encode(), unit) == ZoneCommand(
            "living", change
        )


# One simulated hour per wall second, from Tuesday Jan 9 06:00: the 06:30 switch point of
# MINIMAL's living room (heat 21 °C after the night's 18 °C) comes half a wall second later.
SPEED = 3600.0
BASE = "minisplit/house"
TEMPERATURE = f"{BASE}/zone/living/set/temperature"


@pytest.mark.integration
async def test_the_controller_is_told_at_each_coming_online_and_at_switch_points(
    mosquitto: Mosquitto,
):
    scenario = parse_scenario(MINIMAL)
    loop = asyncio.get_running_loop()
    origin = loop.time()
    start = time_of_year(1, 9, 6, 0)
    player = Homeowner(
        scenario,
        MqttConfig(host=mosquitto.host, port=mosquitto.port),
        "house",
        lambda: start + (loop.time() - origin) * SPEED,
        SPEED,
    )
    async with recording(mosquitto, f"{BASE}/#") as heard, mosquitto.client() as controller:
        task = asyncio.create_task(player.run())
        try:
            await asyncio.sleep(0.1)
            assert not heard.on(TEMPERATURE)  # nobody listens yet: nothing is sent
            await controller.publish(f"{BASE}/status", "online", qos=1, retain=True)
            told = await heard.wait_for(TEMPERATURE)
            assert told.payload == b"18"  # Monday 22:00's setting still holds at 06:00
            await heard.wait_for(f"{BASE}/zone/living/set/preset_mode")
            first = [m.topic.value.rsplit("/", 1)[1] for m in heard.on(f"{BASE}/zone/+/set/+")]
            assert first == [
                "mode",
                "temperature",
                "temperature_high",
                "temperature_low",
                "fan_mode",
                "preset_mode",
            ]
            switched = await heard.wait_for(TEMPERATURE, lambda m: m.payload == b"21")
            assert loop.time() - origin >= 0.5  # not before 06:30 simulated
            # The controller goes away and comes back: told again, without a switch point.
            seen = len(heard.messages)
            await controller.publish(f"{BASE}/status", "offline", qos=1, retain=True)
            await controller.publish(f"{BASE}/status", "online", qos=1, retain=True)
            again = await heard.wait_for(TEMPERATURE, after=seen)
            assert again.payload == b"21"
            assert loop.time() - origin < 15  # long before the next switch point (22:00)
            # The keep-alive repeats `online`: not a coming online, nothing is sent.
            seen = len(heard.messages)
            await controller.publish(f"{BASE}/status", "online", qos=1, retain=True)
            await heard.wait_for(f"{BASE}/status", after=seen)
            await asyncio.sleep(0.2)
            assert not heard.on(TEMPERATURE)[heard.on(TEMPERATURE).index(again) + 1 :]
            assert switched in heard.messages
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class SwallowingClient:
    """Publishes as aiomqtt does on Python 3.11 when the broker's acknowledgement and a cancel
    arrive together: `wait_for` returns the acknowledgement and the cancel is dropped (the
    task still has it pending: `cancelling()`)."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.publishing = asyncio.Event()
        self.swallowed = False

    async def publish(self, topic: str, payload: str, qos: int) -> None:
        self.published.append(topic)
        self.publishing.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            if self.swallowed:
                raise
            self.swallowed = True  # the first: returned as acknowledged


async def test_a_cancel_dropped_by_a_publish_still_stops_the_player() -> None:
    """The rig and `sim --play-schedules` stop the player by cancelling it: a cancel lost in
    a publish's acknowledgement must not leave it playing (and its stopper waiting) forever."""
    start = time_of_year(1, 9, 6, 0)
    player = Homeowner(parse_scenario(MINIMAL), MqttConfig(), "house", lambda: start, SPEED)
    player._online = True  # the controller is online: the player tells it the settings
    client = SwallowingClient()
    task = asyncio.create_task(player._play(client))  # type: ignore[arg-type]
    await client.publishing.wait()
    task.cancel()
    async with asyncio.timeout(2):
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(client.published) == 1  # nothing more sent once stopped
