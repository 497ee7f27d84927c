"""Private files: which permission bits refuse a start, the messages, and `minisplit run`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from controller.cli import main
from controller.config import parse_config
from controller.security import InsecureFileError, check_private_file, insecure_files

ROOT = Path(__file__).resolve().parents[2]


def private(path: Path, text: str = "x", mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700, 0o200])
def test_owner_only_files_pass(tmp_path: Path, mode: int) -> None:
    check_private_file(private(tmp_path / "f", mode=mode), "config file")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o602, 0o610, 0o601, 0o644, 0o666])
def test_any_group_or_other_bit_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = private(tmp_path / "secret", mode=mode)
    with pytest.raises(InsecureFileError) as info:
        check_private_file(path, "MQTT password file")
    message = str(info.value)
    assert f"MQTT password file {path}" in message
    assert f"mode {mode:04o}" in message
    assert f"chmod 600 {path}" in message


def test_a_file_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    path = private(tmp_path / "f")
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)  # root's own files are always acceptable
    owner = path.stat().st_uid
    check_private_file(path, "config file", euid=owner)
    check_private_file(path, "config file", euid=0)  # root may use anyone's file
    with pytest.raises(InsecureFileError, match=f"owned by uid {owner}.*chown 4242"):
        check_private_file(path, "config file", euid=4242)


def test_a_missing_file_is_left_to_its_reader(tmp_path: Path) -> None:
    check_private_file(tmp_path / "absent", "MQTT password file")


def _config_text(tmp_path: Path, mqtt: str) -> str:
    text = (ROOT / "config" / "example.toml").read_text()
    head = text.partition("[mqtt]")[0]
    return head.replace("/var/lib/minisplit/state.json", str(tmp_path / "state.json")) + mqtt


def test_the_config_its_password_file_and_its_tls_key_must_be_private(tmp_path: Path) -> None:
    password = private(tmp_path / "password", mode=0o640)
    key = private(tmp_path / "client.key", mode=0o644)
    ca = private(tmp_path / "ca.pem", mode=0o644)  # public: never checked
    mqtt = (
        f'[mqtt]\nusername = "minisplit"\npassword_file = "{password}"\n'
        f'[mqtt.tls]\nca_file = "{ca}"\ncert_file = "{ca}"\nkey_file = "{key}"\n'
    )
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, mqtt), mode=0o644)
    loaded = parse_config(config.read_text(), str(config), ROOT / "config")
    problems = insecure_files(loaded)
    assert len(problems) == 3
    assert [p.split(" /")[0] for p in problems] == [
        "config file",
        "MQTT password file",
        "TLS client key",
    ]
    for path in (config, password, key):
        path.chmod(0o600)
    assert insecure_files(loaded) == []


def test_run_refuses_to_start_and_says_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, ""), mode=0o644)
    with pytest.raises(SystemExit) as info:
        main(["run", "-c", str(config)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "refusing to start" in err
    assert f"chmod 600 {config}" in err


def test_check_config_warns_about_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, ""), mode=0o664)
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "refuses to start" in out and f"chmod 600 {config}" in out
    config.chmod(0o600)
    assert main(["check-config", str(config)]) == 0
    assert "refuses" not in capsys.readouterr().out
