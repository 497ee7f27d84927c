"""Which files refuse a start and which only warn: modes, owners, the messages, and `minisplit
run` on a config others can read or change."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from minisplit.controller.cli import main
from minisplit.controller.config import parse_config
from minisplit.controller.service.security import (
    FileFindings,
    InsecureFileError,
    check_config_file,
    check_private_file,
    inspect_files,
    read_secret,
)
from minisplit.drivers.textfile import UnreadableFile

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


def _owned_by_another_user(path: Path) -> int:
    """``path``'s owner, made another user than root when the test runs as root."""
    if os.geteuid() == 0:
        os.chown(path, 65534, 65534)
    return path.stat().st_uid


def test_a_file_owned_by_another_user_is_refused_even_to_root(tmp_path: Path) -> None:
    # Its owner can rewrite it at any time: root running on it would obey that user.
    path = private(tmp_path / "f")
    owner = _owned_by_another_user(path)
    check_private_file(path, "MQTT password file", euid=owner)
    for user in (0, 4242):
        with pytest.raises(InsecureFileError, match=f"owned by uid {owner}.*chown {user} "):
            check_private_file(path, "MQTT password file", euid=user)
        with pytest.raises(InsecureFileError, match=f"config file {path} is owned by uid"):
            check_config_file(path, euid=user)


def test_a_file_owned_by_root_is_accepted(tmp_path: Path) -> None:
    path = private(tmp_path / "f")
    if path.stat().st_uid != 0:
        pytest.skip("only root can give a file to root")
    check_private_file(path, "MQTT password file", euid=4242)
    assert check_config_file(path, euid=4242) is None


def test_a_missing_file_is_left_to_its_reader(tmp_path: Path) -> None:
    check_private_file(tmp_path / "absent", "MQTT password file")


@pytest.mark.parametrize("name", ["plain/secret", "y" * 5000])
def test_a_path_that_cannot_be_a_file_is_left_to_its_reader(tmp_path: Path, name: str) -> None:
    """Under a plain file, or a name longer than the filesystem allows: check-config and run
    ended in a traceback (NotADirectoryError, 'File name too long')."""
    (tmp_path / "plain").write_text("")
    check_private_file(tmp_path / name, "MQTT password file")


def _config_text(tmp_path: Path, mqtt: str) -> str:
    text = (ROOT / "config" / "example.toml").read_text()
    head = text.partition("[mqtt]")[0]
    return head.replace("/var/lib/minisplit/state.json", str(tmp_path / "state.json")) + mqtt


def test_the_password_file_and_the_tls_key_must_be_private(tmp_path: Path) -> None:
    password = private(tmp_path / "password", mode=0o640)
    key = private(tmp_path / "client.key", mode=0o644)
    ca = private(tmp_path / "ca.pem", mode=0o644)  # public: never checked
    mqtt = (
        f'[mqtt]\nusername = "minisplit"\npassword_file = "{password}"\n'
        f'[mqtt.tls]\nca_file = "{ca}"\ncert_file = "{ca}"\nkey_file = "{key}"\n'
    )
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, mqtt))
    loaded = parse_config(config.read_text(), str(config), ROOT / "config")
    findings = inspect_files(loaded)
    assert [p.split(" /")[0] for p in findings.refusals] == ["MQTT password file", "TLS client key"]
    assert findings.warnings == []
    for path in (password, key):
        path.chmod(0o600)
    assert inspect_files(loaded) == FileFindings()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o650])
def test_a_config_others_can_read_is_only_a_warning(tmp_path: Path, mode: int) -> None:
    # It holds no secret (the schema has no key for one); it names where they are.
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, ""), mode=mode)
    loaded = parse_config(config.read_text(), str(config), ROOT / "config")
    findings = inspect_files(loaded)
    assert findings.refusals == []
    (warning,) = findings.warnings
    assert f"config file {config} can be read by other users (mode {mode:04o})" in warning
    assert f"chmod 600 {config}" in warning


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o620, 0o602])
def test_a_config_others_can_change_is_refused(tmp_path: Path, mode: int) -> None:
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, ""), mode=mode)
    loaded = parse_config(config.read_text(), str(config), ROOT / "config")
    (refusal,) = inspect_files(loaded).refusals
    assert f"config file {config} can be changed by other users (mode {mode:04o}" in refusal
    assert f"chmod go-w {config}" in refusal


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"s\xe9cret\n", "not UTF-8 text: byte 0xe9 on line 1"), (None, "it is a FIFO")],
)
def test_a_password_file_that_is_not_text_is_refused_at_start(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    password = tmp_path / "password"
    if content is None:
        os.mkfifo(password, 0o600)
    else:
        password.write_bytes(content)
        password.chmod(0o600)
    mqtt = f'[mqtt]\nusername = "minisplit"\npassword_file = "{password}"\n'
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, mqtt))
    loaded = parse_config(config.read_text(), str(config), ROOT / "config")
    (refusal,) = inspect_files(loaded).refusals
    assert refusal.startswith(f"MQTT password file {password}: ") and message in refusal
    with pytest.raises(UnreadableFile, match=message):
        read_secret(password, "MQTT password file")


def test_a_device_as_password_file_is_refused_as_such_without_chmod_advice(tmp_path: Path) -> None:
    """It said: make /dev/zero private to the service user with `chmod 600 /dev/zero`."""
    mqtt = '[mqtt]\nusername = "minisplit"\npassword_file = "/dev/zero"\n'
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, mqtt))
    loaded = parse_config(config.read_text(), str(config), ROOT / "config")
    (refusal,) = inspect_files(loaded).refusals
    assert (
        refusal == "MQTT password file /dev/zero: cannot read: it is a device, not a regular file"
    )


def test_run_refuses_a_config_others_can_change_and_says_how_to_fix_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, ""), mode=0o666)
    with pytest.raises(SystemExit) as info:
        main(["run", "-c", str(config)])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "refusing to start" in err
    assert f"chmod go-w {config}" in err


def test_check_config_warns_about_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = private(tmp_path / "minisplit.toml", _config_text(tmp_path, ""), mode=0o664)
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "refuses to start" in out and f"chmod go-w {config}" in out
    config.chmod(0o644)
    assert main(["check-config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "refuses" not in out and f"warning: config file {config} can be read" in out
    config.chmod(0o600)
    assert main(["check-config", str(config)]) == 0
    assert "warning" not in capsys.readouterr().out
