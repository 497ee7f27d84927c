"""Implausible room sensors, injected in the real simulator, seen by the real supervisor over
Modbus TCP: the zone stops asking for refrigerant, says why in its `fault`, logs it once, and
recovers by itself."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.hil.faults import Fault, FaultKind
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import DEMO, put_settings, running, tcp_config, wait_until

SPEED = 60.0  # one wall second is one simulated minute
RETURN_AIR = "return_air_temperature"  # the head profile's name for its room sensor
STUCK_AFTER_S = 600.0  # simulated: ten wall seconds at full demand


def faults(supervisor: Supervisor) -> object:
    return supervisor.zone_state("living")["fault"]


def asks_for_refrigerant(simulator: Simulator) -> bool:
    return (simulator.head_register("living", "capacity_request") or 0) > 0


async def injected(
    supervisor: Supervisor, simulator: Simulator, fault: Fault, expected: str
) -> None:
    """The fault is reported and the zone asks for nothing; cleared, the zone heats again."""
    simulator.faults.add(fault)
    await wait_until(lambda: faults(supervisor) == expected, 30, expected)
    await wait_until(lambda: not asks_for_refrigerant(simulator), 5, "no capacity request")
    state = supervisor.zone_state("living")
    assert (state["action"], state["current_temperature"], state["demand"]) == ("idle", None, 0)
    assert f"living {expected.split(', ')[0]}" in supervisor.status_line()
    simulator.faults.clear()
    await wait_until(lambda: faults(supervisor) is None, 10, f"{expected} cleared")
    await wait_until(lambda: asks_for_refrigerant(simulator), 10, "a capacity request again")


@pytest.mark.integration
async def test_sentinel_out_of_range_and_stuck_head_sensors(tmp_path, hil_factory, caplog):
    caplog.set_level(logging.WARNING, logger="minisplit.controller")
    config = tmp_path / "demo-stuck.toml"
    config.write_text(f"{DEMO}\n[sensor_check]\nstuck_full_demand_s = {STUCK_AFTER_S}\n")
    async with asyncio.timeout(120), hil_factory(config=config, speed=SPEED) as rig:
        simulator, supervisor = rig.sim, rig.supervisor
        living = supervisor.settings.zones["living"]
        put_settings(
            supervisor, "living", replace(living, mode=ZoneMode.HEAT, target_temperature=24.0)
        )
        await wait_until(lambda: asks_for_refrigerant(simulator), 20, "the living room heating")
        assert faults(supervisor) is None

        sentinel = Fault(FaultKind.SENSOR_VALUE, "living", register=RETURN_AIR, value=None)
        await injected(supervisor, simulator, sentinel, "sensor_head_missing, sensor_none")
        too_hot = Fault(FaultKind.SENSOR_VALUE, "living", register=RETURN_AIR, value=80.0)
        await injected(supervisor, simulator, too_hot, "sensor_head_out_of_range, sensor_none")

        # Frozen while the room still wants all the head has: the zone keeps asking for
        # `stuck_full_demand_s`, then gives up on the reading.
        stuck = Fault(FaultKind.STUCK_SENSOR, "living", register=RETURN_AIR)
        simulator.faults.add(stuck)
        began = supervisor.now()
        await wait_until(
            lambda: faults(supervisor) == "sensor_head_stuck, sensor_none", 30, "stuck found"
        )
        # The reading may have last changed a poll before the fault froze it: the controller
        # counts from then. A check that gave up at once would be ~STUCK_AFTER_S early.
        assert supervisor.now() - began >= STUCK_AFTER_S - supervisor.period_s
        await wait_until(lambda: not asks_for_refrigerant(simulator), 5, "no capacity request")
        simulator.faults.clear()
        await wait_until(lambda: faults(supervisor) is None, 10, "stuck cleared")

    # Each fault logged once when it began and once when it ended, not every tick.
    for name in ("sensor_head_missing", "sensor_head_out_of_range", "sensor_head_stuck"):
        began_logs = [
            r for r in caplog.records if r.getMessage().startswith(f"zone living: {name};")
        ]
        ended_logs = [r for r in caplog.records if f"zone living: {name} is over" in r.getMessage()]
        assert (len(began_logs), len(ended_logs)) == (1, 1), name


@pytest.mark.integration
async def test_a_head_not_reached_yet_has_no_sensor_faults_to_log(tmp_path, caplog):
    """With no head reachable, each zone logged `sensor_head_missing` and `sensor_none` as
    WARNING before any head was found (and `… is over` once it was): a head not reached is
    reported offline, its unread sensors are no fault on top. Found, a broken sensor is."""
    caplog.set_level(logging.WARNING, logger="minisplit.controller")
    port = free_port()
    loaded = tcp_config(port, tmp_path / "state.json")
    simulator = Simulator(loaded, speed=SPEED)
    simulator.faults.add(Fault(FaultKind.SENSOR_VALUE, "living", register=RETURN_AIR, value=None))
    async with (
        asyncio.timeout(60),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        await wait_until(lambda: supervisor.cycles >= 3, 20, "three cycles with no unit")
        assert not any(zone.available for zone in supervisor.heads.values())
        assert sensor_warnings(caplog) == []
        async with simulator.running(tcp=("127.0.0.1", port)):
            await wait_until(
                lambda: all(zone.available for zone in supervisor.heads.values()),
                30,
                "every head found",
            )
            await wait_until(lambda: faults(supervisor) is not None, 10, "the living room's fault")
            cycles = supervisor.cycles
            await wait_until(lambda: supervisor.cycles >= cycles + 2, 10, "two more cycles")
    assert [line.partition(";")[0] for line in sensor_warnings(caplog)] == [
        "zone living: sensor_head_missing",
        "zone living: sensor_none",
    ]


def sensor_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The controller's lines on room sensors (at 60x a heartbeat may lapse: not about those)."""
    messages = (
        r.getMessage()
        for r in caplog.records
        if r.name == "minisplit.controller.service.sensor_log"
    )
    return [message for message in messages if ": sensor_" in message]
