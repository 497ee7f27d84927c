"""`minisplit install`: the service user, the config and state directories with their owners and
modes, the config file, and the hardened systemd unit made to fit this board's config.

Every step looks before it acts, so a second run changes nothing and says so. With ``--root`` it
stages the files into a tree for a package (no users are created, no owners are set: that is the
package's maintainer script's job, and the steps say what to set)."""

from __future__ import annotations

import argparse
import grp
import json
import os
import pwd
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from minisplit.controller.config import (
    ConfigError,
    LoadedConfig,
    load_config,
    parse_config,
    profile_keys,
)
from minisplit.controller.service.persistence import write_atomically
from minisplit.controller.service.security import inspect_files, secret_files
from minisplit.drivers.bus_config import SerialBus
from minisplit.drivers.profile import profile_file
from minisplit.drivers.textfile import UnreadableFile, parse_toml, read_text
from minisplit.drivers.tomlerrors import Loc, key_path, line_of

CONFIG_DIR = Path("/etc/minisplit")
CONFIG_FILE = CONFIG_DIR / "minisplit.toml"
STATE_DIR = Path("/var/lib/minisplit")
UNIT_FILE = Path("/etc/systemd/system/minisplit.service")
UNIT_MODE = 0o644
# The config names the broker, the secrets' locations and the state file:
# controller.service.security refuses it when others can change it or another user owns it, and
# warns when others can read it; private to root it would be unreadable to the service, so the
# service user owns it.
CONFIG_MODE = 0o600
# Profile files the config names (the shipped ones are in the package). Not secret: the
# service's group reads them, only root changes them.
PROFILE_DIR = CONFIG_DIR / "profiles"
PROFILE_MODE = 0o640
# A `profile = "…"` line, to put the installed copy's path in its place.
_PROFILE_LINE = re.compile(
    r"""^(?P<head>\s*profile\s*=\s*)(?:"(?:[^"\\]|\\.)*"|'[^']*')(?P<tail>.*)$""", re.DOTALL
)
NOLOGIN = "/usr/sbin/nologin"
# What the unit's ProtectHome=yes hides from the service.
HIDDEN_HOMES = (Path("/home"), Path("/root"), Path("/run/user"))
SERIAL_GROUP = "dialout"
USER_NAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
SHIPPED_UNIT = "minisplit.service"


class InstallError(Exception):
    """Why `minisplit install` cannot go on, as a headline and one line per problem, with the
    exit status: 2 for a command to run differently, 1 for bad input."""

    def __init__(self, headline: str, problems: list[str], exit_code: int = 1) -> None:
        super().__init__(headline)
        self.headline = headline
        self.problems = problems
        self.exit_code = exit_code


@dataclass(frozen=True)
class InstallOptions:
    config: Path | None = None
    root: Path = Path("/")
    user: str = "minisplit"
    dry_run: bool = False
    systemctl: bool = True

    @property
    def staging(self) -> bool:
        return self.root != Path("/")

    def command_line(self) -> str:
        """These options as the command that gives them, for messages."""
        words = ["minisplit", "install"]
        if self.config is not None:
            words += ["--config", str(self.config)]
        if self.staging:
            words += ["--root", str(self.root)]
        if self.user != "minisplit":
            words += ["--user", self.user]
        if self.dry_run:
            words.append("--dry-run")
        if not self.systemctl:
            words.append("--no-systemctl")
        return shlex.join(words)


def user_name(text: str) -> str:
    """An argparse type: a valid system user name."""
    if not USER_NAME.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a user name (lowercase letters, digits, _ and -, at most 32)"
        )
    return text


@dataclass(frozen=True)
class Owner:
    user: str
    group: str

    def __str__(self) -> str:
        return f"{self.user}:{self.group}"


def shipped_unit() -> str:
    """The hardened unit template that travels with the package (minisplit_systemd)."""
    return (resources.files("minisplit_systemd") / SHIPPED_UNIT).read_text(encoding="utf-8")


def shipped_example() -> str:
    return (resources.files("minisplit_data") / "example.toml").read_text(encoding="utf-8")


def unit_setting(unit: str, key: str) -> str:
    """The value of the first ``key=`` line of a unit file."""
    for line in unit.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() == key:
            return value.strip()
    raise InstallError("the shipped systemd unit is broken:", [f"it has no {key}= line"])


def serial_devices(loaded: LoadedConfig) -> list[str]:
    """The serial ports of the config's RTU buses, each once: what DeviceAllow= must allow."""
    devices: list[str] = []
    problems: list[str] = []
    for name, bus in loaded.config.buses.items():
        if not isinstance(bus, SerialBus):
            continue
        if not bus.device.startswith("/dev/") or any(c.isspace() for c in bus.device):
            problems.append(
                f"buses.{name}.device: {bus.device!r} is not a device path under /dev "
                "(systemd's DeviceAllow= needs one, e.g. /dev/ttyUSB0)"
            )
        elif bus.device not in devices:
            devices.append(bus.device)
    if problems:
        raise InstallError(f"{loaded.path}: cannot allow the serial port(s):", problems)
    return devices


def render_unit(
    template: str, *, executable: str, config: Path, owner: Owner, devices: list[str], source: str
) -> str:
    """The installed unit: the template with this board's `minisplit` executable, config path,
    service user and serial ports (DeviceAllow=); its opening comments, which explain how to
    adapt it by hand, give way to a note on where it came from."""
    lines = template.splitlines()
    while lines and (lines[0].startswith("#") or not lines[0].strip()):
        lines.pop(0)
    header = [
        f"# Installed by `minisplit install` for the config {source}.",
        "# Re-run `minisplit install` after changing the config's serial ports; keep local",
        "# changes in a drop-in (`systemctl edit minisplit`), which a re-install leaves alone.",
    ]
    out: list[str] = []
    seen: set[str] = set()
    for line in lines:
        key = line.partition("=")[0].strip() if "=" in line and not line.startswith("#") else ""
        if key == "ExecStart":
            argv = shlex.split(line.partition("=")[2])
            argv[0] = executable
            if "-c" in argv:
                argv[argv.index("-c") + 1] = str(config)
            line = f"ExecStart={shlex.join(argv)}"
        elif key == "User":
            line = f"User={owner.user}"
        elif key == "Group":
            line = f"Group={owner.group}"
        elif key == "DeviceAllow":
            if key in seen:
                continue
            line = "\n".join(f"DeviceAllow={device} rw" for device in devices) or (
                "# No serial bus in the config: no device node is allowed."
            )
        seen.add(key)
        out.append(line)
    missing = [k for k in ("ExecStart", "User", "DeviceAllow") if k not in seen]
    if missing:
        raise InstallError(
            "the shipped systemd unit is broken:", [f"it has no {k}= line" for k in missing]
        )
    return "\n".join([*header, *out]) + "\n"


def minisplit_executable() -> str:
    """The `minisplit` script of the environment this runs in (a venv's bin, not resolved:
    the venv's python must start it), else the one on PATH."""
    beside = Path(sys.executable).parent / "minisplit"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside.absolute())
    found = shutil.which("minisplit")
    if found is None:
        raise InstallError(
            "cannot find the `minisplit` executable:",
            [f"not next to {sys.executable} and not on PATH; install the package first"],
        )
    return str(Path(found).absolute())


@dataclass
class Installer:
    """Applies the steps under ``options.root`` and reports each one on ``say``."""

    options: InstallOptions
    say: Callable[[str], None] = print
    changes: int = 0

    def path(self, live: Path) -> Path:
        return self.options.root / live.relative_to("/")

    @property
    def acting(self) -> bool:
        return not self.options.dry_run

    @property
    def sets_owners(self) -> bool:
        return not self.options.staging

    def _done(self, verb: str, what: str) -> None:
        if self.options.dry_run:
            verb = f"would {verb}"
        self.changes += 1
        self.say(f"  {verb} {what}")

    def unchanged(self, what: str) -> None:
        self.say(f"  unchanged {what}")

    def user(self) -> None:
        name = self.options.user
        command = [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            str(STATE_DIR),
            "--shell",
            NOLOGIN,
        ]
        if _known(grp.getgrnam, SERIAL_GROUP):
            command += ["--groups", SERIAL_GROUP]
        command.append(name)
        if self.options.staging:
            self.say(f"  not creating user {name} in a staging tree; the package must run:")
            self.say(f"    {shlex.join(command)}")
            return
        if _known(pwd.getpwnam, name):
            self.unchanged(f"user {name} (exists)")
            return
        self._done("create", f"user {name}: {shlex.join(command)}")
        if self.acting:
            _run(command)

    def directory(self, live: Path, mode: int, owner: Owner) -> None:
        target = self.path(live)
        what = f"{live} ({mode:04o} {owner})"
        if target.is_dir():
            if self._matches(target, mode, owner):
                self.unchanged(what)
                return
            self._done("fix", f"{what}, was {_describe(target)}")
        else:
            self._done("create", what)
        if self.acting:
            target.mkdir(parents=True, exist_ok=True)
            self._set(target, mode, owner)

    def new_file(self, live: Path, content: bytes, mode: int, owner: Owner, source: str) -> bool:
        """A file that is written once and then belongs to the administrator (the config, its
        profiles). False when a different file is kept there."""
        target = self.path(live)
        if target.exists():
            if target.read_bytes() == content:
                self.unchanged(f"{live}")
                return True
            self.say(f"  kept {live}: it exists and is never overwritten ({source} not copied)")
            return False
        self._done("create", f"{live} ({mode:04o} {owner}) from {source}")
        if self.acting:
            write_atomically(target, content)
            self._set(target, mode, owner)
        return True

    def managed_file(self, live: Path, content: bytes, mode: int, owner: Owner) -> bool:
        """A file this command owns (the unit), brought up to date. True when its content
        changed (systemd must then reload it)."""
        target = self.path(live)
        what = f"{live} ({mode:04o} {owner})"
        if target.exists() and target.read_bytes() == content:
            if self._matches(target, mode, owner):
                self.unchanged(what)
            else:
                self._done("fix", f"{what}, was {_describe(target)}")
                if self.acting:
                    self._set(target, mode, owner)
            return False
        self._done("update" if target.exists() else "create", what)
        if self.acting:
            write_atomically(target, content)
            self._set(target, mode, owner)
        return True

    def _matches(self, target: Path, mode: int, owner: Owner) -> bool:
        info = target.stat()
        if stat.S_IMODE(info.st_mode) != mode:
            return False
        if not self.sets_owners:
            return True
        return (info.st_uid, info.st_gid) == _ids(owner)

    def _set(self, target: Path, mode: int, owner: Owner) -> None:
        target.chmod(mode)
        if self.sets_owners:
            shutil.chown(target, owner.user, owner.group)


def install(options: InstallOptions, say: Callable[[str], None] = print) -> int:
    """Run `minisplit install`; raises InstallError (nothing changed) for what stops it."""
    if os.geteuid() != 0 and not (options.staging or options.dry_run):
        raise InstallError(
            "minisplit install: must run as root (it creates a system user and writes to "
            "/etc and /var/lib):",
            [
                f"run:     sudo {options.command_line()}",
                f"preview: {options.command_line()} --dry-run",
                "stage into a tree for a package: add --root DIR",
            ],
            exit_code=2,
        )
    template = shipped_unit()
    installer = Installer(options, say)
    user = options.user
    service = Owner(user, _primary_group(user))
    config_dir_mode = int(unit_setting(template, "ConfigurationDirectoryMode"), 8)
    state_dir_mode = int(unit_setting(template, "StateDirectoryMode"), 8)
    # Everything that can fail is checked before the first change.
    source_name, source_text = _source_config(options)
    base_dir = _base_dir(options)
    source = _validated(lambda: parse_config(source_text, source_name, base_dir))
    profiles, config_text = _with_installed_profiles(source_name, source_text, source, base_dir)
    installed = installer.path(CONFIG_FILE)
    if installed.exists():
        effective = _validated(lambda: load_config(installed))
    else:
        effective = source
        _check_as_installed(installer, config_text, profiles)
    executable = minisplit_executable()
    unit = render_unit(
        template,
        executable=executable,
        config=CONFIG_FILE,
        owner=service,
        devices=serial_devices(effective),
        source=str(CONFIG_FILE),
    )

    where = f" into {options.root}" if options.staging else ""
    say(f"Installing the minisplit service{where}{' (dry run)' if options.dry_run else ''}:")
    installer.user()
    # root owns the directory so the service cannot replace its own config; the service's
    # group may enter it to read the config. systemd's ConfigurationDirectory= leaves an
    # existing directory's owner and mode alone.
    installer.directory(CONFIG_DIR, config_dir_mode, Owner("root", service.group))
    if installer.new_file(CONFIG_FILE, config_text.encode(), CONFIG_MODE, service, source_name):
        _copy_profiles(installer, profiles, Owner("root", service.group), config_dir_mode)
    elif profiles:
        say(f"  not copying the profiles {source_name} names: the installed config is kept")
    # The same mode as the unit's StateDirectoryMode=, which systemd re-applies at every start.
    installer.directory(STATE_DIR, state_dir_mode, service)
    unit_changed = installer.managed_file(
        UNIT_FILE, unit.encode(), UNIT_MODE, Owner("root", "root")
    )
    if unit_changed:
        _daemon_reload(installer)
    checked = _check_installed(installer, effective, executable)
    if installer.changes == 0:
        say("Nothing to change: minisplit is installed as this command would install it.")
    _next_steps(installer, checked, executable)
    return 0


def _source_config(options: InstallOptions) -> tuple[str, str]:
    if options.config is None:
        return "the shipped example config", shipped_example()
    try:
        return str(options.config), options.config.read_text(encoding="utf-8")
    except OSError as err:
        raise InstallError(f"{options.config}: cannot read:", [str(err.strerror)]) from None


def _base_dir(options: InstallOptions) -> Path | None:
    return None if options.config is None else options.config.parent


def _with_installed_profiles(
    source_name: str, text: str, loaded: LoadedConfig, base_dir: Path | None
) -> tuple[dict[str, tuple[Path, bytes]], str]:
    """The profile files the config names (by installed file name: where it comes from, its
    content), and the config's text with
    each such ``profile`` pointing at its copy in PROFILE_DIR, written relative to the config's
    folder so that the result checks the same in a staging tree. Every other byte is kept."""
    files: dict[str, Path] = {}
    expected = parse_toml(text)
    lines = text.splitlines(keepends=True)
    problems: list[str] = []
    for loc, value, _ in profile_keys(loaded.config):
        source = profile_file(value, base_dir)
        if source is None:
            continue  # a shipped profile: it comes with the package
        other = files.setdefault(source.name, source)
        if other.resolve() != source.resolve():
            problems.append(f"{key_path(loc)}: {source} and {other} have the same file name")
            continue
        copy = f"{PROFILE_DIR.relative_to(CONFIG_DIR).as_posix()}/{source.name}"
        _put(expected, loc, copy)
        number = line_of(text, loc)
        match = _PROFILE_LINE.match(lines[number - 1]) if number else None
        if not number or match is None:
            problems.append(f'{key_path(loc)}: write it as profile = "…" on a line of its own')
            continue
        # A JSON string is a valid TOML basic string.
        lines[number - 1] = match["head"] + json.dumps(copy) + match["tail"]
    rewritten = "".join(lines)
    if not problems and parse_toml(rewritten) != expected:
        problems.append('write each profile = "…" on a line of its own')
    contents: dict[str, tuple[Path, bytes]] = {}
    for name, source in files.items():
        try:
            contents[name] = (source, read_text(source).encode())
        except UnreadableFile as err:  # it was read a moment ago, when the config was checked
            problems.append(str(err))
    if problems:
        raise InstallError(
            f"{source_name}: cannot point its profiles at their installed copies in "
            f"{PROFILE_DIR} (nothing changed):",
            problems,
        )
    return contents, rewritten


def _put(data: Any, loc: Loc, value: str) -> None:
    for key in loc[:-1]:
        data = data[key]
    data[loc[-1]] = value


def _copy_profiles(
    installer: Installer,
    profiles: dict[str, tuple[Path, bytes]],
    owner: Owner,
    directory_mode: int,
) -> None:
    if not profiles:
        return
    installer.directory(PROFILE_DIR, directory_mode, owner)
    for name, (source, content) in profiles.items():
        installer.new_file(PROFILE_DIR / name, content, PROFILE_MODE, owner, str(source))


def _validated(load: Callable[[], LoadedConfig]) -> LoadedConfig:
    try:
        return load()
    except ConfigError as err:
        raise InstallError(
            f"{err.source}: configuration has {len(err.problems)} error(s) (nothing changed):",
            err.problems,
        ) from None


def _check_as_installed(
    installer: Installer, config_text: str, profiles: dict[str, tuple[Path, bytes]]
) -> None:
    """Check the config as it will be installed, as `check-config` does, before anything
    changes: its text with each ``profile`` pointing into PROFILE_DIR, beside the profile files
    it will find there (one already installed is kept, so that one; else the copy)."""
    with tempfile.TemporaryDirectory(prefix="minisplit-install-") as folder:
        staged = Path(folder)
        for name, (_, content) in profiles.items():
            kept = installer.path(PROFILE_DIR / name)
            target = staged / PROFILE_DIR.relative_to(CONFIG_DIR) / name
            target.parent.mkdir(exist_ok=True)
            target.write_bytes(kept.read_bytes() if kept.is_file() else content)
        try:
            parse_config(config_text, str(CONFIG_FILE), staged)
        except ConfigError as err:
            raise InstallError(
                f"{CONFIG_FILE} as it would be installed fails check-config, so the service "
                "could not start on it (nothing changed):",
                err.problems,
            ) from None


def _daemon_reload(installer: Installer) -> None:
    options = installer.options
    command = ["systemctl", "daemon-reload"]
    if options.staging or not options.systemctl:
        installer.say("  not running systemctl daemon-reload (--root or --no-systemctl)")
        return
    if shutil.which("systemctl") is None or not Path("/run/systemd/system").is_dir():
        installer.say("  not running systemctl daemon-reload: systemd is not running here")
        return
    installer.say(f"  {'would run' if options.dry_run else 'run'} {shlex.join(command)}")
    if installer.acting:
        _run(command)


def _check_installed(installer: Installer, fallback: LoadedConfig, executable: str) -> LoadedConfig:
    """Check the installed config as `check-config` does (a failure ends the install with exit
    status 1: the service could not start on it) and return it; then say what would stop the
    service later: a config or secret it would refuse (as its user), a state file it may not
    write, an executable it cannot see. A dry run that installs no config checks ``fallback``,
    the config it would install."""
    installed = installer.path(CONFIG_FILE)
    loaded = fallback
    if installed.exists():
        try:
            loaded = load_config(installed)
        except ConfigError as err:
            raise InstallError(
                f"installed, but {CONFIG_FILE} fails check-config, so the service cannot start "
                "on it; fix it and run `minisplit install` again:",
                err.problems,
            ) from None
        installer.say(f"  checked {CONFIG_FILE} as check-config does: valid")
        _check_files(installer, loaded)
    else:
        installer.say(f"  would check {CONFIG_FILE} as check-config does once it is written")
    state_file = loaded.config.state_file
    if not state_file.is_relative_to(STATE_DIR):
        installer.say(
            f"  warning: state_file {state_file} is outside {STATE_DIR}: the service may write "
            f"only there (ProtectSystem=strict); use {STATE_DIR / 'state.json'}"
        )
    # The script and the interpreter behind a venv's python link (pyenv keeps it in ~).
    for program in dict.fromkeys((Path(executable), Path(sys.executable).resolve())):
        if any(program.is_relative_to(home) for home in HIDDEN_HOMES):
            installer.say(
                f"  warning: {program} is under {', '.join(map(str, HIDDEN_HOMES))}, which "
                "the service cannot see (ProtectHome=yes): install Python and the package "
                "elsewhere, e.g. python3 -m venv /opt/minisplit/venv"
            )
    return loaded


def _check_files(installer: Installer, loaded: LoadedConfig) -> None:
    """The installed config and its secrets as the service user will find them (a staging tree
    has no owners yet: only the mode bits count there)."""
    options = installer.options
    service_uid = _ids(Owner(options.user, _primary_group(options.user)))[0]
    findings = inspect_files(
        loaded,
        euid=service_uid,
        owner=not options.staging,
        # The service runs in /, so a relative path there is one under /.
        locate=lambda path: installer.path(Path("/") / path),
    )
    for problem in findings.refusals:
        installer.say(f"  warning: `minisplit run` refuses to start: {problem}")
    for warning in findings.warnings:
        installer.say(f"  warning: {warning}")
    if options.staging:
        return
    for live, what in [(CONFIG_FILE, "config file"), *secret_files(loaded)]:
        target = installer.path(Path("/") / live)
        if target.exists() and target.stat().st_uid != service_uid:
            # Private to root (which the check allows), it is unreadable to the service.
            installer.say(
                f"  warning: {what} {live} is not owned by {options.user}, so the service "
                f"cannot read it: chown {options.user}:{options.user} {live}"
            )


def _next_steps(installer: Installer, loaded: LoadedConfig, executable: str) -> None:
    options = installer.options
    user = options.user
    steps = [
        f"edit {CONFIG_FILE} (buses, unit ids, zones, MQTT broker)",
        f"check it:  sudo -u {user} {executable} check-config {CONFIG_FILE}",
    ]
    mqtt = loaded.config.mqtt
    if mqtt is not None and mqtt.password_file is not None:
        # Where the service will look: it runs in /, so a relative path is one under / (the
        # step said to create it in whatever folder the admin was in).
        secret = Path("/") / mqtt.password_file
        if installer.path(secret).exists():
            steps.append(f"MQTT password: {secret} exists; keep it mode 0600, owner {user}")
        else:
            steps.append(
                f"MQTT password, private to {user}: sudo install -m 600 -o {user} -g {user} "
                f"/dev/null {secret} && sudo editor {secret}"
            )
    steps += [
        "start it now and at every boot:  sudo systemctl enable --now minisplit",
        "follow its log:  journalctl -u minisplit -f",
    ]
    if options.staging:
        steps.insert(0, f"package {options.root}: create user {user} and set the owners above")
    installer.say("Next steps:")
    for number, step in enumerate(steps, start=1):
        installer.say(f"  {number}. {step}")


def _known(lookup: Callable[[str], object], name: str) -> bool:
    """Whether the account database knows ``name`` (lookup: pwd.getpwnam or grp.getgrnam)."""
    try:
        lookup(name)
    except KeyError:
        return False
    return True


def _primary_group(user: str) -> str:
    """The user's own group: the one `useradd --user-group` makes, or whatever an existing
    user has."""
    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError:
        return user


def _ids(owner: Owner) -> tuple[int, int]:
    try:
        return pwd.getpwnam(owner.user).pw_uid, grp.getgrnam(owner.group).gr_gid
    except KeyError:
        return -1, -1  # not created yet (a dry run): nothing can match


def _describe(target: Path) -> str:
    info = target.stat()
    return f"{stat.S_IMODE(info.st_mode):04o} uid {info.st_uid} gid {info.st_gid}"


def _run(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, text=True)
    except FileNotFoundError:
        raise InstallError(f"cannot run {command[0]}:", ["it is not installed"]) from None
    except subprocess.CalledProcessError as err:
        output = (err.stderr or err.stdout or "").strip()
        raise InstallError(
            f"{shlex.join(command)} failed (exit {err.returncode}):",
            output.splitlines() or ["no output"],
        ) from None
