"""A setpoint published on MQTT reaches the head's register and comes back in the zone state,
through a real mosquitto, the real supervisor and the real simulator."""

from __future__ import annotations

import asyncio
import json

import aiomqtt
import pytest

from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import running, tcp_config, wait_until

SPEED = 30.0


@pytest.mark.integration
async def test_setpoint_round_trip_through_mosquitto(tmp_path, mosquitto):
    port = free_port()
    loaded = tcp_config(port, tmp_path / "state.json", mqtt_port=mosquitto.port)
    simulator = Simulator(loaded, speed=SPEED)
    base = "minisplit/demo"
    states: dict[str, dict] = {}
    async with (
        simulator.running(tcp=("127.0.0.1", port)),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
        aiomqtt.Client(mosquitto.host, mosquitto.port) as client,
    ):
        await client.subscribe(f"{base}/#")

        async def collect() -> None:
            async for message in client.messages:
                topic = str(message.topic)
                if topic.endswith("/state"):
                    states[topic] = json.loads(message.payload)
                elif topic.endswith("/status"):
                    states[topic] = {"status": message.payload.decode()}

        collector = asyncio.create_task(collect())
        try:
            await wait_until(
                lambda: states.get(f"{base}/status") == {"status": "online"}, 10, "status online"
            )
            await wait_until(lambda: supervisor.cycles >= 1, 10, "a control cycle")
            await client.publish(f"{base}/zone/living/set/mode", "heat")
            await client.publish(f"{base}/zone/living/set/temperature", "23.5")
            await wait_until(
                lambda: simulator.head_register("living", "display_setpoint") == 23.5,
                10,
                "the head's display_setpoint register to show 23.5",
            )
            zone_topic = f"{base}/zone/living/state"
            await wait_until(
                lambda: (
                    states.get(zone_topic, {}).get("target_temperature") == 23.5
                    and states[zone_topic]["mode"] == "heat"
                ),
                10,
                "the zone state on MQTT to show the new setpoint",
            )
            # The setting is persisted for the next start.
            await wait_until(
                lambda: (
                    b"23.5" in (tmp_path / "state.json").read_bytes()
                    if (tmp_path / "state.json").exists()
                    else False
                ),
                10,
                "the state file",
            )
            # The unit state is published too.
            await wait_until(lambda: f"{base}/unit/state" in states, 10, "unit state")
            # Rejected commands leave the setting as it was; MQTT keeps one client's order,
            # so once the later fan command has landed the rejects have been handled.
            await client.publish(f"{base}/zone/living/set/temperature", "hot")
            await client.publish(f"{base}/zone/living/set/temperature", "99")
            await client.publish(f"{base}/zone/living/set/fan_mode", "high")
            await wait_until(
                lambda: simulator.head_register("living", "fan") == 4, 10, "fan high on the head"
            )
            assert supervisor.settings.zones["living"].target_temperature == 23.5
        finally:
            collector.cancel()
