"""The demo house's config on free ports, bounded waiting, and an in-process controller that is
stopped (loudly, if it will not stop) when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from importlib import resources
from pathlib import Path

from minisplit.controller.config import LoadedConfig, parse_config
from minisplit.controller.core.settings import ZoneSettings
from minisplit.controller.service.supervisor import Supervisor

STOP_TIMEOUT_S = 15.0


def shipped_demo(name: str) -> str:
    """A shipped demo config's text (config/NAME.toml: demo, demo-gateway, demo-intesis, …)."""
    return (resources.files("minisplit_data") / f"{name}.toml").read_text(encoding="utf-8")


# The shipped demo config (config/demo.toml), which the builders below point at free ports.
DEMO = shipped_demo("demo")


def tcp_config(
    port: int, state_file: Path, mqtt_port: int | None = None, extra: str = "", demo: str = "demo"
) -> LoadedConfig:
    """A shipped demo house (the reference one unless named) on the simulator at ``port``;
    MQTT only when ``mqtt_port`` is given."""
    text = _with_state_file(shipped_demo(demo), demo, state_file).replace(
        "port = 5020", f"port = {port}"
    )
    head, _, sim = text.partition("[mqtt]")
    sim = sim[sim.index("[simulator]") :]
    mqtt = f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\n\n' if mqtt_port else ""
    return parse_config(head + mqtt + sim + extra, "test.toml")


def with_heartbeat(loaded: LoadedConfig, timeout_s: int) -> LoadedConfig:
    """``loaded`` with its outdoor unit's heartbeat timeout (the one every unit of its system is
    written) set to ``timeout_s``; a house without an outdoor unit is returned as it is.

    For a compressed clock: bus timeouts have a floor in wall seconds (drivers.bus
    `scaled_timeout`), so at 60x and more a cycle with a few of them spans most of a minute of
    simulated time, and on a loaded machine a 60 s heartbeat can lapse for no fault of the
    line's. A test that is not about heartbeats gives them room."""
    odu = loaded.config.outdoor_unit
    if odu is not None:
        longer = odu.model_copy(update={"heartbeat_timeout_s": timeout_s})
        loaded.config = loaded.config.model_copy(update={"outdoor_unit": longer})
        assert loaded.only_system.heartbeat_timeout_s == timeout_s  # what the supervisor uses
    return loaded


def rtu_config(device: str, state_file: Path, demo: str = "demo") -> LoadedConfig:
    """A shipped demo house (the reference one unless named) on a serial line (one end of a
    pty pair), no MQTT.

    Parity N: Linux refuses to set even parity on a pty (a pty ignores parity anyway)."""
    text = _with_state_file(shipped_demo(demo), demo, state_file).replace(
        'type = "tcp"\nhost = "127.0.0.1"\nport = 5020',
        f'type = "rtu"\ndevice = "{device}"\nbaudrate = 19200\nparity = "N"\ntimeout_s = 0.5',
    )
    head, _, sim = text.partition("[mqtt]")
    return parse_config(head + sim[sim.index("[simulator]") :], "test-rtu.toml")


def _with_state_file(text: str, demo: str, state_file: Path) -> str:
    return text.replace(
        f'state_file = ".minisplit-state/{demo}.json"', f'state_file = "{state_file}"'
    )


def put_settings(supervisor: Supervisor, zone_id: str, settings: ZoneSettings) -> None:
    """Put a zone's settings in effect at once, without a write to disk (to set the scene)."""
    state = supervisor.committer.in_effect
    supervisor.committer.in_effect = replace(state, zones={**state.zones, zone_id: settings})


async def wait_until(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    """Poll ``condition`` on the loop clock until it is truthy; fail after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def running(supervisor: Supervisor) -> AsyncIterator[Supervisor]:
    task = asyncio.create_task(supervisor.run())
    try:
        yield supervisor
    finally:
        task.cancel()
        # A supervisor that swallows its cancellation would hang the suite: bounded, and loud.
        done, _ = await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
        if not done:
            stack = io.StringIO()
            task.print_stack(file=stack)
            raise AssertionError(
                f"the supervisor did not stop within {STOP_TIMEOUT_S} s of cancel:\n"
                + stack.getvalue()
            )
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error
