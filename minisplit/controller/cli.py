"""The `minisplit` command line: run, sim, check-config, probe, scan, test-head, commission,
bench, install, demo."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import select
import signal
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar, get_args

from minisplit.controller import commission_report, head_trial_command, probe
from minisplit.controller.config import (
    ConfigError,
    LoadedConfig,
    Strategy,
    config_file,
    load_config,
)
from minisplit.controller.online_check import run_online_check
from minisplit.controller.service import scan_command
from minisplit.controller.service.install import InstallError, InstallOptions, install, user_name

if TYPE_CHECKING:  # the simulator is imported only by the commands that use it
    from minisplit.hil.scenario import Scenario
from minisplit.controller.service.security import inspect_files
from minisplit.drivers.bus_config import SerialBus
from minisplit.drivers.capabilities import capabilities
from minisplit.drivers.profile import DeviceProfile

log = logging.getLogger("minisplit")
T = TypeVar("T")

# `sim --serial` accepts the framings a serial bus in the config may have.
SERIAL_BAUDRATES = get_args(SerialBus.model_fields["baudrate"].annotation)
SERIAL_PARITIES = get_args(SerialBus.model_fields["parity"].annotation)
SERIAL_STOPBITS = get_args(SerialBus.model_fields["stopbits"].annotation)


def _parsed(
    text: str, kind: type[float] | type[int], what: str, ok: Callable[[float], bool], bounds: str
) -> float:
    """``text`` as a ``kind`` for which ``ok`` holds, else argparse's error: ``what`` names
    the kind of value, ``bounds`` the range it must lie in."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
    if not ok(value):
        raise argparse.ArgumentTypeError(f"{text!r} must be {bounds}")
    return value


def _positive(text: str) -> float:
    return _parsed(text, float, "a number", lambda v: 0 < v <= 10000, "above 0 and at most 10000")


def _inset(text: str) -> float:
    """A margin inside the comfort band: above 0 and below its half-width (0.5 K)."""
    bounds = "above 0 and below 0.5 K (the comfort band's half-width)"
    return _parsed(text, float, "a number of kelvin", lambda v: 0 < v < 0.5, bounds)


def _weeks(text: str) -> int:
    """A whole number of weeks within a year either way."""
    weeks = _parsed(
        text, int, "a whole number of weeks", lambda v: -52 <= v <= 52, "within -52..52 weeks"
    )
    return int(weeks)


def _host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:5020)")
    return host, int(port)


# -c/--config: a file, or a shipped config's name, found wherever the package is installed.
_CONFIG: dict[str, str] = {
    "metavar": "FILE|NAME",
    "help": "a config file, or a shipped config's name (demo, demo-gateway, example, ...)",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="minisplit",
        description="Controller for multi-zone mini-split heat pumps over Modbus, with MQTT.",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the controller")
    run.add_argument(
        "-c",
        "--config",
        type=config_file,
        required=True,
        metavar="FILE|NAME",
        help="a config file, or a shipped config's name (demo, demo-gateway, example, ...)",
    )
    run.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        help="engineering: run timers N× faster, in step with `minisplit sim --speed N`",
    )
    run.add_argument(
        "--start-timeout",
        type=_positive,
        default=60.0,
        metavar="SECONDS",
        help="tell systemd READY=1 after this even if no unit has answered (reason in STATUS=)",
    )

    sim = sub.add_parser("sim", help="serve the simulated units of a config over Modbus")
    sim.add_argument(
        "-c",
        "--config",
        type=config_file,
        required=True,
        metavar="FILE|NAME",
        help="a config file, or a shipped config's name (demo, demo-gateway, example, ...)",
    )
    where = sim.add_mutually_exclusive_group()
    where.add_argument("--tcp", type=_host_port, metavar="HOST:PORT")
    where.add_argument("--serial", metavar="PORT", help="serial port, e.g. one end of a pty pair")
    # Defaults (None) come from the config's outdoor-unit bus in hil.simulator.run_simulator.
    default = "default: the outdoor unit's RTU bus's, else"
    sim.add_argument(
        "--baudrate",
        type=int,
        choices=SERIAL_BAUDRATES,
        metavar="BAUD",
        help=f"line speed on --serial ({default} 19200)",
    )
    sim.add_argument(
        "--parity",
        type=str.upper,
        choices=SERIAL_PARITIES,
        help=f"parity on --serial ({default} E; a pty carries none)",
    )
    sim.add_argument(
        "--stopbits", type=int, choices=SERIAL_STOPBITS, help=f"on --serial ({default} 1)"
    )
    sim.add_argument("--speed", type=_positive, default=1.0, help="run the physics N× faster")
    sim.add_argument(
        "--faults",
        type=_fault_file,
        metavar="FILE|NAME",
        help="inject the faults of a TOML fault file, or of a shipped one (demo-faults)",
    )
    sim.add_argument(
        "--scenario",
        type=_scenario_file,
        metavar="FILE|NAME",
        help="model the building of a bench scenario, a file or a shipped scenario's name (its"
        " zones must match the config's)",
    )
    sim.add_argument(
        "--play-schedules",
        action="store_true",
        help="with --scenario: a simulated homeowner sets the zones as the scenario's schedules"
        " say, by MQTT commands to the controller (the config's [mqtt] broker)",
    )

    check = sub.add_parser("check-config", help="validate a config file")
    check.add_argument(
        "file",
        type=config_file,
        metavar="FILE|NAME",
        help="a config file, or a shipped config's name (demo, demo-gateway, example, ...)",
    )
    check.add_argument(
        "--online",
        action="store_true",
        help="also contact each unit: it answers, is its profile's device, has its registers",
    )

    probe.add_parser(sub)

    bench = sub.add_parser(
        "bench",
        help="score the controller against baselines on simulated weeks (docs/benchmark.md)",
    )
    bench.add_argument(
        "--scenario",
        type=_scenario_file,
        action="append",
        default=[],
        metavar="FILE|NAME",
        help="a scenario file, or a shipped scenario's name such as renovated-january"
        " (repeatable); default: every shipped scenario",
    )
    bench.add_argument(
        "--controller",
        action="append",
        default=[],
        metavar="NAME|MODULE:ATTR",
        help="only these controllers (repeatable): minisplit, onoff, stock, passthrough, ideal,"
        " or your own controller of the direct unit as module:attr (alone: beside the"
        " built-ins); default: every built-in that runs on the units",
    )
    bench.add_argument(
        "--config",
        type=config_file,
        action="append",
        default=[],
        metavar="FILE|NAME",
        help="run minisplit with this config's [control] table (repeatable, at most two: a"
        " second adds the A/B table of B - A)",
    )
    bench.add_argument(
        "--unit",
        action="append",
        default=[],
        choices=["direct", "setpoint", "external"],
        help="the units the heads are (repeatable): direct (the reference unit, compressor"
        " speed set by the controller), setpoint (setpoint-driven heads behind a setpoint-only"
        " interface), external (the same with an external room-temperature register);"
        " default: direct",
    )
    bench.add_argument("--json", action="store_true", help="print one JSON document")
    bench.add_argument("--plots", type=Path, metavar="DIR", help="write one PNG per scenario")
    bench.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write DIR/index.html with the table and the plots (PNGs beside it)",
    )
    bench.add_argument(
        "--ideal-inset",
        type=_inset,
        action="append",
        default=[],
        metavar="K",
        help="engineering (repeatable): add a row for `ideal` holding its rooms K kelvin inside"
        " the band, to show what so small a margin costs in excess discomfort",
    )
    bench.add_argument(
        "--shift-weeks",
        type=_weeks,
        action="append",
        default=[],
        metavar="K",
        help="engineering (repeatable): run each scenario K weeks later (earlier if negative)"
        " in the weather year, named e.g. mixed-april+2w; default: as written",
    )
    bench.add_argument(
        "--forecast",
        choices=("none", "perfect", "noisy"),  # hil.forecasts.FORECASTS (not imported here)
        action="append",
        default=[],
        help="(repeatable) add a row of minisplit given this weather forecast, made from the"
        " weather file: perfect, or noisy like a day-ahead forecast's (docs/benchmark.md)",
    )
    bench.add_argument(
        "--why",
        action="store_true",
        help="split each controller's discomfort by cause (defrost, setpoint change, sun, ...)",
    )

    install = sub.add_parser(
        "install", help="create the service user and directories, install the systemd unit"
    )
    install.add_argument("--config", type=Path, metavar="FILE", help="default: the example")
    install.add_argument(
        "--root",
        type=Path,
        default=Path("/"),
        metavar="DIR",
        help="stage into this tree (packages, tests): no users created, no owners set",
    )
    install.add_argument("--user", type=user_name, default="minisplit")
    install.add_argument("--dry-run", action="store_true", help="say what it would do")
    install.add_argument("--no-systemctl", action="store_true", help="no daemon-reload")

    demo = sub.add_parser("demo", help="simulator + broker + controller with a live view")
    demo.add_argument(
        "-c",
        "--config",
        type=config_file,
        default=None,
        metavar="FILE|NAME",
        help="a config file, or a shipped config's name (demo, demo-gateway, example, ...)",
    )
    demo.add_argument("--speed", type=_positive, default=60.0)
    demo.add_argument("--duration", type=_positive, default=None, help="stop after N seconds")
    scan_command.add_parser(sub)
    head_trial_command.add_parser(sub)
    commission_report.add_parser(sub)
    return parser


def _exit_with(headline: str, problems: Sequence[str], code: int = 1) -> NoReturn:
    """Print a headline and one indented line per problem on stderr, and exit ``code``."""
    print(headline, file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    raise SystemExit(code)


def _load(path: Path) -> LoadedConfig:
    try:
        return load_config(path)
    except ConfigError as err:
        _refuse_config(err)


def _refuse_config(err: ConfigError) -> NoReturn:
    _exit_with(f"{err.source}: configuration has {len(err.problems)} error(s):", err.problems)


def _refuse_insecure(loaded: LoadedConfig) -> None:
    """Exit when others can change the config or read a secret it names
    (controller.service.security); log what is only worth a warning."""
    findings = inspect_files(loaded)
    if findings.refusals:
        _exit_with("minisplit: refusing to start:", findings.refusals)
    for warning in findings.warnings:
        log.warning("%s", warning)


def _refuse_a_second_controller(loaded: LoadedConfig) -> None:
    """Exit when another controller runs with this state file; else hold its lock until exit."""
    from minisplit.controller.service.persistence import AlreadyRunning, hold_state_lock

    try:
        hold_state_lock(loaded.config.state_file)  # the descriptor stays open until exit
    except AlreadyRunning as err:
        _exit_with(f"minisplit: refusing to start: {err}", [])


def _fault_file(text: str) -> Path:
    """A fault file, or a shipped one's name (minisplit.hil.faults.fault_file)."""
    from minisplit.hil.faults import fault_file

    return fault_file(text)


def _scenario_file(text: str) -> Path:
    """A scenario file, or a shipped scenario's name: found in the package wherever it is
    installed (minisplit.hil.scenario.scenario_file)."""
    from minisplit.hil.scenario import scenario_file

    return scenario_file(text)


def _load_scenario(path: Path) -> Scenario:
    from minisplit.hil.scenario import ScenarioError, load_scenario

    try:
        return load_scenario(path)
    except ScenarioError as err:
        _exit_with(f"{err.source}: scenario has {len(err.problems)} error(s):", err.problems)


STRATEGY_SAYS = {
    Strategy.DIRECT: "the heads' capacity requests and the compressor's frequency",
    Strategy.SETPOINT: "the heads' own setpoints; the outdoor unit follows the heads",
}


def check_config(path: Path, online: bool = False) -> int:
    loaded = _load(path)
    config = loaded.config
    print(f"{path}: OK")
    print(f"  controller id: {config.controller_id}")
    for name, bus in config.buses.items():
        where = bus.device if bus.type == "rtu" else f"{bus.host}:{bus.port}"
        print(f"  bus {name}: {bus.type} {where}")
    for system in loaded.systems.values():
        at = "  "
        if system.topic_level is not None:  # one of several: its own heading
            print(f"  system {system.name} ({system.display_name}):")
            at = "    "
        print(f"{at}strategy: {system.strategy} ({STRATEGY_SAYS[system.strategy]})")
        odu, odu_profile = system.outdoor_unit, system.odu_profile
        if odu is None or odu_profile is None:
            print(f"{at}outdoor unit: none (its inverter follows the heads)")
        else:
            print(f"{at}outdoor unit: bus {odu.bus} unit {odu.unit_id} profile {odu.profile}")
            _print_capabilities(odu_profile)
        for zone in system.zones:
            behind = "" if zone.unit_index is None else f" index {zone.unit_index}"
            print(
                f"{at}zone {zone.id} ({zone.name}): bus {zone.bus} unit {zone.unit_id}{behind} "
                f"setpoints {zone.min_temperature}..{zone.max_temperature} °C"
            )
            _print_capabilities(loaded.head_profile(zone))
            for point in zone.schedule:
                print(f"    program: {point.summary()}")
    mqtt = config.mqtt
    print(f"  mqtt: {mqtt.host}:{mqtt.port} base {mqtt.base_topic}" if mqtt else "  mqtt: none")
    print(f"  state file: {config.state_file}")
    if config.site is not None:
        site = config.site
        print(f"  site: latitude {site.latitude} longitude {site.longitude} (a forecast's sun)")
    if not config.control.forecast:
        print("  forecast: not used ([control] forecast = false)")
    findings = inspect_files(loaded)
    for problem in findings.refusals:
        print(f"  warning: `minisplit run` refuses to start: {problem}")
    for warning in findings.warnings:
        print(f"  warning: {warning}")
    if online:
        problems = run_online_check(loaded, print)
        if problems:
            _exit_with(f"{path}: the online check found {len(problems)} problem(s):", problems)
    return 0


def _print_capabilities(profile: DeviceProfile) -> None:
    """What the product can do with a device, as its profile says (docs/profiles.md, 'Roles')."""
    can = capabilities(profile)
    print(f"    {profile.name}: {can.summary()}")
    if can.unused:
        print(f"    {profile.name}: registers no role uses: {', '.join(can.unused)}")


async def _until_terminated(main: Coroutine[Any, Any, T]) -> T | None:
    """Run ``main`` and return what it returns; SIGTERM (how systemd stops the service, and
    `timeout` or `kill` the demo) ends it as Ctrl-C does: it is cancelled, so that it says
    goodbye, saves the settings and stops what it started (the demo's broker) on its way out,
    and the process exits 0 (without this, SIGTERM kills the process where it stands)."""
    task = asyncio.current_task()
    assert task is not None
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, terminate)
    try:
        return await main
    except asyncio.CancelledError:
        if not terminated:
            raise
        log.info("stopped by SIGTERM")
        return None


def main(argv: Sequence[str] | None = None) -> int:
    """Run a command; quietly exit 1 when stdout's reader has gone (`minisplit … | head`)."""
    try:
        try:
            return _command(argv)
        finally:  # also on SystemExit (--help, errors): what is still buffered fails here
            sys.stdout.flush()
    except BrokenPipeError:
        if not _reader_gone():
            raise  # a broken pipe elsewhere (a socket, a child process) is a bug to show
        # Python's recipe: stdout goes to devnull so that the interpreter's own flush at exit
        # does not fail a second time and print a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _reader_gone() -> bool:
    """Whether stdout is a pipe (or socket) that its reader has closed: poll says POLLERR."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, ValueError):  # no stdout, or one without a file descriptor
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


@contextlib.contextmanager
def _line_quiet(log_level: str) -> Iterator[None]:
    """An installer's one-shot commands print what they found: the line's INFO lines
    ("connected to …") and, for test-head, the service's ("head found: …") would only sit
    between their output (``--log-level DEBUG`` keeps them). The levels are put back after,
    for whoever runs the command in-process."""
    logs = [logging.getLogger(name) for name in _CHATTY_LOGS]
    levels = [log.level for log in logs]
    if log_level == "INFO":
        for log in logs:
            log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for log, level in zip(logs, levels, strict=True):
            log.setLevel(level)


_CHATTY_LOGS = ("minisplit.drivers.bus", "minisplit.controller.service")


def _command(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    if args.command in ("check-config", "probe", "scan", "test-head", "commission"):
        with _line_quiet(args.log_level):
            if args.command == "check-config":
                return check_config(args.file, args.online)
            if args.command == "probe":
                return probe.run_probe(args)
            if args.command == "test-head":
                return head_trial_command.run(args)
            if args.command == "commission":
                return commission_report.run(args)
            return scan_command.run(args)
    if args.command == "install":
        options = InstallOptions(
            args.config, args.root, args.user, args.dry_run, not args.no_systemctl
        )
        try:
            return install(options)
        except InstallError as err:
            _exit_with(err.headline, err.problems, err.exit_code)
    with contextlib.suppress(KeyboardInterrupt):
        if args.command == "run":
            from minisplit.controller.service.supervisor import run_supervisor

            loaded = _load(args.config)
            _refuse_insecure(loaded)
            _refuse_a_second_controller(loaded)
            asyncio.run(
                _until_terminated(run_supervisor(loaded, args.time_scale, args.start_timeout))
            )
        elif args.command == "sim":
            from minisplit.hil.simulator import FaultFileError, SimulatorSetupError, run_simulator

            if args.serial is None and (args.baudrate or args.parity or args.stopbits):
                _exit_with(
                    "minisplit sim: --baudrate, --parity and --stopbits need --serial", [], 2
                )
            if args.play_schedules and args.scenario is None:
                _exit_with("minisplit sim: --play-schedules needs --scenario", [], 2)
            loaded = _load(args.config)
            scenario = _load_scenario(args.scenario) if args.scenario else None
            try:
                asyncio.run(
                    run_simulator(
                        loaded,
                        tcp=args.tcp,
                        serial=args.serial,
                        speed=args.speed,
                        baudrate=args.baudrate,
                        parity=args.parity,
                        stopbits=args.stopbits,
                        faults=args.faults,
                        scenario=scenario,
                        play_schedules=args.play_schedules,
                    )
                )
            except FaultFileError as err:
                _exit_with("minisplit sim: cannot inject the faults:", [str(err)])
            except (SimulatorSetupError, OSError) as err:  # OSError: the port or address
                _exit_with(f"minisplit sim: {err}", [])
        elif args.command == "bench":
            from minisplit.hil.bench_command import run_bench
            from minisplit.hil.compare import bench_configs

            try:
                configs = bench_configs(args.config)
            except ConfigError as err:
                _refuse_config(err)
            except ValueError as err:
                _exit_with(f"minisplit bench: {err}", [], 2)
            return run_bench(
                args.scenario,
                controllers=args.controller or None,
                units=args.unit or ("direct",),
                as_json=args.json,
                plots=args.plots,
                report=args.report,
                configs=configs,
                ideal_insets_k=args.ideal_inset,
                why=args.why,
                shift_weeks=args.shift_weeks or (0,),
                forecasts=args.forecast,
            )
        elif args.command == "demo":
            from minisplit.hil.broker import NoBroker
            from minisplit.hil.demo import run_demo

            demo = run_demo(args.config, speed=args.speed, duration=args.duration)
            try:
                return asyncio.run(_until_terminated(demo)) or 0
            except NoBroker as err:
                _exit_with(f"minisplit demo: {err}", [])
    return 0


if __name__ == "__main__":
    sys.exit(main())
