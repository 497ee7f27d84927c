"""The pytest plugin of the hardware-in-the-loop kit (docs/testing.md), loaded by pytest through
the package's `pytest11` entry point wherever minisplit is installed.

Fixtures: `hil` (the simulator, a broker and the controller; set up by the `minisplit` marker),
`hil_factory` (several, or set up in the test), `mosquitto`, `mosquitto_factory`,
`mqtt_recorder`. Options: `--minisplit-modbus ENDPOINT` runs the same tests on real units
(`--minisplit-config`, `--minisplit-allow-writes`); the `minisplit_needs_simulator` marker skips
a test there. The only module of the product that imports pytest."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, NoReturn

import pytest

from minisplit.testing.broker import (
    MessageRecorder,
    Mosquitto,
    MosquittoMissing,
    recording,
    start_mosquitto,
)
from minisplit.testing.rig import Endpoint, Rig, RigOptions, start_rig

try:
    import pytest_asyncio
except ModuleNotFoundError:  # the kit's async fixtures need it: `pip install minisplit[testing]`
    pytest_asyncio = None  # type: ignore[assignment]

MARKER = "minisplit"
NEEDS_SIMULATOR = "minisplit_needs_simulator"
_NO_ASYNCIO = "the minisplit kit's fixtures need pytest-asyncio: pip install 'minisplit[testing]'"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("minisplit", "minisplit hardware-in-the-loop kit (docs/testing.md)")
    group.addoption(
        "--minisplit-modbus",
        metavar="ENDPOINT",
        help="run the kit's tests on real units at ENDPOINT (tcp://HOST[:PORT], or a serial"
        " device such as /dev/ttyUSB0 or rtu:///dev/ttyUSB0?baudrate=9600&parity=N), at real"
        " time; tests that need the simulator's truth are skipped",
    )
    group.addoption(
        "--minisplit-config",
        metavar="FILE",
        help="with --minisplit-modbus: the config naming the real units and their profiles"
        " (a file or a shipped config's name; default: the test's own)",
    )
    group.addoption(
        "--minisplit-allow-writes",
        action="store_true",
        help="with --minisplit-modbus: let tests run the controller, which writes to the units"
        " (without it, such tests are skipped and only reads reach the hardware)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(config='demo', scenario=None, faults=None, speed=240, controller='inprocess',"
        " play_schedules=False): what the `hil` fixture runs (docs/testing.md)",
    )
    config.addinivalue_line(
        "markers",
        f"{NEEDS_SIMULATOR}: the test needs the simulator's truth (a room's true temperature,"
        " injected faults): skipped with --minisplit-modbus",
    )
    text = config.getoption("--minisplit-modbus")
    if text:
        try:
            Endpoint.parse(text)
        except ValueError as err:
            raise pytest.UsageError(f"--minisplit-modbus: {err}") from None


def hardware_endpoint(config: pytest.Config) -> Endpoint | None:
    text = config.getoption("--minisplit-modbus")
    return Endpoint.parse(text) if text else None


def pytest_runtest_setup(item: pytest.Item) -> None:
    endpoint = hardware_endpoint(item.config)
    if endpoint is not None and item.get_closest_marker(NEEDS_SIMULATOR) is not None:
        pytest.skip(
            f"needs the simulator's truth; --minisplit-modbus runs on real units at {endpoint.text}"
        )


def _skip(reason: str) -> NoReturn:
    pytest.skip(reason)


# ---- the broker ------------------------------------------------------------------------------


def _start_broker(directory: Path, extra_config: str = "") -> Mosquitto:
    """A broker, or a skip (a failure under CI) when mosquitto is not installed."""
    import os

    try:
        return start_mosquitto(directory, extra_config)
    except MosquittoMissing as err:
        if os.environ.get("CI"):
            pytest.fail(str(err))
        pytest.skip(str(err))


@pytest.fixture
def mosquitto_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Start brokers with extra mosquitto.conf lines: ``mosquitto_factory("password_file …")``."""
    brokers: list[Mosquitto] = []

    def start(extra_config: str = "") -> Mosquitto:
        broker = _start_broker(tmp_path / f"mosquitto{len(brokers)}", extra_config)
        brokers.append(broker)
        return broker

    yield start
    for broker in brokers:
        broker.stop()


@pytest.fixture
def mosquitto(mosquitto_factory: Callable[..., Mosquitto]) -> Mosquitto:
    """An anonymous mosquitto on a free loopback port, stopped after the test."""
    return mosquitto_factory()


# ---- the rig -----------------------------------------------------------------------------------

RigFactory = Callable[..., AbstractAsyncContextManager[Rig]]


def _factory(request: pytest.FixtureRequest, tmp_path: Path) -> RigFactory:
    endpoint = hardware_endpoint(request.config)
    hardware_config = request.config.getoption("--minisplit-config")
    allow_writes = request.config.getoption("--minisplit-allow-writes")
    count = 0

    def factory(
        broker: Mosquitto | None = None, **options: Any
    ) -> AbstractAsyncContextManager[Rig]:
        nonlocal count
        chosen = RigOptions(**options)
        if endpoint is not None:
            if chosen.controller is not None and not allow_writes:
                pytest.skip(
                    "runs the controller, which writes to the units: on real units only with"
                    " --minisplit-allow-writes"
                )
            if hardware_config:
                chosen = RigOptions(**{**options, "config": hardware_config})
        count += 1
        return start_rig(
            chosen,
            tmp_path / f"rig{count}",
            broker,
            endpoint=endpoint,
            on_missing_simulator=_skip,
        )

    return factory


if pytest_asyncio is not None:

    @pytest_asyncio.fixture
    async def mqtt_recorder(mosquitto: Mosquitto) -> AsyncIterator[MessageRecorder]:
        """Everything published on the `mosquitto` broker from the start of the test."""
        async with recording(mosquitto) as recorder:
            yield recorder

    @pytest.fixture
    def hil_factory(request: pytest.FixtureRequest, tmp_path: Path) -> RigFactory:
        """``async with hil_factory(mosquitto, speed=480) as rig:`` a rig set up in the test
        (the options of `RigOptions`; ``broker`` None: no MQTT)."""
        return _factory(request, tmp_path)

    @pytest_asyncio.fixture
    async def hil(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Rig]:
        """The simulator, a broker and the controller, as the test's `minisplit` marker says
        (defaults: the demo house at 240x, the controller in-process)."""
        marker = request.node.get_closest_marker(MARKER)
        options = dict(marker.kwargs) if marker is not None else {}
        broker = _start_broker(tmp_path / "broker")
        try:
            async with _factory(request, tmp_path)(broker, **options) as rig:
                yield rig
        finally:
            broker.stop()

else:

    @pytest.fixture
    def mqtt_recorder() -> NoReturn:
        pytest.fail(_NO_ASYNCIO)

    @pytest.fixture
    def hil_factory() -> NoReturn:
        pytest.fail(_NO_ASYNCIO)

    @pytest.fixture
    def hil() -> NoReturn:
        pytest.fail(_NO_ASYNCIO)
