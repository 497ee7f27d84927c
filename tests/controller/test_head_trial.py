"""`minisplit test-head` against the real simulator: a head switched on through the product's
control, watched, switched off keeping the interlocks, its settings written back; refusals
(a controller running, a compressor already running, a faulted head) and bad arguments."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from minisplit.controller.cli import main
from minisplit.controller.config import LoadedConfig, load_config
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.head_trial import Sample, TrialRefused, run_trial
from minisplit.controller.service.persistence import hold_state_lock
from minisplit.controller.unit_access import driver_for, opened_bus, zone_target
from minisplit.hil.broker import free_port
from minisplit.hil.faults import Fault, FaultKind
from minisplit.hil.simulator import Simulator
from minisplit.testing.harness import wait_until, with_heartbeat
from tests.fixtures.commissioning import demo_config

SPEED = 30.0
MIN_OFF_S = MIN_ON_S = 180.0  # the demo's interlocks (the config's defaults)
PERIOD_S = 10.0


@contextlib.asynccontextmanager
async def served(
    tmp_path: Path, demo: str = "demo"
) -> AsyncIterator[tuple[Simulator, LoadedConfig]]:
    """A shipped demo house on the simulator at SPEED, and its config (a long heartbeat: the
    compressed clock must not lapse it)."""
    port = free_port()
    path = demo_config(tmp_path, port) if demo == "demo" else _other_demo(tmp_path, port, demo)
    loaded = with_heartbeat(load_config(path), 600)
    async with Simulator(loaded, speed=SPEED).running(tcp=("127.0.0.1", port)) as sim:
        yield sim, loaded


def _other_demo(directory: Path, port: int, demo: str) -> Path:
    from minisplit.testing.processes import controller_config

    path, _ = controller_config(directory, port, 1, demo=demo)
    return path


async def _set_head(loaded: LoadedConfig, zone_id: str, values: dict[str, float | str]) -> None:
    target = zone_target(loaded, zone_id)
    async with opened_bus(target.bus_name, target.bus) as bus:
        await driver_for(bus, target).write_values(values)


async def _read_head(loaded: LoadedConfig, zone_id: str, names: list[str]) -> dict[str, object]:
    target = zone_target(loaded, zone_id)
    async with opened_bus(target.bus_name, target.bus) as bus:
        reading, _ = await driver_for(bus, target).read_each(names)
    return {
        n: reading.label_or_none(n) if target.profile[n].enum else reading.value(n) for n in names
    }


def _runs(samples: list[Sample]) -> list[tuple[float, float]]:
    """The compressor's runs as (first, last) sample times."""
    runs: list[tuple[float, float]] = []
    was_on = False
    for sample in samples:
        on = bool(sample.compressor_running) or (sample.compressor_hz or 0) > 0
        if on and not was_on:
            runs.append((sample.elapsed_s, sample.elapsed_s))
        elif on:
            runs[-1] = (runs[-1][0], sample.elapsed_s)
        was_on = on
    return runs


async def test_a_reference_head_heats_and_is_put_back_as_it_was(tmp_path):
    async with served(tmp_path) as (_, loaded):
        settings = ["power", "mode", "fan", "vane_vertical", "display_setpoint"]
        await _set_head(loaded, "living", {"mode": "cool", "fan": "high", "vane_vertical": "3"})
        before = await _read_head(loaded, "living", settings)
        assert before["power"] == "off" and before["mode"] == "cool"
        result = await run_trial(
            loaded, "living", ZoneMode.HEAT, setpoint_c=24.0, duration_s=300, time_scale=SPEED
        )
        after = await _read_head(loaded, "living", settings)
    verdicts = {check.name: check.verdict for check in result.checks}
    assert verdicts == {
        "on in mode": "pass",
        "thermo-on": "not reported",
        "compressor": "pass",
        "air": "pass",
    }
    assert result.passed and not result.not_restored
    assert after == before  # cool, fan high, vane 3, off: as it was
    # The interlocks: no start within the minimum off time of the trial's start (the last stop
    # is unknown, so it counts as now), and the one run lasted its minimum on time.
    (first, last), *more = _runs(result.samples)
    assert not more
    assert first >= MIN_OFF_S - PERIOD_S
    assert last - first >= MIN_ON_S - 2 * PERIOD_S
    assert result.samples[-1].power is False


@pytest.mark.parametrize("demo", ["demo-intesis", "demo-gateway"])
async def test_a_setpoint_head_cools_and_is_put_back(tmp_path, demo):
    """Intesis: the external room temperature goes back to the head's own sensor after; the
    CoolMasterNet gateway: its thermo-on shows the head's thermostat calling."""
    async with served(tmp_path, demo) as (sim, loaded):
        zone = loaded.config.zones[0]
        settings = ["power", "mode", "display_setpoint"]
        before = await _read_head(loaded, zone.id, settings)
        result = await run_trial(loaded, zone.id, ZoneMode.COOL, duration_s=300, time_scale=SPEED)
        after = await _read_head(loaded, zone.id, settings)
        external = sim.head(zone.id).firmware.external_temperature
    verdicts = {check.name: check.verdict for check in result.checks}
    assert verdicts["on in mode"] == "pass"
    assert verdicts["air"] == "pass"
    assert result.setpoint_c <= zone.max_temperature - 3  # below the room, so that it calls
    assert after == before
    assert not result.not_restored
    if demo == "demo-intesis":
        assert verdicts["thermo-on"] == "not reported"
        assert "external_temperature: released to the head's sensor" in result.restored
        assert external is None  # the head regulates on its own sensor again
    else:
        assert verdicts["thermo-on"] == "pass"
    assert result.passed


async def test_a_running_compressor_is_not_taken_over(tmp_path):
    """The unit's own logic runs it (no controller): a trial could stop it before its minimum
    on time, so it is refused before anything is written."""
    async with served(tmp_path) as (sim, loaded):
        await _set_head(loaded, "living", {"power": "on", "mode": "heat", "display_setpoint": 28})
        await wait_until(lambda: (sim.odu_register("compressor_frequency") or 0) > 0, 60, "a run")
        with pytest.raises(TrialRefused, match=r"runs .* on the unit's own logic"):
            await run_trial(loaded, "living", ZoneMode.HEAT, duration_s=300, time_scale=SPEED)


async def test_a_head_reporting_a_fault_is_not_tried(tmp_path):
    async with served(tmp_path) as (sim, loaded):
        sim.faults.add(Fault(FaultKind.SENSOR_BROKEN, "bedroom", register="return_air_temperature"))
        await asyncio.sleep(0.5)
        with pytest.raises(TrialRefused, match=r"reports a fault .*clear it first"):
            await run_trial(loaded, "bedroom", ZoneMode.HEAT, duration_s=300, time_scale=SPEED)


async def test_refused_while_the_controller_runs_with_the_config(tmp_path, capsys):
    config = demo_config(tmp_path, free_port())
    state_file = load_config(config).config.state_file
    state_file.parent.mkdir(parents=True, exist_ok=True)
    lock = hold_state_lock(state_file)  # as `minisplit run` does
    assert lock is not None
    try:
        code = main(["test-head", "-c", str(config), "--zone", "living"])
    finally:
        os.close(lock)
    assert code == 1
    assert "not contacting the units" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--zone", "attic"], "no zone 'attic' in the config (zones: living"),
        (["--zone", "living", "--minutes", "1"], "--minutes takes 5 to 60"),
        (["--zone", "living", "--setpoint", "45"], "--setpoint 45 is outside zone living's"),
        (["--zone", "living", "--mode", "dry"], "invalid choice: 'dry'"),
        (["--zone", "living", "--time-scale", "-3"], "--time-scale takes above 0"),
    ],
)
def test_bad_arguments_are_refused_before_any_unit_is_contacted(tmp_path, capsys, argv, said):
    config = demo_config(tmp_path, 1)  # nothing listens there: only the arguments are judged
    with contextlib.suppress(SystemExit):
        assert main(["test-head", "-c", str(config), *argv]) == 2
    assert said in capsys.readouterr().err


async def test_ended_early_it_still_switches_the_head_off_and_puts_it_back(tmp_path):
    """Ctrl-C (a cancel) during the trial: the head goes off through the control and its
    settings are written back; the result says it ended early, not that the head failed."""
    async with served(tmp_path) as (sim, loaded):
        before = await _read_head(loaded, "office", ["power", "mode", "display_setpoint"])
        trial = asyncio.create_task(
            run_trial(loaded, "office", ZoneMode.HEAT, duration_s=300, time_scale=SPEED)
        )
        await wait_until(lambda: sim.head_register("office", "power") == 1, 30, "the head on")
        trial.cancel()
        result = await trial
        after = await _read_head(loaded, "office", ["power", "mode", "display_setpoint"])
    assert result.ended_early and not result.passed
    assert result.samples[-1].power is False
    assert after == before
