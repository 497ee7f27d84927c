"""A local MQTT broker for the demo and HIL runs: Debian's mosquitto when installed, else the
pure-Python amqtt broker in-process (so the demo needs no root)."""

from __future__ import annotations

import asyncio
import logging
import random
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

log = logging.getLogger(__name__)


class NoBroker(RuntimeError):
    """Neither mosquitto nor amqtt (the `demo` extra) is installed."""


# Ports the kernel never hands out on its own (below Linux's default ephemeral range,
# 32768-60999): a port taken from here and bound a moment later cannot meanwhile become the
# local end of some outgoing connection, or another bind(0)'s answer (CI saw exactly that).
_QUIET_PORTS = range(20000, 32768)
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1", preferred: int | None = None) -> int:
    """``preferred`` when it can be bound now, else a free port outside the ephemeral range
    that this process has not handed out before."""
    if preferred and _bindable(host, preferred):
        return preferred
    chooser = random.Random()
    for _ in range(200):
        port = chooser.choice(_QUIET_PORTS)
        if port not in _handed_out and _bindable(host, port):
            _handed_out.add(port)
            return port
    raise OSError(f"no free port on {host} in {_QUIET_PORTS.start}-{_QUIET_PORTS.stop - 1}")


def _bindable(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def mosquitto_path() -> str | None:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )


async def wait_for_port(host: str, port: int, timeout_s: float = 10.0) -> None:
    """Return once ``host:port`` accepts TCP connections; raise TimeoutError after the limit."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        try:
            _, writer = await asyncio.open_connection(host, port)
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(
                    f"nothing listens on {host}:{port} after {timeout_s} s"
                ) from None
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return


@asynccontextmanager
async def local_broker(host: str, port: int) -> AsyncIterator[str]:
    """Run a broker on ``host:port`` for the duration; yields which broker it is."""
    exe = mosquitto_path()
    if exe is not None:
        with tempfile.TemporaryDirectory(prefix="minisplit-broker-") as tmp:
            conf = Path(tmp) / "mosquitto.conf"
            conf.write_text(
                f"listener {port} {host}\nallow_anonymous true\npersistence false\nlog_dest none\n"
            )
            proc = await asyncio.create_subprocess_exec(
                exe,
                "-c",
                str(conf),
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
                # Out of the terminal's foreground process group: Ctrl-C would stop it at
                # once, under a controller still saying goodbye; it is stopped last, below.
                process_group=0,
            )
            try:
                await wait_for_port(host, port)
                yield "mosquitto"
            finally:
                if proc.returncode is None:
                    proc.terminate()
                    await proc.wait()
        return
    try:
        from amqtt.broker import Broker
    except ModuleNotFoundError:
        raise NoBroker(
            "the demo needs an MQTT broker: install mosquitto (sudo apt-get install mosquitto)"
            " or the pure-Python one (pip install 'minisplit[demo]')"
        ) from None

    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    try:
        yield "amqtt"
    finally:
        await broker.shutdown()
