"""`minisplit install` into a staging tree (``--root``): files, modes, the unit made for the
config's serial ports, idempotence, refusals, and the installed unit's systemd exposure score."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from minisplit.controller.cli import main
from minisplit.controller.config import load_config
from minisplit.controller.service import install as install_module
from minisplit.controller.service.install import minisplit_executable, shipped_unit
from minisplit.controller.service.security import check_private_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / "config" / "example.toml").read_text()
CONFIG = Path("etc/minisplit/minisplit.toml")
UNIT = Path("etc/systemd/system/minisplit.service")
STATE = Path("var/lib/minisplit")
# The highest exposure `systemd-analyze security` may give the installed unit
# (docs/architecture.md, 'Service and hardening').
MAX_EXPOSURE = 2.0


def install(root: Path, *options: str) -> int:
    return main(["install", "--root", str(root), *options])


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def unit_lines(root: Path, key: str) -> list[str]:
    return [
        line.partition("=")[2]
        for line in (root / UNIT).read_text().splitlines()
        if line.startswith(f"{key}=")
    ]


def two_serial_lines(tmp_path: Path) -> Path:
    """The example house with the office's head on a second RS-485 line, the first line on a
    stable by-id link, and a Modbus TCP gateway that needs no device at all."""
    text = EXAMPLE.replace(
        'device = "/dev/ttyUSB0"', 'device = "/dev/serial/by-id/usb-FTDI_RS485-if00-port0"'
    ).replace(
        "[outdoor_unit]",
        '[buses.upstairs]\ntype = "rtu"\ndevice = "/dev/ttyAMA0"\n\n'
        '[buses.gateway]\ntype = "tcp"\nhost = "192.168.1.50"\n\n[outdoor_unit]',
    )
    text = text.replace('bus = "rs485"\nunit_id = 14', 'bus = "upstairs"\nunit_id = 14')
    path = tmp_path / "two-lines.toml"
    path.write_text(text)
    return path


def test_a_staged_install_has_the_files_modes_and_next_steps(tmp_path, capsys):
    root = tmp_path / "root"
    assert install(root) == 0
    out = capsys.readouterr().out
    assert mode(root / "etc/minisplit") == 0o750
    assert mode(root / CONFIG) == 0o600
    assert mode(root / STATE) == 0o700
    assert mode(root / UNIT) == 0o644
    assert (root / CONFIG).read_text() == EXAMPLE  # the shipped example, as is
    # The installed config is one `minisplit run` accepts: valid, and private.
    load_config(root / CONFIG)
    check_private_file(root / CONFIG, "config file", euid=0)
    # Owners are the package's to set in a staging tree: the output says which.
    assert "/etc/minisplit (0750 root:minisplit)" in out
    assert "/etc/minisplit/minisplit.toml (0600 minisplit:minisplit)" in out
    assert "/var/lib/minisplit (0700 minisplit:minisplit)" in out
    useradd = next(line for line in out.splitlines() if "useradd" in line).split()
    assert {"--system", "--no-create-home", "minisplit"} <= set(useradd)
    assert useradd[useradd.index("--shell") + 1] == "/usr/sbin/nologin"
    for step in (
        "check-config /etc/minisplit/minisplit.toml",
        "systemctl enable --now minisplit",
        "journalctl -u minisplit -f",
        "-m 600 -o minisplit -g minisplit /dev/null /etc/minisplit/mqtt-password",
    ):
        assert step in out
    assert "daemon-reload" in out and "not running" in out  # never in a staging tree


def test_the_password_step_names_the_file_the_service_will_read(tmp_path, capsys):
    """A relative password_file is read from / by the service, not from the admin's folder."""
    config = tmp_path / "site.toml"
    config.write_text(EXAMPLE.replace('"/etc/minisplit/mqtt-password"', '"mqtt-password"'))
    assert install(tmp_path / "root", "--config", str(config)) == 0
    assert "-m 600 -o minisplit -g minisplit /dev/null /mqtt-password" in capsys.readouterr().out


def test_the_unit_allows_the_configs_serial_ports_and_runs_this_minisplit(tmp_path):
    root = tmp_path / "root"
    assert install(root, "--config", str(two_serial_lines(tmp_path)), "--user", "heatpump") == 0
    assert unit_lines(root, "DeviceAllow") == [
        "/dev/serial/by-id/usb-FTDI_RS485-if00-port0 rw",
        "/dev/ttyAMA0 rw",
    ]
    assert unit_lines(root, "DevicePolicy") == ["closed"]
    exec_start = unit_lines(root, "ExecStart")[0].split()
    assert exec_start[0] == minisplit_executable()
    assert exec_start[1:4] == ["run", "-c", "/etc/minisplit/minisplit.toml"]
    assert unit_lines(root, "User") == unit_lines(root, "Group") == ["heatpump"]
    # Everything else is the shipped template's hardening, line for line.
    template = {line for line in shipped_unit().splitlines() if not line.startswith("#")}
    installed = {line for line in (root / UNIT).read_text().splitlines()}
    changed = {
        line for line in template - installed if line.split("=")[0] not in ("ExecStart", "User")
    }
    assert changed <= {"Group=minisplit", "DeviceAllow=/dev/ttyUSB0 rw"}


def test_the_unit_names_as_documentation_only_files_that_exist_after_the_install(tmp_path):
    """It named file:///opt/minisplit/README.md, which neither `pip install` nor `minisplit
    install` puts anywhere (`systemctl status` showed a dead link)."""
    root = tmp_path / "root"
    assert install(root) == 0
    for uri in (uri for value in unit_lines(root, "Documentation") for uri in value.split()):
        assert uri.startswith("file:///"), f"{uri}: only a file can be checked to exist"
        target = Path(uri.removeprefix("file://"))
        assert (root / target.relative_to("/")).exists() or target.exists(), uri


def test_warns_when_the_service_could_not_see_its_executable(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(install_module, "minisplit_executable", lambda: "/home/pi/bin/minisplit")
    assert install(tmp_path / "root") == 0
    assert "warning: /home/pi/bin/minisplit is under /home" in capsys.readouterr().out
    assert unit_lines(tmp_path / "root", "ExecStart")[0].startswith("/home/pi/bin/minisplit run")


def test_a_config_without_serial_lines_allows_no_device(tmp_path):
    root = tmp_path / "root"
    assert install(root, "--config", str(ROOT / "config" / "demo.toml")) == 0
    assert unit_lines(root, "DeviceAllow") == []
    assert unit_lines(root, "DevicePolicy") == ["closed"]


def test_a_second_run_changes_nothing_and_says_so(tmp_path, capsys):
    root = tmp_path / "root"
    assert install(root) == 0
    files = [root / "etc/minisplit", root / CONFIG, root / STATE, root / UNIT]
    before = [path.stat().st_mtime_ns for path in files]
    capsys.readouterr()
    assert install(root) == 0
    out = capsys.readouterr().out
    assert "Nothing to change" in out
    assert not re.search(r"^\s+(create|update|fix) ", out, re.MULTILINE)
    assert [path.stat().st_mtime_ns for path in files] == before
    # A mode changed by hand is put back; nothing else is touched.
    (root / STATE).chmod(0o755)
    assert install(root) == 0
    out = capsys.readouterr().out
    assert "fix /var/lib/minisplit (0700" in out and "Nothing to change" not in out
    assert mode(root / STATE) == 0o700


def test_an_existing_config_is_never_overwritten_and_decides_the_unit(tmp_path, capsys):
    root = tmp_path / "root"
    assert install(root) == 0
    edited = EXAMPLE.replace('device = "/dev/ttyUSB0"', 'device = "/dev/ttyACM0"')
    (root / CONFIG).write_text(edited)  # the installer edits the installed config
    capsys.readouterr()
    assert install(root, "--config", str(two_serial_lines(tmp_path))) == 0
    out = capsys.readouterr().out
    assert "kept /etc/minisplit/minisplit.toml: it exists and is never overwritten" in out
    assert (root / CONFIG).read_text() == edited
    # The unit follows the config the service will run: the installed one.
    assert "update /etc/systemd/system/minisplit.service" in out
    assert unit_lines(root, "DeviceAllow") == ["/dev/ttyACM0 rw"]


def test_refuses_to_run_without_root_and_says_what_to_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(SystemExit) as info:
        main(["install", "--config", "house.toml"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "must run as root" in err
    assert "sudo minisplit install --config house.toml" in err
    assert "--dry-run" in err and "--root DIR" in err
    # Staging a tree needs no root.
    assert install(tmp_path / "root") == 0


def test_a_dry_run_changes_nothing(tmp_path, monkeypatch, capsys):
    root = tmp_path / "root"
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # a dry run needs no root either
    assert install(root, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "would create /etc/minisplit/minisplit.toml" in out
    assert not root.exists()


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("unit_id = 12", "unit_id = 0"), ["1 error(s)", "zones[1].unit_id", "got 0"]),
        (('device = "/dev/ttyUSB0"', 'device = "ttyUSB0"'), ["buses.rs485.device", "/dev"]),
        (
            ("unit_id = 12\n", 'unit_id = 12\ninitial_mode = "warm"\n'),
            ["1 error(s)", "zones[1].initial_mode", "'warm'"],
        ),
    ],
)
def test_a_bad_config_is_a_clear_error_and_installs_nothing(tmp_path, capsys, change, expected):
    bad = tmp_path / "bad.toml"
    bad.write_text(EXAMPLE.replace(*change))
    root = tmp_path / "root"
    with pytest.raises(SystemExit) as info:
        install(root, "--config", str(bad))
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert all(word in err for word in expected), err
    assert not root.exists()


def test_a_missing_config_file_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        install(tmp_path / "root", "--config", str(tmp_path / "nowhere.toml"))
    assert info.value.code == 1
    assert "nowhere.toml: cannot read" in capsys.readouterr().err


def test_a_bad_user_name_is_refused(capsys):
    with pytest.raises(SystemExit) as info:
        main(["install", "--user", "Heat Pump"])
    assert info.value.code == 2
    assert "is not a user name" in capsys.readouterr().err


def test_the_unit_template_is_package_data():
    assert shipped_unit() == (ROOT / "systemd" / "minisplit.service").read_text()


@pytest.mark.parametrize("config", ["example.toml", "demo.toml"])
def test_the_installed_unit_scores_a_low_exposure(tmp_path, config):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    root = tmp_path / "root"
    assert install(root, "--config", str(ROOT / "config" / config)) == 0
    result = subprocess.run(
        [analyze, "security", "--offline=yes", str(root / UNIT)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    found = re.search(r"Overall exposure level for minisplit\.service: ([\d.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    assert float(found.group(1)) <= MAX_EXPOSURE


# ---- profile files the config names travel with it ----


def site_with_own_profiles(tmp_path: Path) -> Path:
    """A config in its own folder naming two profile files: one beside it (relative path), one
    elsewhere (absolute path); the outdoor unit keeps the shipped profile."""
    head = (ROOT / "config" / "profiles" / "reference-head.toml").read_text()
    site = tmp_path / "site"
    (site / "vendor").mkdir(parents=True)
    (site / "my-head.toml").write_text(head.replace('"reference-head"', '"my-head"'))
    other = tmp_path / "elsewhere" / "ducted.toml"
    other.parent.mkdir()
    other.write_text(head.replace('"reference-head"', '"ducted"'))
    text = EXAMPLE.replace("unit_id = 13", 'unit_id = 13\nprofile = "my-head.toml"  # mine')
    text = text.replace("unit_id = 14", f"unit_id = 14\nprofile = '{other}'")
    config = site / "house.toml"
    config.write_text(text)
    return config


def test_the_profiles_a_config_names_are_installed_beside_it(tmp_path, capsys):
    source = site_with_own_profiles(tmp_path)
    root = tmp_path / "root"
    assert install(root, "--config", str(source)) == 0
    out = capsys.readouterr().out
    profiles = root / "etc/minisplit/profiles"
    assert mode(profiles) == 0o750 and "/etc/minisplit/profiles (0750 root:minisplit)" in out
    for name, source_file in [
        ("my-head.toml", source.parent / "my-head.toml"),
        ("ducted.toml", tmp_path / "elsewhere" / "ducted.toml"),
    ]:
        assert (profiles / name).read_bytes() == source_file.read_bytes()
        assert mode(profiles / name) == 0o640
        assert f"/etc/minisplit/profiles/{name} (0640 root:minisplit) from {source_file}" in out
    # The installed config names the copies; every other line is as written.
    installed = (root / CONFIG).read_text()
    assert installed == source.read_text().replace(
        'profile = "my-head.toml"  # mine', 'profile = "profiles/my-head.toml"  # mine'
    ).replace(f"profile = '{tmp_path}/elsewhere/ducted.toml'", 'profile = "profiles/ducted.toml"')
    loaded = load_config(root / CONFIG)
    assert loaded.head_profile(loaded.config.zone("bedroom")).name == "my-head"
    assert loaded.head_profile(loaded.config.zone("office")).name == "ducted"
    assert "checked /etc/minisplit/minisplit.toml as check-config does: valid" in out
    # A second run finds it all in place.
    assert install(root, "--config", str(source)) == 0
    out = capsys.readouterr().out
    assert "Nothing to change" in out and "unchanged /etc/minisplit/profiles/ducted.toml" in out


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_config_that_would_fail_its_check_once_installed_installs_nothing(
    tmp_path, capsys, dry_run
):
    """The source config is valid, but the profile file of its name already installed (kept,
    never overwritten) is no head's: the installed config would fail, so nothing is done."""
    source = site_with_own_profiles(tmp_path)
    root = tmp_path / "root"
    # Left from before: a file of that name that is no head's profile; it is kept.
    stale = root / "etc/minisplit/profiles/my-head.toml"
    stale.parent.mkdir(parents=True)
    stale.write_text((ROOT / "config" / "profiles" / "reference-odu.toml").read_text())
    with pytest.raises(SystemExit) as info:
        install(root, "--config", str(source), *(["--dry-run"] if dry_run else []))
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""  # not one step taken
    assert sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file()) == [
        Path("etc/minisplit/profiles/my-head.toml")
    ]
    err = captured.err.splitlines()
    assert err[0] == (
        "/etc/minisplit/minisplit.toml as it would be installed fails check-config, so the "
        "service could not start on it (nothing changed):"
    )
    assert err[1:] == [
        "  line 46: zones[2].profile: profile 'profiles/my-head.toml' describes a outdoor_unit, "
        "not a indoor_head"
    ]


def test_two_profiles_of_one_file_name_are_refused_before_any_change(tmp_path, capsys):
    source = site_with_own_profiles(tmp_path)
    (tmp_path / "elsewhere" / "my-head.toml").write_text(
        (source.parent / "my-head.toml").read_text()
    )
    source.write_text(source.read_text().replace("elsewhere/ducted.toml", "elsewhere/my-head.toml"))
    root = tmp_path / "root"
    with pytest.raises(SystemExit) as info:
        install(root, "--config", str(source))
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "cannot point its profiles at their installed copies" in err
    assert f"zones[3].profile: {tmp_path}/elsewhere/my-head.toml and " in err
    assert not root.exists()
