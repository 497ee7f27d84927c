"""`minisplit demo`: the simulator, a broker and the controller in one process, with a live view.

Everything runs on loopback; ports are the demo config's when free, else free ones, and the view
says which, so the `mosquitto_pub` line it prints always works."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import cast

from minisplit.controller.config import LoadedConfig, load_config, parse_config
from minisplit.controller.core.transitions import SetPower, apply_zone
from minisplit.controller.service.supervisor import Supervisor
from minisplit.drivers.bus_config import TcpBus

log = logging.getLogger(__name__)


def demo_config(path: Path | None) -> LoadedConfig:
    if path is not None:
        return load_config(path)
    text = (resources.files("minisplit_data") / "demo.toml").read_text(encoding="utf-8")
    return parse_config(text, "demo.toml")


def with_ports(loaded: LoadedConfig, modbus_port: int, mqtt_port: int) -> LoadedConfig:
    """The same config with the simulator bus and the broker moved to the given ports."""
    config = loaded.config
    buses = {
        name: bus.model_copy(update={"port": modbus_port}) if isinstance(bus, TcpBus) else bus
        for name, bus in config.buses.items()
    }
    mqtt = (
        config.mqtt.model_copy(update={"host": "127.0.0.1", "port": mqtt_port})
        if config.mqtt
        else None
    )
    updated = config.model_copy(update={"buses": buses, "mqtt": mqtt})
    return LoadedConfig(updated, loaded.profiles, loaded.path)


def _fmt(value: object, pattern: str = "{:.1f}") -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | int):
        return pattern.format(value)
    return str(value)


def render(
    snapshot: Mapping[str, object],
    true_air: Mapping[str, float],
    sim_clock: str,
    base: str,
    mqtt_port: int,
) -> str:
    """The live view; ``true_air`` is the simulator's room air, beside what the controller sees."""
    zones = cast(Mapping[str, Mapping[str, object]], snapshot["zones"])
    lines = [
        f"minisplit demo — simulated time {sim_clock} — control cycles {snapshot['cycles']}"
        f" — Modbus transactions {snapshot['transactions']}",
        "",
        f"{'zone':<10}{'sensor °C':>10}{'air °C':>8}{'set °C':>8}{'head °C':>9}  "
        f"{'mode':<10}{'action':<12}"
        f"{'demand %':>9}"
        f"  {'sensor':<7}{'online':<7}",
    ]
    for zone_id, z in zones.items():
        target = z["target_temperature"]
        if z["mode"] == "heat_cool":
            target = f"{z['target_temperature_low']}-{z['target_temperature_high']}"
        lines.append(
            f"{zone_id:<10}{_fmt(z['current_temperature']):>10}{_fmt(true_air.get(zone_id)):>8}"
            f"{_fmt(target):>8}{_fmt(z.get('head_setpoint')):>9}  "
            f"{z['mode']!s:<10}{z['action']!s:<12}{_fmt(z['demand']):>9}  "
            f"{z['sensor']!s:<7}{_fmt(z['available']):<7}"
        )
    units = cast(Mapping[str, Mapping[str, object]], snapshot["units"])
    reached = cast(Mapping[str, bool], snapshot["outdoor_units"])
    odus = [
        ("outdoor unit" if len(units) == 1 else f"outdoor unit {name}")
        + (
            ": not reached (its inverter follows the heads)"
            if not reached[name]
            else f": mode {_fmt(unit['mode'])}"
            f"  compressor {_fmt(unit['compressor_frequency'])} Hz"
            f" (target {_fmt(unit['compressor_target'])})"
            f"  power {_fmt(unit['power'], '{:.0f}')} W"
            f"  energy {_fmt(unit['energy'], '{:.2f}')} kWh"
            f"  outdoor {_fmt(unit['outdoor_temperature'])} °C"
            f"  defrost {_fmt(unit['defrost'])}"
        )
        for name, unit in units.items()
    ]
    lines += [
        "",
        *odus,
        "",
        "Change a room from another terminal, e.g.:",
        f"  mosquitto_pub -p {mqtt_port} -t {base}/zone/living/set/temperature -m 23",
        f"  mosquitto_pub -p {mqtt_port} -t {base}/zone/bedroom/set/mode -m off",
        "Ctrl-C stops everything.",
    ]
    return "\n".join(lines)


async def run_demo(config_path: Path | None, *, speed: float, duration: float | None) -> int:
    # The simulator sits above the controller (it imports the controller to score it): imported
    # here, when the demo starts, the controller's modules never load it.
    from minisplit.hil.broker import free_port, local_broker
    from minisplit.hil.simulator import Simulator
    from minisplit.hil.weather import format_time_of_year

    base_config = demo_config(config_path)
    tcp = next(b for b in base_config.config.buses.values() if isinstance(b, TcpBus))
    modbus_port = free_port(tcp.host, tcp.port)
    wanted_mqtt = base_config.config.mqtt.port if base_config.config.mqtt else 1883
    mqtt_port = free_port("127.0.0.1", wanted_mqtt)
    loaded = with_ports(base_config, modbus_port, mqtt_port)
    # The demo starts every room in heat so that something visibly happens.
    simulator = Simulator(loaded, speed=speed)
    supervisor = Supervisor(loaded, time_scale=speed)
    if not supervisor.store.path.exists():
        state = supervisor.committer.in_effect
        zones = {zone_id: apply_zone(s, SetPower(True)) for zone_id, s in state.zones.items()}
        supervisor.committer.in_effect = replace(state, zones=zones)
    base = (
        f"{loaded.config.mqtt.base_topic}/{loaded.config.controller_id}"
        if loaded.config.mqtt
        else ""
    )
    interactive = sys.stdout.isatty()
    logging.getLogger().setLevel(logging.WARNING)
    async with local_broker("127.0.0.1", mqtt_port) as broker_name:
        log.info("broker: %s on port %d", broker_name, mqtt_port)
        async with simulator.running(tcp=(tcp.host, modbus_port)):
            task = asyncio.create_task(supervisor.run())
            loop = asyncio.get_running_loop()
            started = loop.time()
            try:
                while duration is None or loop.time() - started < duration:
                    await asyncio.sleep(1.0)
                    true_air = {z: simulator.room_temperature(z) for z in supervisor.heads}
                    clock = format_time_of_year(simulator.sim_time_s)
                    view = render(supervisor.snapshot(), true_air, clock, base, mqtt_port)
                    print(("\x1b[H\x1b[2J" if interactive else "\n") + view, flush=True)
                    if task.done():
                        break
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                supervisor.save()
    return 0
