"""Zero settings lost over randomized kill -9 / restart cycles (issue 4's goal).

    .venv/bin/python -m tests.bench_durability [--cycles 100] [--seed N]

A real mosquitto and the simulator run in this process; the controller is a real
`minisplit run` subprocess that is killed with SIGKILL at random moments around setting
changes (sometimes right after it published a change), then restarted. Every setting the
controller had published before it died must be restored. Prints the counts; exits 1 if any
acknowledged setting was lost.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

from hil.broker import free_port, mosquitto_path
from hil.simulator import Simulator
from tests.fixtures.broker import Mosquitto, recording
from tests.integration.processes import controller_config, durability_trial


async def bench(cycles: int, seed: int) -> int:
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
                report = await durability_trial(
                    cycles, config, loaded, recorder, client, random.Random(seed)
                )
                errors = recorder.on("minisplit/demo/error")
            elapsed = time.perf_counter() - started
        finally:
            broker.stop()
    print(f"seed {seed}: {report.summary()} in {elapsed:.0f} s")
    for problem in report.problems:
        print(f"  LOST: {problem}")
    for message in errors:
        print(f"  unexpected reject: {message.payload!r}")
    return 0 if report.lost == 0 and not errors else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    return asyncio.run(bench(args.cycles, seed))


if __name__ == "__main__":
    sys.exit(main())
