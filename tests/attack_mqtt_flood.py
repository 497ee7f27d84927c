"""MQTT flood attack on a running controller: are commands behind junk applied, and what does
it cost in log lines and error reports?

    .venv/bin/python -m tests.attack_mqtt_flood [--junk 30000] [--runs 5] [--ha-status 2000]

A real mosquitto on loopback, the simulator in this process and the controller as a real
`minisplit run` subprocess. Each run sends ``--junk`` bad payloads (each distinct) on the living
room's `set/temperature` and ``--ha-status`` `homeassistant/status` `online` messages, as fast
as `mosquitto_pub` can, then one valid QoS 1 setpoint, and waits for the zone state to show it.
At the end it waits for the controller's summary of what it did not report one by one, and
prints the commands applied, the controller's log lines (per 10,000 bad payloads) and the
error reports. Exits 1 if a command was not applied.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sys

import aiomqtt

from minisplit.hil.broker import free_port
from minisplit.hil.simulator import Simulator
from minisplit.testing.broker import Mosquitto, recording
from minisplit.testing.processes import (
    BASE,
    broker_in_temporary_directory,
    controller,
    controller_config,
    wait_online,
)

ZONE = "living"
APPLY_TIMEOUT_S = 30.0
# The controller says what it held back at most 75 s after the first reject of a kind.
SUMMARY_WAIT_S = 80.0


async def mosquitto_pub(broker: Mosquitto, topic: str, lines: list[str]) -> None:
    """Each line a QoS 0 message on ``topic``, sent by mosquitto_pub (another process)."""
    pub = shutil.which("mosquitto_pub")
    if pub is None:
        raise SystemExit("mosquitto_pub is not installed (apt-get install mosquitto-clients)")
    process = await asyncio.create_subprocess_exec(
        *[pub, "-h", broker.host, "-p", str(broker.port), "-t", topic, "-q", "0", "-l"],
        stdin=asyncio.subprocess.PIPE,
    )
    await process.communicate("".join(f"{line}\n" for line in lines).encode())


def _shows(message_payload: bytes, setpoint: float) -> bool:
    return json.loads(message_payload).get("target_temperature") == setpoint


async def attack(junk: int, runs: int, ha_status: int) -> int:
    with broker_in_temporary_directory("minisplit-flood-") as (directory, broker):
        modbus_port = free_port()
        config, loaded = controller_config(directory, modbus_port, broker.port, period_s=1.0)
        simulator = Simulator(loaded, speed=1.0)
        applied = 0
        state_topic = f"{BASE}/zone/{ZONE}/state"
        async with (
            simulator.running(tcp=("127.0.0.1", modbus_port)),
            broker.client() as client,
            controller(config) as process,
        ):
            async with recording(broker, f"{BASE}/#") as boot:
                await wait_online(boot, process, 0)
            # Recorders that do not see the junk (checking each of 30,000 would be the bottleneck).
            async with (
                recording(broker, state_topic) as states,
                recording(broker, f"{BASE}/error") as errors,
            ):
                log_before = len(process.output().splitlines())
                for run in range(runs):
                    setpoint = 22.0 + 0.5 * run
                    await mosquitto_pub(
                        broker,
                        f"{BASE}/zone/{ZONE}/set/temperature",
                        [f"junk {run} {n}" for n in range(junk)],
                    )
                    await mosquitto_pub(broker, "homeassistant/status", ["online"] * ha_status)
                    mark = len(states.messages)
                    await client.publish(
                        f"{BASE}/zone/{ZONE}/set/temperature", f"{setpoint:.1f}", qos=1
                    )
                    try:

                        def applied_now(m: aiomqtt.Message, s: float = setpoint) -> bool:
                            return _shows(m.payload, s)

                        await states.wait_for(
                            state_topic, applied_now, after=mark, timeout=APPLY_TIMEOUT_S
                        )
                        applied += 1
                        print(f"run {run + 1}: setpoint {setpoint:.1f} applied")
                    except AssertionError:
                        print(f"run {run + 1}: setpoint {setpoint:.1f} NOT applied; log:")
                        print("\n".join(process.output().splitlines()[-5:]))
                await asyncio.sleep(SUMMARY_WAIT_S)  # a measurement window, not a wait
                lines = process.output().splitlines()[log_before:]
                reports = len(errors.messages)
    warnings = [line for line in lines if " WARNING " in line]
    bad = junk * runs
    print(
        f"commands applied {applied}/{runs} behind {junk} junk messages and {ha_status} "
        f"homeassistant/status each"
    )
    print(
        f"controller log lines during the attack: {len(lines)} ({len(warnings)} WARNING), "
        f"{len(lines) * 10_000 / max(bad, 1):.1f} per 10,000 bad payloads; "
        f"error reports published: {reports}"
    )
    print("the controller's log lines:")
    print("\n".join(lines))
    return 0 if applied == runs else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--junk", type=int, default=30_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ha-status", type=int, default=2_000)
    args = parser.parse_args()
    return asyncio.run(attack(args.junk, args.runs, args.ha_status))


if __name__ == "__main__":
    sys.exit(main())
