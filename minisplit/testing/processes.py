"""The real controller (`python -m minisplit.controller.cli run`) and simulator (`... sim`) as
subprocesses, for tests and benches that kill them with SIGKILL or want them on another core.

Every wait is bounded; a controller that does not come up in time fails with its log."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import minisplit
from minisplit.controller.config import LoadedConfig, parse_config
from minisplit.testing.broker import MessageRecorder, Mosquitto, start_mosquitto
from minisplit.testing.harness import shipped_demo

# The folder that holds the minisplit package this process runs (a checkout or site-packages):
# the subprocess runs the same code, from whichever directory.
_PACKAGE_ROOT = os.pathsep.join(
    [
        str(Path(minisplit.__file__).resolve().parents[1]),
        *filter(None, [os.environ.get("PYTHONPATH")]),
    ]
)
CONTROLLER_ID = "demo"
BASE = f"minisplit/{CONTROLLER_ID}"
START_TIMEOUT_S = 20.0
# The zones of the demo house (config/demo.toml).
ZONES = ("living", "kitchen", "bedroom", "office")


def controller_config(
    directory: Path,
    modbus_port: int,
    mqtt_port: int,
    *,
    period_s: float = 10.0,
    extra: str = "",
    zone_extra: dict[str, str] | None = None,
    bus_extra: str = "",
    demo: str = "demo",
) -> tuple[Path, LoadedConfig]:
    """A shipped demo house (config/DEMO.toml, the reference one unless named) on the
    simulator at ``modbus_port`` and the broker at ``mqtt_port``,
    written as a private (0600) config file; its state file lives in ``directory``/state/,
    which the controller makes.
    ``extra`` goes into ``[mqtt]``; ``zone_extra`` adds lines to a zone's table; ``bus_extra``
    to the Modbus bus's (e.g. its timeout)."""
    state_file = directory / "state" / "state.json"
    text = shipped_demo(demo).replace("port = 5020", f"port = {modbus_port}\n{bus_extra}")
    text = text.replace(
        f'state_file = ".minisplit-state/{demo}.json"', f'state_file = "{state_file}"'
    )
    for zone_id, lines in (zone_extra or {}).items():
        text = text.replace(f'id = "{zone_id}"\n', f'id = "{zone_id}"\n{lines}\n', 1)
    head, _, sim = text.partition("[mqtt]")
    sim = sim[sim.index("[simulator]") :]
    text = (
        head
        + f'[mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\nkeepalive_s = 5\n{extra}\n'
        + f"[control]\nperiod_s = {period_s}\n\n"
        + sim
    )
    path = directory / "minisplit.toml"
    path.write_text(text)
    path.chmod(0o600)
    return path, parse_config(text, str(path))


class ControllerProcess:
    """One `minisplit run` subprocess, its log in a file next to its config; ``env`` adds to
    its environment (e.g. systemd's NOTIFY_SOCKET)."""

    command = "run"

    def __init__(
        self, config: Path, name: str = "controller", env: Mapping[str, str] | None = None
    ) -> None:
        self.config = config
        self.log = config.with_name(f"{name}.log")
        self.env = dict(env or {})
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *args: str) -> None:
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "minisplit.controller.cli",
                self.command,
                "-c",
                str(self.config),
                *args,
                cwd=self.config.parent,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, "PYTHONPATH": _PACKAGE_ROOT, **self.env},
            )

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def kill(self) -> None:
        """SIGKILL: no goodbye, no flush, no chance to save anything."""
        if self.process is not None and self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def wait(self, timeout_s: float = 10.0) -> int:
        assert self.process is not None
        async with asyncio.timeout(timeout_s):
            return await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await self.wait(10)
            except TimeoutError:
                self.kill()
                await self.wait(10)

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    def rss_kib(self) -> int:
        """The process's resident set size now (VmRSS), in KiB."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
        return int(line.split()[1])


class SimulatorProcess(ControllerProcess):
    """One `minisplit sim` subprocess, its log in a file next to its config."""

    command = "sim"


@contextlib.contextmanager
def unwritable(directory: Path) -> Iterator[None]:
    """The state directory replaced by a regular file for a while: every write of the state
    file fails (for root too, which ignores permissions), as on a full or read-only disk."""
    away = directory.with_name(f"{directory.name}.away")
    existed = directory.exists()
    if existed:
        directory.rename(away)
    directory.write_bytes(b"")
    try:
        yield
    finally:
        directory.unlink()
        if existed:
            away.rename(directory)


@contextlib.contextmanager
def broker_in_temporary_directory(prefix: str) -> Iterator[tuple[Path, Mosquitto]]:
    """For engineering commands: a mosquitto on a free port, and a temporary directory (the
    broker's files in its `broker/`) that is removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        directory = Path(tmp)
        broker = start_mosquitto(directory / "broker")
        try:
            yield directory, broker
        finally:
            broker.stop()


@contextlib.asynccontextmanager
async def controller(config: Path, *args: str) -> AsyncIterator[ControllerProcess]:
    process = ControllerProcess(config)
    await process.start(*args)
    try:
        yield process
    finally:
        await process.stop()


async def wait_online(recorder: MessageRecorder, process: ControllerProcess, after: int) -> int:
    """Index of the controller's `online` (after message ``after``) once its zones' and the
    unit's states have followed it: the controller is up and has said what it restored."""
    try:
        online = await recorder.wait_for(
            f"{BASE}/status", lambda m: m.payload == b"online", after=after, timeout=START_TIMEOUT_S
        )
        index = recorder.messages.index(online)
        for topic in [*(f"{BASE}/zone/{z}/state" for z in ZONES), f"{BASE}/unit/state"]:
            await recorder.wait_for(topic, after=index, timeout=START_TIMEOUT_S)
    except AssertionError as err:
        raise AssertionError(f"{err}\ncontroller log:\n{process.output()[-4000:]}") from None
    return index


def latest_state(
    recorder: MessageRecorder, topic: str, after: int, before: int
) -> dict[str, Any] | None:
    """The last JSON state on ``topic`` among messages [after, before)."""
    for message in reversed(recorder.messages[after:before]):
        if message.topic.value == topic:
            return dict(json.loads(message.payload))
    return None


# ---- the randomized kill -9 / restart trial ------------------------------------------------
