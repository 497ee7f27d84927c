"""The real supervisor against the real simulator over Modbus TCP, with faults injected."""

from __future__ import annotations

import asyncio
import logging

import pytest

from controller.settings import ZoneMode
from controller.supervisor import Supervisor
from hil.broker import free_port
from hil.faults import Fault, FaultKind
from hil.simulator import Simulator
from tests.integration.harness import running, tcp_config, wait_until

SPEED = 60.0  # one wall second is one simulated minute; a 10 s period is 1/6 wall second


def fast_failing_config(tmp_path, port: int):
    """The demo house with short bus timeouts, so that a silent unit goes offline in ~1 s."""
    loaded = tcp_config(port, tmp_path / "state.json")
    bus = loaded.config.buses["sim"]
    loaded.config.buses["sim"] = bus.model_copy(update={"timeout_s": 0.2, "retries": 1})
    return loaded


def heat(supervisor: Supervisor, *zones: str, target: float = 22.0) -> None:
    for zone_id in zones:
        zone = supervisor.zones[zone_id]
        zone.settings = zone.settings.with_changes(mode=ZoneMode.HEAT, target_temperature=target)


@pytest.mark.integration
async def test_a_failing_head_goes_unavailable_alone_and_resumes_with_its_settings(
    tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="controller.supervisor")
    port = free_port()
    loaded = fast_failing_config(tmp_path, port)
    simulator = Simulator(loaded, speed=SPEED)
    async with (
        simulator.running(tcp=("127.0.0.1", port)),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        heat(supervisor, "living", "bedroom")
        zones = supervisor.zones
        await wait_until(lambda: supervisor.cycles >= 3, 20, "the first cycles")
        await wait_until(
            lambda: simulator.head_register("bedroom", "power") == 1, 10, "bedroom heating"
        )
        simulator.faults.add(Fault(FaultKind.VANISH, "bedroom", duration_s=6 * 60))
        await wait_until(lambda: not zones["bedroom"].available, 10, "bedroom unavailable")
        assert supervisor.zone_state("bedroom", supervisor.now())["available"] is False

        # Until the bus marks it offline (3 failed requests, each with its timeout and
        # retries) the silent head holds the line; from then on it fails fast and the others
        # keep their control cycle on time.
        bus = supervisor.buses["sim"]
        await wait_until(lambda: not bus.is_online(13), 15, "the bedroom head offline")
        cycles, loop = supervisor.cycles, asyncio.get_running_loop()
        started = loop.time()
        await asyncio.sleep(2.0)
        expected = (loop.time() - started) * SPEED / supervisor.period_s
        assert supervisor.cycles - cycles >= 0.8 * expected
        assert all(zones[z].available for z in ("living", "kitchen", "office"))

        # Meanwhile the head loses its settings (a power cut) and the user changes the target.
        simulator.head("bedroom").write("power", 0)
        heat(supervisor, "bedroom", target=24.0)

        await wait_until(lambda: zones["bedroom"].available, 20, "the bedroom head back")
        back_at = supervisor.cycles
        await wait_until(
            lambda: (
                simulator.head_register("bedroom", "power") == 1
                and simulator.head_register("bedroom", "display_setpoint") == 24.0
            ),
            10,
            "the bedroom's settings re-applied",
        )
        assert supervisor.cycles - back_at <= 2
        lost = [r for r in caplog.records if "zone bedroom head does not answer" in r.message]
        assert len(lost) == 1  # logged once, not once per cycle


@pytest.mark.integration
async def test_odu_unreachable_heads_ask_for_nothing_then_restart_through_interlocks(
    tmp_path, caplog
):
    caplog.set_level(logging.WARNING, logger="controller.supervisor")
    port = free_port()
    loaded = fast_failing_config(tmp_path, port)
    simulator = Simulator(loaded, speed=SPEED)
    async with (
        simulator.running(tcp=("127.0.0.1", port)),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        heat(supervisor, "living")
        await wait_until(
            lambda: simulator.head_register("living", "capacity_request") > 0, 20, "a request"
        )
        simulator.faults.add(Fault(FaultKind.VANISH, "odu", duration_s=10 * 60))
        await wait_until(lambda: not supervisor.odu_available, 10, "the ODU unreachable")
        await wait_until(
            lambda: simulator.head_register("living", "capacity_request") == 0,
            5,
            "the heads' safe state",
        )
        state = supervisor.zone_state("living", supervisor.now())
        assert state["action"] == "idle" and state["fault"] == "odu_comms"
        assert "ODU offline" in supervisor.status_line()

        await wait_until(lambda: supervisor.odu_available, 30, "the ODU back")
        await wait_until(
            lambda: (
                simulator.head_register("living", "capacity_request") > 0
                and simulator.odu_register("compressor_frequency") > 0
            ),
            30,
            "the compressor running again",
        )
        assert supervisor.zone_state("living", supervisor.now())["fault"] is None
        assert not [r for r in caplog.records if "safety check" in r.message]
