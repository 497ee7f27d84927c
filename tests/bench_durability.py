"""Zero settings lost over randomized kill -9 / restart cycles (issue 4's goal), and over a
failing disk that recovers, with the service stopped or killed around the recovery.

    .venv/bin/python -m tests.bench_durability [--cycles 100] [--seed N]
    .venv/bin/python -m tests.bench_durability --attack disk [--cycles 30] [--seed N]

A real mosquitto and the simulator run in this process; the controller is a real
`minisplit run` subprocess that is killed with SIGKILL at random moments around setting
changes (sometimes right after it published a change), then restarted. Every setting the
controller had published before it died must be restored. Prints the counts; exits 1 if any
acknowledged setting was lost.

``--attack disk``: each cycle makes the state directory unwritable, sets a zone's temperature
(the controller publishes it), makes the disk writable again and then, at random: stops the
service with SIGTERM before the write is retried (the process is paused across the
recovery to pin that moment), stops it with SIGTERM at once (racing the retry), or waits
until the controller says the setting is saved and kills it with SIGKILL. After the restart
the setting must be there.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiomqtt

from minisplit.controller.config import LoadedConfig
from minisplit.hil.broker import free_port, mosquitto_path
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import MessageRecorder, Mosquitto, recording
from minisplit.testing.processes import (
    BASE,
    ControllerProcess,
    controller_config,
    latest_state,
    unwritable,
    wait_online,
)
from tests.integration.durability import durability_trial

# How each disk cycle ends once the disk is writable again.
STOPS = ("SIGTERM before the retry", "SIGTERM at once", "SIGKILL once saved")


@dataclass
class DiskReport:
    cycles: Counter[str] = field(default_factory=Counter)
    lost: Counter[str] = field(default_factory=Counter)
    flagged: int = 0  # cycles in which the controller published `state_unsaved`
    never_saved: int = 0  # SIGKILL cycles in which it never published that it saved again
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total = sum(self.cycles.values())
        ways = ", ".join(f"{way}: {self.lost[way]}/{self.cycles[way]} lost" for way in STOPS)
        return (
            f"{total} disk failure / recovery cycles, {sum(self.lost.values())} settings lost"
            f" ({ways}); state_unsaved published in {self.flagged}/{total}, saved again"
            f" not said within 30 s in {self.never_saved}/{self.cycles[STOPS[2]]}"
        )


def _unsaved(message: aiomqtt.Message) -> bool:
    assert isinstance(message.payload, bytes)
    return "state_unsaved" in (json.loads(message.payload)["fault"] or "")


async def disk_trial(
    cycles: int,
    config: Path,
    loaded: LoadedConfig,
    recorder: MessageRecorder,
    client: aiomqtt.Client,
    rng: random.Random,
) -> DiskReport:
    report = DiskReport()
    zones = [zone.id for zone in loaded.config.zones]
    state_dir = loaded.config.state_file.parent
    process = ControllerProcess(config)
    await process.start()
    try:
        online = await wait_online(recorder, process, len(recorder.messages))
        for cycle in range(cycles):
            zone, stop = rng.choice(zones), rng.choice(STOPS)
            topic = f"{BASE}/zone/{zone}/state"
            shown = latest_state(recorder, topic, online, len(recorder.messages))
            assert shown is not None
            target = 17.0 + rng.randrange(20) * 0.5
            target = target if target != shown["target_temperature"] else target + 0.5
            with unwritable(state_dir):
                await client.publish(f"{BASE}/zone/{zone}/set/temperature", str(target), qos=1)

                def shows_target(m: aiomqtt.Message, t: float = target) -> bool:
                    return json.loads(m.payload)["target_temperature"] == t

                await recorder.wait_for(topic, shows_target, after=online, timeout=10)
                try:  # bounded: a controller that never says so is what is measured
                    await recorder.wait_for(f"{BASE}/unit/state", _unsaved, after=online)
                    report.flagged += 1
                except AssertionError:
                    pass
                recovered = len(recorder.messages)
                if stop == STOPS[0]:
                    process.send(signal.SIGSTOP)
            if stop == STOPS[2]:
                try:  # the unit state is published on change: bounded, as above
                    await recorder.wait_for(
                        f"{BASE}/unit/state", lambda m: not _unsaved(m), after=recovered, timeout=30
                    )
                except AssertionError:
                    report.never_saved += 1
                process.kill()
            else:
                process.send(signal.SIGTERM)
                if stop == STOPS[0]:
                    process.send(signal.SIGCONT)
            await process.wait()
            offline = await recorder.wait_for(
                f"{BASE}/status", lambda m: m.payload == b"offline", after=online, timeout=10
            )
            await process.start()
            online = await wait_online(recorder, process, recorder.messages.index(offline))
            restored = latest_state(recorder, topic, online, len(recorder.messages))
            assert restored is not None
            report.cycles[stop] += 1
            if restored["target_temperature"] != target:
                report.lost[stop] += 1
                report.problems.append(
                    f"cycle {cycle} ({stop}): {zone} published {target:g},"
                    f" restarted at {restored['target_temperature']:g}"
                )
    finally:
        await process.stop()
    return report


async def bench(cycles: int, seed: int, attack: str) -> int:
    binary = mosquitto_path()
    if binary is None:
        print("mosquitto is not installed (apt-get install mosquitto)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="minisplit-durability-") as tmp:
        directory = Path(tmp)
        (directory / "broker").mkdir()
        broker = Mosquitto(binary, directory / "broker", free_port())
        broker.start()
        try:
            modbus_port = free_port()
            config, loaded = controller_config(directory, modbus_port, broker.port)
            simulator = Simulator(loaded, speed=1.0)
            started = time.perf_counter()
            async with (
                simulator.running(tcp=("127.0.0.1", modbus_port)),
                recording(broker) as recorder,
                broker.client() as client,
            ):
                trial = disk_trial if attack == "disk" else durability_trial
                report = await trial(cycles, config, loaded, recorder, client, random.Random(seed))
                errors = recorder.on("minisplit/demo/error")
            elapsed = time.perf_counter() - started
        finally:
            broker.stop()
    print(f"seed {seed}: {report.summary()} in {elapsed:.0f} s")
    for problem in report.problems:
        print(f"  LOST: {problem}")
    for message in errors:
        print(f"  unexpected reject: {message.payload!r}")
    lost = sum(report.lost.values()) if isinstance(report, DiskReport) else report.lost
    return 0 if lost == 0 and not errors else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attack", choices=("kill9", "disk"), default="kill9")
    parser.add_argument("--cycles", type=int, default=None, help="100 (kill9) or 30 (disk)")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    cycles = args.cycles or (30 if args.attack == "disk" else 100)
    return asyncio.run(bench(cycles, seed, args.attack))


if __name__ == "__main__":
    sys.exit(main())
