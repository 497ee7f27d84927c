"""The kit's rig as a test uses it: the controller as a subprocess or in-process, a fault file,
and the pieces it is made of (the endpoint option, the rewritten config). The product loads
without pytest: only the plugin module imports it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from minisplit.controller.config import load_config
from minisplit.drivers.bus_config import TcpBus
from minisplit.testing.harness import DEMO
from minisplit.testing.rig import Endpoint, RigOptions, rig_config, to_toml
from tests.integration.test_sim_schedules import SCENARIO, target

ROOT = Path(__file__).resolve().parents[2]
BUS = {"type": "tcp", "host": "127.0.0.1", "port": 15020}


@pytest.mark.integration
async def test_the_controller_as_a_subprocess_publishes_on_the_rigs_broker(hil_factory, mosquitto):
    async with hil_factory(mosquitto, controller="process", speed=120) as rig:
        await rig.run_until(minutes=5)
        state = await rig.published_state("living")
        assert state["current_temperature"] == pytest.approx(
            await rig.read_register("living", "return_air_temperature"), abs=0.5
        )
        assert rig.process is not None and rig.process.process is not None
        assert rig.process.process.returncode is None, rig.process.output()[-2000:]


@pytest.mark.integration
async def test_the_rig_reads_each_systems_outdoor_unit_by_name(hil_factory):
    async with hil_factory(config="demo-two-systems", controller=None) as rig:
        assert await rig.read_register("odu:upstairs", "device_kind") == 1
        with pytest.raises(KeyError, match="its heads' interfaces have none"):
            await rig.read_register("odu:downstairs", "device_kind")
        with pytest.raises(ValueError, match="the config has 2 systems"):
            await rig.read_register("odu", "device_kind")


@pytest.mark.integration
async def test_a_scenario_s_homeowner_plays_its_schedules_over_the_rigs_broker(
    tmp_path, hil_factory, mosquitto
):
    scenario = tmp_path / "schedules.toml"
    scenario.write_text(SCENARIO)  # the demo's zones; the living room: 22.5 °C from 06:10
    async with hil_factory(mosquitto, scenario=scenario, play_schedules=True, speed=60) as rig:
        living = f"{rig.base_topic}/zone/living/state"
        await rig.recorder.wait_for(living, lambda m: target(m) == 19.0, timeout=20)
        await rig.run_until(minutes=10)
        await rig.recorder.wait_for(living, lambda m: target(m) == 22.5, timeout=20)
        assert rig.now_s() >= 10 * 60


@pytest.mark.integration
@pytest.mark.minisplit(faults="demo-faults", speed=240)
async def test_a_shipped_fault_file_takes_the_bedroom_away_from_minute_10_to_15(hil):
    assert hil.supervisor is not None
    bedroom = hil.supervisor.heads["bedroom"]
    await hil.wait_for(lambda: bedroom.available, timeout_s=30, what="the bedroom head answering")
    await hil.run_until(minutes=10)
    await hil.wait_for(lambda: not bedroom.available, timeout_s=30, what="the bedroom vanishing")
    assert 10 * 60 <= hil.now_s() <= 15 * 60
    await hil.wait_for(lambda: bedroom.available, timeout_s=60, what="the bedroom back")
    assert hil.now_s() >= 15 * 60


def test_the_rewritten_config_names_the_engineer_s_own_profile_files_wherever_it_is_read(
    tmp_path,
):
    """A profile named relative to the engineer's config still loads from the rig's copy, as a
    controller process reads it (from the copy's folder)."""
    house = tmp_path / "house"
    (house / "profiles").mkdir(parents=True)
    shutil.copy(
        ROOT / "config" / "profiles" / "reference-head.toml", house / "profiles" / "my.toml"
    )
    (house / "house.toml").write_text(
        DEMO.replace('id = "office"\n', 'id = "office"\nprofile = "profiles/my.toml"\n')
    )
    written, loaded = rig_config(house / "house.toml", tmp_path / "rig", BUS, broker=None)
    assert written.parent != house
    office = next(zone for zone in loaded.config.zones if zone.id == "office")
    assert load_config(written).head_profile(office).source.endswith("my.toml")
    assert loaded.config.mqtt is None
    bus = loaded.config.buses["sim"]
    assert isinstance(bus, TcpBus) and bus.port == BUS["port"]
    assert loaded.config.state_file.parent.parent == tmp_path / "rig"


def test_endpoints_name_a_gateway_or_a_serial_line():
    assert Endpoint.parse("tcp://10.0.0.5").bus == {"type": "tcp", "host": "10.0.0.5", "port": 502}
    assert Endpoint.parse("tcp://gw:1502").bus["port"] == 1502
    assert Endpoint.parse("/dev/ttyUSB0").bus == {"type": "rtu", "device": "/dev/ttyUSB0"}
    assert Endpoint.parse("rtu:///dev/ttyS1?baudrate=9600&parity=N").bus == {
        "type": "rtu",
        "device": "/dev/ttyS1",
        "baudrate": 9600,
        "parity": "N",
    }
    for bad in ("gateway:502", "tcp://", "rtu:///dev/ttyS1?speed=9600"):
        with pytest.raises(ValueError, match=r"expected|no host|unknown setting"):
            Endpoint.parse(bad)


def test_options_refuse_a_speed_or_controller_that_cannot_run():
    for bad in ({"speed": 0}, {"speed": float("inf")}, {"controller": "thread"}):
        with pytest.raises(ValueError):
            RigOptions(**bad)


KEYS = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=8)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12),
)


def nested(inner: st.SearchStrategy) -> st.SearchStrategy:
    """Tables of tables and arrays of tables."""
    return st.dictionaries(KEYS, inner | st.lists(inner, min_size=1, max_size=2), max_size=3)


TABLES = st.recursive(
    st.dictionaries(KEYS, SCALARS | st.lists(SCALARS, max_size=3), max_size=4),
    nested,
    max_leaves=12,
)


@given(TABLES)
def test_a_config_written_back_as_toml_reads_the_same(data):
    assert tomllib.loads(to_toml(data)) == data


IMPORT_THE_PRODUCT_WITHOUT_PYTEST = """
import importlib, pkgutil, sys
sys.modules["pytest"] = sys.modules["_pytest"] = sys.modules["pytest_asyncio"] = None
import minisplit
for module in pkgutil.walk_packages(minisplit.__path__, "minisplit."):
    if module.name != "minisplit.testing.plugin":
        importlib.import_module(module.name)
print("ok")
"""


def test_the_product_and_the_kits_helpers_load_without_pytest():
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_THE_PRODUCT_WITHOUT_PYTEST],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "ok", result.stderr
