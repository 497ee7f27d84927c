"""A setpoint published on MQTT reaches the head's register and comes back in the zone state,
through a real mosquitto, the real supervisor and the real simulator (the kit's `hil` rig)."""

from __future__ import annotations

import json

import pytest

from minisplit.testing.harness import wait_until


@pytest.mark.integration
@pytest.mark.minisplit(config="demo", speed=30)
async def test_setpoint_round_trip_through_mosquitto(hil):
    simulator, supervisor, recorder = hil.sim, hil.supervisor, hil.recorder
    base = hil.base_topic
    state_file = hil.loaded.config.state_file
    await wait_until(lambda: supervisor.cycles >= 1, 10, "a control cycle")
    await hil.set_zone("living", mode="heat", temperature="23.5")
    await wait_until(
        lambda: simulator.head_register("living", "display_setpoint") == 23.5,
        10,
        "the head's display_setpoint register to show 23.5",
    )
    await recorder.wait_for(
        f"{base}/zone/living/state",
        lambda m: json.loads(m.payload)["target_temperature"] == 23.5,
        timeout=10,
    )
    state = await hil.published_state("living")
    assert (state["target_temperature"], state["mode"]) == (23.5, "heat")
    # The setting is persisted for the next start.
    await wait_until(
        lambda: b"23.5" in state_file.read_bytes() if state_file.exists() else False,
        10,
        "the state file",
    )
    # The unit state is published too.
    await recorder.wait_for(f"{base}/unit/state", timeout=10)
    # Rejected commands leave the setting as it was; MQTT keeps one client's order, so once
    # the later fan command has landed the rejects have been handled.
    await hil.set_zone("living", temperature="hot")
    await hil.set_zone("living", temperature="99")
    await hil.set_zone("living", fan_mode="high")
    await wait_until(
        lambda: simulator.head_register("living", "fan") == 4, 10, "fan high on the head"
    )
    assert supervisor.settings.zones["living"].target_temperature == 23.5
