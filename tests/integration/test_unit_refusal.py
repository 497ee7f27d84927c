"""Units the controller cannot run on, against the real simulator and a real mosquitto: another
kind of device at a configured unit id, a unit without the registers its profile names, or an
outdoor unit whose identity is nonsense. That
unit is refused (logged once, its `fault` published, named on systemd's STATUS line) and probed
again on a backoff until it answers as it should; everything else runs. A head's temperature is
published even while the outdoor unit has never been reached."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import socket
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.service.supervisor import Supervisor
from minisplit.hil.broker import free_port
from minisplit.hil.faults import Fault, FaultKind
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import MessageRecorder, Mosquitto, recording
from minisplit.testing.harness import put_settings, running, wait_until
from minisplit.testing.processes import BASE, ControllerProcess, controller_config

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

SPEED = 60.0  # the control period of 10 s is a sixth of a wall second
ODU_ID = 1
HEAT = 0  # the head's mode register: 0 heat (docs/reference-unit.md)


def published(recorder: MessageRecorder, topic: str) -> dict | None:
    messages = recorder.on(f"{BASE}/{topic}")
    return json.loads(messages[-1].payload) if messages else None


def shows(recorder: MessageRecorder, topic: str, **expected: object) -> bool:
    state = published(recorder, topic)
    return state is not None and all(state[key] == value for key, value in expected.items())


@contextlib.asynccontextmanager
async def house(
    directory: Path,
    broker: Mosquitto,
    faults: Sequence[Fault] = (),
    zone_extra: dict[str, str] | None = None,
) -> AsyncIterator[tuple[Supervisor, Simulator, MessageRecorder]]:
    """The demo house, its simulator already faulty (``faults``) when the controller starts;
    ``zone_extra`` changes the controller's config only (the units stay as they are)."""
    port = free_port()
    _, units = controller_config(directory, port, broker.port)
    _, loaded = controller_config(directory, port, broker.port, zone_extra=zone_extra)
    simulator = Simulator(units, speed=SPEED)
    for fault in faults:
        simulator.faults.add(fault)
    async with (
        recording(broker) as recorder,
        simulator.running(tcp=("127.0.0.1", port)),
        running(Supervisor(loaded, time_scale=SPEED)) as supervisor,
    ):
        living = supervisor.settings.zones["living"]
        put_settings(
            supervisor, "living", replace(living, mode=ZoneMode.HEAT, target_temperature=26.0)
        )
        yield supervisor, simulator, recorder


async def probe_times(supervisor: Supervisor, count: int) -> list[float]:
    """When (controller time) the next ``count`` probes of the refused outdoor unit went out:
    the cycles in which the bus sent it a request, seen from a task that wakes with each."""
    stats = supervisor.buses["sim"].stats
    times: list[float] = []
    requests = stats(ODU_ID).requests
    while len(times) < count:
        await supervisor.cycle_done.wait()
        if stats(ODU_ID).requests > requests:
            requests = stats(ODU_ID).requests
            times.append(supervisor.now())
    return times


def reads_as_the_head_does(recorder: MessageRecorder, simulator: Simulator) -> bool:
    """The living room's published temperature is its head's reading (rounded to 0.1 K, and
    the room moves a little between the poll and now)."""
    state = published(recorder, "zone/living/state")
    head = simulator.head_register("living", "return_air_temperature")
    current = None if state is None else state["current_temperature"]
    return current is not None and head is not None and abs(current - head) <= 0.15


@pytest.mark.parametrize(
    ("identity", "fault"),
    [
        ({"device_kind": 2}, "wrong_device: device_kind=2"),  # a head answers at its id
        ({"min_frequency": 0.0}, "implausible_identity: min_frequency=0"),
        ({"rated_heating_capacity": 65535}, "implausible_identity: rated_heating_capacity=65535"),
        (
            {"min_frequency": 60.0, "max_frequency": 40.0},
            "implausible_identity: min_frequency=60>max_frequency=40",
        ),
    ],
    ids=["wrong-device", "min-frequency-0", "capacity-65535", "min-above-max"],
)
async def test_an_outdoor_unit_the_controller_cannot_run_on_is_refused_until_it_can(
    tmp_path: Path,
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
    identity: dict[str, float],
    fault: str,
) -> None:
    caplog.set_level(logging.INFO, logger="minisplit.controller")
    faults = [
        Fault(FaultKind.SENSOR_VALUE, "odu", register=name, value=value)
        for name, value in identity.items()
    ]
    async with (
        asyncio.timeout(90),
        house(tmp_path, mosquitto, faults) as (supervisor, simulator, recorder),
    ):
        await wait_until(
            lambda: shows(recorder, "unit/state", fault=fault, available=False), 20, fault
        )
        assert f"ODU refused ({fault})" in supervisor.status_line()
        # The rest runs: the heads are under control (told to ask for no refrigerant, as with
        # an outdoor unit that does not answer), and the rooms' temperatures are published.
        await wait_until(
            lambda: simulator.head_register("living", "power") == 1, 20, "the living head on"
        )
        assert simulator.head_register("living", "mode") == HEAT
        assert simulator.head_register("living", "capacity_request") == 0
        assert simulator.odu_register("frequency_setpoint") == 0
        await wait_until(lambda: reads_as_the_head_does(recorder, simulator), 10, "a temperature")

        # Probed again (one read each time), less and less often.
        probed_at = await probe_times(supervisor, 3)
        gaps = [later - earlier for earlier, later in itertools.pairwise(probed_at)]
        assert supervisor.period_s <= gaps[0] < gaps[1], probed_at
        assert supervisor.odu.info is None

        # The unit is put right: it is taken up at its next probe and heats the living room.
        simulator.faults.clear()
        await wait_until(lambda: supervisor.odu.available, 30, "the outdoor unit accepted")
        await wait_until(
            lambda: shows(recorder, "unit/state", fault=None, available=True), 10, "no fault"
        )
        await wait_until(
            lambda: (simulator.odu_register("frequency_setpoint") or 0) > 0, 30, "the compressor on"
        )
        assert "ODU refused" not in supervisor.status_line()

    messages = [r.getMessage() for r in caplog.records]
    refusals = [m for m in messages if m.startswith("outdoor unit refused")]
    assert len(refusals) == 1, refusals  # once, not at every probe
    assert [r.levelname for r in caplog.records if r.getMessage() in refusals] == ["ERROR"]
    assert f"outdoor unit accepted: it was refused for {fault}" in messages


async def test_a_head_reports_its_temperature_while_the_outdoor_unit_was_never_reached(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    vanished = [Fault(FaultKind.VANISH, "odu")]
    async with (
        asyncio.timeout(60),
        house(tmp_path, mosquitto, vanished) as (supervisor, simulator, recorder),
    ):
        await wait_until(lambda: supervisor.cycles >= 2, 20, "two control cycles")
        await wait_until(lambda: reads_as_the_head_does(recorder, simulator), 10, "a temperature")
        assert supervisor.odu.info is None
        state = published(recorder, "zone/living/state")
        assert state is not None
        assert (state["available"], state["fault"], state["sensor"]) == (True, "odu_comms", "head")
        assert shows(recorder, "unit/state", available=False, fault=None)


async def test_a_head_without_the_registers_its_profile_names_is_refused_and_the_rest_runs(
    tmp_path: Path, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="minisplit.controller")
    reference = (ROOT / "config" / "profiles" / "reference-head.toml").read_text()
    capabilities = "[registers.capabilities]\naddress = 5\n"
    assert capabilities in reference
    profile = tmp_path / "misplaced-head.toml"
    profile.write_text(reference.replace(capabilities, capabilities.replace("= 5", "= 40")))
    fault = "wrong_profile: capabilities exception 0x02"
    async with (
        asyncio.timeout(60),
        house(tmp_path, mosquitto, zone_extra={"office": f'profile = "{profile}"'}) as (
            supervisor,
            simulator,
            recorder,
        ),
    ):
        await wait_until(
            lambda: shows(recorder, "zone/office/state", fault=fault, available=False), 20, fault
        )
        assert f"office refused ({fault})" in supervisor.status_line()
        # The rest runs: the outdoor unit heats the living room.
        await wait_until(
            lambda: (simulator.odu_register("frequency_setpoint") or 0) > 0, 30, "the compressor on"
        )
        assert (simulator.head_register("living", "capacity_request") or 0) > 0
        cycles = supervisor.cycles
        await wait_until(lambda: supervisor.cycles >= cycles + 10, 20, "10 more cycles")
    refusals = [r for r in caplog.records if r.getMessage().startswith("zone office head refused")]
    assert len(refusals) == 1


def _swap_ids(config: Path) -> None:
    """The outdoor unit configured at the living room head's id, and that head at the unit's."""
    text = config.read_text()
    odu = '[outdoor_unit]\nbus = "sim"\nunit_id = 1\n'
    living = 'name = "Living room"\nbus = "sim"\nunit_id = 11\n'
    assert odu in text and living in text
    text = text.replace(odu, odu.replace("= 1\n", "= 11\n"))
    config.write_text(text.replace(living, living.replace("= 11\n", "= 1\n")))


def _notify_socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    return sock


def _notified(sock: socket.socket, into: list[str]) -> list[str]:
    with contextlib.suppress(BlockingIOError):
        while True:
            into.append(sock.recv(4096).decode())
    return into


async def test_minisplit_run_keeps_running_with_units_at_each_others_ids(
    tmp_path: Path, mosquitto: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = free_port()
    config, loaded = controller_config(tmp_path, port, mosquitto.port)
    _swap_ids(config)
    notes: list[str] = []
    with _notify_socket(tmp_path / "notify") as sock:
        monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "notify"))
        simulator = Simulator(loaded, speed=SPEED)
        async with (
            asyncio.timeout(90),
            recording(mosquitto) as recorder,
            simulator.running(tcp=("127.0.0.1", port)),
            mosquitto.client() as client,
        ):
            process = ControllerProcess(config)
            await process.start("--time-scale", f"{SPEED:g}")
            try:
                refused_odu = "wrong_device: device_kind=2"
                refused_head = "wrong_device: device_kind=1"

                def refusals_published() -> bool:
                    return shows(
                        recorder, "unit/state", fault=refused_odu, available=False
                    ) and shows(recorder, "zone/living/state", fault=refused_head, available=False)

                await wait_until(
                    lambda: not process.running or refusals_published(), 20, "both refusals"
                )
                assert process.running, process.output()[-3000:]
                await wait_until(
                    lambda: any("READY=1" in n for n in _notified(sock, notes)), 20, "READY=1"
                )
                ready = next(n for n in notes if "READY=1" in n)
                assert f"ODU refused ({refused_odu})" in ready
                assert f"living refused ({refused_head})" in ready
                assert "zones 3/4 ok" in ready

                # The other zones are controlled: a command reaches the kitchen's head.
                await client.publish(f"{BASE}/zone/kitchen/set/mode", b"heat", qos=1)
                await wait_until(
                    lambda: simulator.head_register("kitchen", "power") == 1,
                    20,
                    "the kitchen head switched on",
                )
                assert simulator.head_register("kitchen", "mode") == HEAT
                # Long enough (in simulated time) for several probes of both refused units.
                began = simulator.sim_time_s
                await wait_until(lambda: simulator.sim_time_s > began + 300, 20, "5 minutes")
                assert process.running, process.output()[-3000:]
            finally:
                await process.stop()
    log = process.output()
    assert "Traceback" not in log and "ExceptionGroup" not in log
    assert log.count("outdoor unit refused: ") == 1
    assert log.count("zone living head refused: ") == 1
