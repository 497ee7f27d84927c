"""The command line: check-config output and exit codes, and clear argument errors."""

import os
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from minisplit.controller.cli import main
from minisplit.hil.broker import free_port
from minisplit.testing.broker import MessageRecorder, Mosquitto
from minisplit.testing.processes import BASE, START_TIMEOUT_S, controller, controller_config
from tests.fixtures.profiles import MINIMAL_HEAD, head_text

ROOT = Path(__file__).resolve().parents[2]


def test_check_config_ok_prints_a_summary(capsys):
    assert main(["check-config", str(ROOT / "config" / "example.toml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "zone living (Living room): bus rs485 unit 11" in out
    assert "  strategy: direct (" in out
    assert "    reference-odu: levers: mode (off/heat/cool), frequency_setpoint," in out


def test_check_config_says_the_site_and_a_forecast_not_used(tmp_path, capsys):
    assert main(["check-config", str(ROOT / "config" / "example.toml")]) == 0
    out = capsys.readouterr().out
    assert "site:" not in out and "forecast:" not in out
    config = tmp_path / "house.toml"
    example = (ROOT / "config" / "example.toml").read_text()
    tables = "\n[control]\nforecast = false\n\n[site]\nlatitude = 47.37\nlongitude = 8.54\n"
    config.write_text(example + tables)
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "  site: latitude 47.37 longitude 8.54 (a forecast's sun)\n" in out
    assert "  forecast: not used ([control] forecast = false)\n" in out


def test_check_config_lists_each_system_with_its_strategy(capsys):
    assert main(["check-config", str(ROOT / "config" / "demo-two-systems.toml")]) == 0
    out = capsys.readouterr().out
    assert (
        "  system upstairs (Upstairs):\n"
        "    strategy: direct (the heads' capacity requests and the compressor's frequency)\n"
        "    outdoor unit: bus sim unit 1 profile reference-odu\n"
    ) in out
    assert (
        "  system downstairs (Downstairs):\n"
        "    strategy: setpoint (the heads' own setpoints; the outdoor unit follows the heads)\n"
        "    outdoor unit: none (its inverter follows the heads)\n"
        "    zone living (Living room): bus sim unit 21 setpoints 16.0..30.0 °C\n"
    ) in out


def test_check_config_says_what_each_device_can_do(tmp_path, capsys):
    """One line per device: its levers (with their labels) and live readings, and the
    registers no role uses (drivers.capabilities)."""
    (tmp_path / "head.toml").write_text(MINIMAL_HEAD)
    config = tmp_path / "house.toml"
    example = (ROOT / "config" / "example.toml").read_text()
    without_odu = re.sub(r"\[outdoor_unit\][^[]*", "", example)
    config.write_text(re.sub(r"(unit_id = 1[1-4]\n)", r'\1profile = "head.toml"\n', without_odu))
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert (
        "    minimal-head: levers: power, mode (auto/heat/dry/fan_only/cool), display_setpoint; "
        "readings: return_air_temperature\n"
        "    minimal-head: registers no role uses: filter_hours\n"
    ) in out
    # Heads with a setpoint but no capacity request: the setpoint strategy, and no ODU.
    assert "  strategy: setpoint (" in out
    assert "  outdoor unit: none (its inverter follows the heads)\n" in out


def test_check_config_errors_exit_1_and_name_the_key(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (ROOT / "config" / "example.toml").read_text().replace("unit_id = 12", "unit_id = 0")
    )
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(bad)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "1 error(s)" in err and "zones[1].unit_id" in err and "got 0" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "-c", "x.toml", "--time-scale", "0"], "must be above 0"),
        (["run", "-c", "x.toml", "--time-scale", "fast"], "is not a number"),
        (["sim", "-c", "x.toml", "--tcp", "localhost"], "is not HOST:PORT"),
        (["sim", "-c", "x.toml", "--tcp", "h:1", "--serial", "/dev/x"], "not allowed with"),
        (["sim", "-c", "x.toml", "--serial", "/dev/x", "--baudrate", "19201"], "invalid choice"),
        (["sim", "-c", "x.toml", "--serial", "/dev/x", "--parity", "X"], "invalid choice: 'X'"),
        (["sim", "-c", "x.toml", "--serial", "/dev/x", "--stopbits", "3"], "invalid choice: 3"),
        (["sim", "-c", "x.toml", "--parity", "E"], "--baudrate, --parity and --stopbits need"),
        (["sim", "-c", "x.toml", "--play-schedules"], "--play-schedules needs --scenario"),
        (["run"], "required: -c/--config"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_sim_with_a_bad_scenario_file_exits_1(tmp_path, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nunknown = 1\n')
    with pytest.raises(SystemExit) as info:
        main(["sim", "-c", str(ROOT / "config" / "demo.toml"), "--scenario", str(bad)])
    assert info.value.code == 1
    assert "scenario has" in capsys.readouterr().err


def test_sim_playing_schedules_without_a_broker_in_the_config_exits_1(tmp_path, capsys):
    demo = (ROOT / "config" / "demo.toml").read_text()
    head, _, rest = demo.partition("[mqtt]")
    no_mqtt = tmp_path / "no-mqtt.toml"
    no_mqtt.write_text(head + rest[rest.index("[simulator]") :])
    argv = ["sim", "-c", str(no_mqtt), "--scenario", "renovated-january", "--play-schedules"]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 1
    assert "needs the config's [mqtt] section" in capsys.readouterr().err


def test_bench_and_sim_take_a_shipped_scenario_by_name_from_anywhere(tmp_path, monkeypatch):
    from minisplit.controller.cli import build_parser
    from minisplit.hil.scenario import shipped_scenarios

    monkeypatch.chdir(tmp_path)  # outside the repository, as after `pip install`
    shipped = {path.stem: path for path in shipped_scenarios()}
    args = build_parser().parse_args(["bench", "--scenario", "mixed-april"])
    assert args.scenario == [shipped["mixed-april"]]
    args = build_parser().parse_args(["sim", "-c", "x.toml", "--scenario", "renovated-january"])
    assert args.scenario == shipped["renovated-january"]


def test_demo_without_a_broker_to_run_says_what_to_install(tmp_path, monkeypatch, capsys):
    from minisplit.hil import broker

    monkeypatch.chdir(tmp_path)  # the demo's state file lands here
    monkeypatch.setattr(broker, "mosquitto_path", lambda: None)
    monkeypatch.setitem(sys.modules, "amqtt.broker", None)  # its import fails as if absent
    with pytest.raises(SystemExit) as info:
        main(["demo", "--duration", "1"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "minisplit demo: the demo needs an MQTT broker" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("fault_file", "message"),
    [
        ("[[faults]]\nkind = 'melt'\ntarget = 'living'\n", "fault 1"),
        ("[[faults]]\nkind = 'vanish'\ntarget = 'attic'\n", "no fault target 'attic'"),
        ("[[faults]]\nkind = 'bad_crc'\ntarget = 'living'\n", "need an RTU line"),
        ("seed = [\n", "fault.toml"),
    ],
)
def test_sim_with_a_bad_fault_file_exits_1_before_serving(tmp_path, capsys, fault_file, message):
    faults = tmp_path / "fault.toml"
    faults.write_text(fault_file)
    demo = str(ROOT / "config" / "demo.toml")
    with pytest.raises(SystemExit) as info:
        main(["sim", "-c", demo, "--tcp", "127.0.0.1:1", "--faults", str(faults)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "cannot inject the faults" in err and message in err


def test_sim_with_a_missing_fault_file_exits_1(tmp_path, capsys):
    demo = str(ROOT / "config" / "demo.toml")
    with pytest.raises(SystemExit) as info:
        main(["sim", "-c", demo, "--faults", str(tmp_path / "nope.toml")])
    assert info.value.code == 1
    assert "nope.toml" in capsys.readouterr().err


def test_sim_takes_the_framings_a_serial_bus_may_have():
    from minisplit.controller.cli import SERIAL_BAUDRATES, SERIAL_PARITIES, SERIAL_STOPBITS

    assert 19200 in SERIAL_BAUDRATES and 115200 in SERIAL_BAUDRATES
    assert (SERIAL_PARITIES, SERIAL_STOPBITS) == (("N", "E", "O"), (1, 2))


def test_sim_on_a_missing_serial_port_exits_1_with_one_line(tmp_path, capsys):
    demo = str(ROOT / "config" / "demo.toml")
    with pytest.raises(SystemExit) as info:
        main(["sim", "-c", demo, "--serial", str(tmp_path / "ttyUSB9"), "--parity", "o"])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == f"minisplit sim: cannot serve Modbus RTU on {tmp_path}/ttyUSB9: no such device\n"


def test_sim_of_an_rtu_config_without_a_port_exits_1_with_one_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["sim", "-c", str(ROOT / "config" / "example.toml")])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("minisplit sim: the outdoor unit's bus 'rs485' is a serial line")
    assert err.count("\n") == 1


def _cli(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """`minisplit ARGS` in a process of its own, bounded: a hang fails the test."""
    return subprocess.run(
        [sys.executable, "-m", "minisplit.controller.cli", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        **options,
    )


@pytest.mark.parametrize(
    ("args", "unbuffered"),
    [
        (["check-config", str(ROOT / "config" / "example.toml")], "1"),
        (["check-config", str(ROOT / "config" / "example.toml")], ""),
        (["install", "--dry-run", "--root", "{tmp}"], "1"),
        (["install", "--dry-run", "--root", "{tmp}"], ""),
        # Buffered only: unbuffered, argparse itself ignores a failed write of its help.
        (["--help"], ""),
    ],
)
def test_a_reader_that_has_gone_ends_the_command_quietly(tmp_path, args, unbuffered):
    # `minisplit … | head`: head exits after its lines; here the reader is gone before the
    # first line, so that every write (at once, unbuffered, or at the flush) meets a closed pipe.
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
    argv = [arg.format(tmp=tmp_path) for arg in args]
    try:
        done = subprocess.run(
            [sys.executable, "-m", "minisplit.controller.cli", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
            cwd=ROOT,
            env=env,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""
    assert done.returncode == 1


def test_a_broken_pipe_elsewhere_is_not_taken_for_a_closed_stdout(monkeypatch, capfd):
    # stdout is fine: the error came from somewhere else (a socket, a child), a bug to show.
    def command(argv: object) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr("minisplit.controller.cli._command", command)
    with pytest.raises(BrokenPipeError):
        main(["check-config", "x.toml"])


def _fifo(directory: Path) -> Path:
    os.mkfifo(directory / "profile.toml")
    return directory / "profile.toml"


def _bounded() -> None:
    """Without the check, /dev/zero is read until memory runs out: let that be 1 GiB."""
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize(
    ("make", "kind"), [(_fifo, "a FIFO"), (lambda _: Path("/dev/zero"), "a device")]
)
def test_check_config_refuses_a_special_file_as_profile_at_once(tmp_path, make, kind):
    # Reading a FIFO blocks until a writer comes, /dev/zero never ends: both are refused unread.
    profile = make(tmp_path)
    config = tmp_path / "site.toml"
    example = (ROOT / "config" / "example.toml").read_text()
    config.write_text(example.replace('profile = "reference-odu"', f'profile = "{profile}"'))
    done = _cli("check-config", str(config), preexec_fn=_bounded)
    assert done.returncode == 1
    assert f"outdoor_unit.profile: {profile}: cannot read: it is {kind}" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_config_reports_a_file_that_is_not_utf8_in_one_line(tmp_path, capsys):
    config = tmp_path / "site.toml"
    config.write_bytes(b'controller_id = "h\xe9"\n')
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(config)])
    assert info.value.code == 1
    assert capsys.readouterr().err.splitlines() == [
        f"{config}: configuration has 1 error(s):",
        "  not UTF-8 text: byte 0xe9 on line 1",
    ]


# ---- `run` refuses a config others can change or another user owns, not one others can read ----


@pytest.mark.integration
async def test_run_starts_on_a_config_others_can_read_and_warns(
    tmp_path: Path, mqtt_recorder: MessageRecorder, mosquitto: Mosquitto
) -> None:
    # A fresh clone's config/demo.toml is 0644: `minisplit run -c config/demo.toml` must start.
    config, _ = controller_config(tmp_path, free_port(), mosquitto.port)
    config.chmod(0o644)
    async with controller(config) as process:
        await mqtt_recorder.wait_for(
            f"{BASE}/status", lambda m: m.payload == b"online", timeout=START_TIMEOUT_S
        )
        assert process.running
    assert f"config file {config} can be read by other users" in process.output()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_run_as_root_refuses_a_config_another_user_owns(tmp_path: Path) -> None:
    # Its owner could point the state file anywhere root can write.
    config, _ = controller_config(tmp_path, free_port(), free_port())
    os.chown(config, 65534, 65534)
    done = _cli("run", "-c", str(config))
    assert done.returncode == 1
    assert "refusing to start" in done.stderr
    assert f"config file {config} is owned by uid 65534" in done.stderr


@pytest.mark.integration
async def test_run_refuses_to_start_beside_a_controller_with_the_same_state_file(
    tmp_path: Path, mqtt_recorder: MessageRecorder, mosquitto: Mosquitto
) -> None:
    """`minisplit run` by hand beside the service: a second master on the bus, and each took
    the MQTT client id from the other every second (logged as a broker lost and found)."""
    config, _ = controller_config(tmp_path, free_port(), mosquitto.port)
    async with controller(config) as first:
        await mqtt_recorder.wait_for(
            f"{BASE}/status", lambda m: m.payload == b"online", timeout=START_TIMEOUT_S
        )
        second = _cli("run", "-c", str(config))
        assert first.running
    assert second.returncode == 1, second.stderr
    assert second.stderr.startswith("minisplit: refusing to start: another minisplit controller")
    assert "MQTT connection lost" not in first.output()


def test_check_config_refuses_an_initial_mode_the_head_cannot_run(tmp_path, capsys):
    """A zone starts only in a mode its head's profile offers: a heat-only head cannot start in
    cool (or heat_cool), and the error names the zone's key and what the head offers."""
    (tmp_path / "head.toml").write_text(head_text('{ 1 = "heat", 3 = "fan_only" }'))
    config = tmp_path / "house.toml"
    example = (ROOT / "config" / "example.toml").read_text()
    without_odu = re.sub(r"\[outdoor_unit\][^[]*", "", example)
    text = re.sub(r"(unit_id = 1[1-4]\n)", r'\1profile = "head.toml"\n', without_odu)
    config.write_text(
        text.replace("unit_id = 12\n", 'unit_id = 12\ninitial_mode = "cool"\n').replace(
            "unit_id = 13\n", 'unit_id = 13\ninitial_mode = "heat"\n'
        )
    )
    with pytest.raises(SystemExit) as info:
        main(["check-config", str(config)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "1 error(s)" in err
    assert (
        "zones[1].initial_mode: 'cool' is not a mode profile 'head.toml' can run "
        "(it offers off, heat, fan_only)"
    ) in err
    # The mode it can run is accepted.
    config.write_text(text.replace("unit_id = 13\n", 'unit_id = 13\ninitial_mode = "heat"\n'))
    assert main(["check-config", str(config)]) == 0
