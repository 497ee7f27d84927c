"""The same scenario through the full stack (supervisor + Modbus TCP + simulator, accelerated)
and through the pure benchmark gives the same room temperatures (issue 3: ≤ 0.3 K RMS)."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import pytest

from minisplit.controller.config import ControlConfig
from minisplit.hil.bench import TRACE_EVERY_S, run_minisplit
from minisplit.hil.scenario import Scenario, load_scenario, shipped_scenarios
from minisplit.testing.harness import put_settings

SPEED = 240.0
HOURS = 2.5


def scenario_for_test(directory: Path) -> Path:
    path = next(p for p in shipped_scenarios() if p.name == "unrenovated-january.toml")
    # Start at 06:00 so that the morning schedule switch lies inside the window.
    text = (
        path.read_text()
        .replace("duration_days = 7", f"duration_hours = {HOURS}")
        .replace('start = "01-08 00:00"', 'start = "01-09 05:30"')
    )
    written = directory / "scenario.toml"
    written.write_text(text)
    return written


# The homeowner below sets the scenario's schedule as settings, as the bench's homeowner does:
# the controller has no program to look ahead to, so the bench runs without its optimal start
# too (the full stack's optimal start: tests/integration/test_programs.py).
NO_LOOKAHEAD = "[control]\noptimal_start = false\n"


def config_for(scenario: Scenario, directory: Path) -> Path:
    """A config with the scenario's zones (the rig points its bus at the simulator)."""
    zones = "".join(
        f'[[zones]]\nid = "{zone}"\nname = "{zone}"\nbus = "sim"\nunit_id = {11 + i}\n'
        f"min_temperature = 10.0\nmax_temperature = 30.0\n\n"
        for i, zone in enumerate(scenario.zones)
    )
    text = (
        'controller_id = "hil"\n\n'
        '[buses.sim]\ntype = "tcp"\nhost = "127.0.0.1"\nport = 1\n\n'
        '[outdoor_unit]\nbus = "sim"\nunit_id = 1\n\n' + zones + NO_LOOKAHEAD
    )
    written = directory / "hil.toml"
    written.write_text(text)
    return written


def interpolate(times: list[float], values: list[float], t: float) -> float:
    for i in range(1, len(times)):
        if times[i] >= t:
            span = times[i] - times[i - 1]
            w = (t - times[i - 1]) / span if span else 0.0
            return values[i - 1] + w * (values[i] - values[i - 1])
    return values[-1]


@pytest.mark.integration
async def test_full_stack_matches_the_pure_benchmark(tmp_path, hil_factory):
    scenario_path = scenario_for_test(tmp_path)
    scenario = load_scenario(scenario_path)
    bench = run_minisplit(scenario, trace=True, control=ControlConfig(optimal_start=False)).trace
    assert bench is not None

    samples: list[tuple[float, dict[str, float]]] = []
    config = config_for(scenario, tmp_path)
    async with hil_factory(config=config, scenario=scenario_path, speed=SPEED) as rig:
        simulator, supervisor = rig.sim, rig.supervisor

        async def follow_schedule() -> None:
            """The homeowner's schedule, as the bench applies it, and a sample every 5 min."""
            next_sample = scenario.start_s
            while True:
                t = simulator.sim_time_s
                for zone in scenario.zones:
                    put_settings(supervisor, zone, scenario.settings_at(zone, t))
                if t >= next_sample:
                    samples.append(
                        (
                            t - scenario.start_s,
                            {z: simulator.room_temperature(z) for z in scenario.zones},
                        )
                    )
                    next_sample += TRACE_EVERY_S
                await asyncio.sleep(0.005)

        schedule = asyncio.create_task(follow_schedule())
        try:
            await rig.wait_for(
                lambda: simulator.sim_time_s >= scenario.end_s,
                timeout_s=HOURS * 3600 / SPEED * 3 + 10,
                what="the scenario's end in the simulator",
            )
        finally:
            schedule.cancel()

    times = [t - scenario.start_s for t in bench.times_s]
    errors = [
        air[zone] - interpolate(times, bench.air_c[zone], t)
        for t, air in samples
        if t <= times[-1]
        for zone in scenario.zones
    ]
    assert len(errors) >= len(scenario.zones) * (HOURS * 12 - 2)
    rms = math.sqrt(sum(e * e for e in errors) / len(errors))
    # Both must have done something: the rooms move by more than the agreement asked for.
    spread = max(max(v) - min(v) for v in bench.air_c.values())
    assert spread > 0.5
    print(f"full stack vs bench over {HOURS} h: {rms:.3f} K RMS, rooms moved up to {spread:.2f} K")
    assert rms <= 0.3, f"full stack vs bench: {rms:.3f} K RMS"
