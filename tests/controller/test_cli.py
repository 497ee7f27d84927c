"""The command line: check-config output and exit codes, and clear argument errors."""

from pathlib import Path

import pytest

from controller.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_check_config_ok_prints_a_summary(capsys):
    assert main(["check-config", str(ROOT / "config" / "example.toml")]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "zone living (Living room): bus rs485 unit 11" in out


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
    from controller.cli import SERIAL_BAUDRATES, SERIAL_PARITIES, SERIAL_STOPBITS

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
