"""The living room after two simulated hours (the example of docs/testing.md)."""

import pytest


@pytest.mark.asyncio
@pytest.mark.minisplit(config="demo", speed=480)
@pytest.mark.minisplit_needs_simulator
async def test_the_living_room_is_comfortable_after_two_simulated_hours(hil):
    await hil.set_zone("living", mode="heat", temperature=21.5)
    await hil.run_until(hours=2)

    assert 20.0 <= hil.room_temperature("living") <= 23.0  # the truth: the room's air
    state = await hil.published_state("living")
    assert state["mode"] == "heat"
    assert state["target_temperature"] == 21.5
    head = await hil.read_register("living", "return_air_temperature")
    assert state["current_temperature"] == pytest.approx(head, abs=0.5)
