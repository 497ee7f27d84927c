"""The `minisplit test-head` command line around `head_trial` (docs/commissioning.md,
"Testing a head")."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from minisplit.controller.config import config_file
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.head_trial import (
    TRIAL_MODES,
    Sample,
    TrialResult,
    run_trial,
)
from minisplit.controller.probe import loaded_or_refusal
from minisplit.controller.unit_access import UnitAccessError, controller_stopped

#: The shortest trial: a compressor asked to start waits out the minimum off time (180 s at
#: least) before it may run, and then needs a minute to show.
MIN_MINUTES = 5.0
DEFAULT_MINUTES = 8.0


def add_parser(sub: Any) -> None:
    """Register `minisplit test-head` on the command line's subparsers."""
    trial = sub.add_parser(
        "test-head",
        help="switch one head on in heat or cool, watch it respond, and put it back",
        description="Try one zone's head before going live: the controller's own control runs"
        " it in the mode at a setpoint for a few minutes and watches it respond (on in the"
        " mode, thermo-on, compressor, air), then switches it off keeping the interlocks and"
        " writes its settings back as they were. Refused while the controller runs with the"
        " config.",
    )
    trial.add_argument("-c", "--config", type=config_file, required=True, metavar="FILE|NAME")
    trial.add_argument("--zone", required=True, metavar="ZONE", help="the zone whose head")
    trial.add_argument(
        "--mode", choices=[str(m) for m in TRIAL_MODES], default="heat", help="(heat)"
    )
    trial.add_argument(
        "--setpoint",
        type=float,
        metavar="C",
        help="the target (°C); default 3 K beyond the room, so that the head calls",
    )
    trial.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        metavar="M",
        help=f"how long it runs before it is switched off ({DEFAULT_MINUTES:g}; at least"
        f" {MIN_MINUTES:g}, at most 60)",
    )
    trial.add_argument("--json", action="store_true", help="the result as JSON on stdout")
    add_time_scale(trial)


def add_time_scale(parser: Any) -> None:
    """``--time-scale``, for the simulator: the commands that run the control (test-head,
    commission) take it as `run` does; `time_scale_problem` judges it."""
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        metavar="N",
        help="engineering: timers N× faster, in step with `minisplit sim --speed N`",
    )


def time_scale_problem(time_scale: float) -> str | None:
    """What is wrong with a ``--time-scale`` value, or None."""
    if not 0 < time_scale <= 1000:
        return "--time-scale takes above 0 and at most 1000"
    return None


def _progress(sample: Sample) -> None:
    def temp(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} °C"

    state = "-" if sample.power is None else ("on" if sample.power else "off")
    mode = f" {sample.mode}" if sample.power and sample.mode else ""
    thermo = {True: "calls", False: "satisfied", None: "-"}[sample.thermo_on]
    hz = "-" if sample.compressor_hz is None else f"{sample.compressor_hz:g} Hz"
    print(
        f"{sample.elapsed_s:6.0f} s  head {state}{mode}, thermostat {thermo}, return air"
        f" {temp(sample.return_air_c)}, coil {temp(sample.coil_c)}, compressor {hz}",
        file=sys.stderr,
        flush=True,
    )


def result_text(result: TrialResult) -> str:
    if result.ended_early:
        end = result.samples[-1].elapsed_s if result.samples else 0
        verdict = f"ENDED EARLY (after {end:g} s): what it saw until then"
    else:
        verdict = "PASS" if result.passed else "FAIL"
    lines = [
        f"{result.target}: {result.mode} at {result.setpoint_c:g} °C"
        f" ({result.strategy} control): {verdict}"
    ]
    width = max(len(check.name) for check in result.checks)
    lines += [f"  {c.name.ljust(width)}  {c.verdict:<12}  {c.detail}" for c in result.checks]
    lines.append("  written back: " + ("; ".join(result.restored) or "nothing"))
    lines += [f"  NOT written back: {what}" for what in result.not_restored]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """The `test-head` command: 0 when the head passed, 1 when it failed, could not be
    reached or the trial was refused, 2 on bad input (all said on stderr)."""
    problem = time_scale_problem(args.time_scale)
    if problem is not None:
        print(f"minisplit test-head: {problem}", file=sys.stderr)
        return 2
    if not MIN_MINUTES <= args.minutes <= 60:
        print(
            f"minisplit test-head: --minutes takes {MIN_MINUTES:g} to 60 (the compressor"
            " waits out its minimum off time before it starts)",
            file=sys.stderr,
        )
        return 2
    try:
        loaded = loaded_or_refusal(args.config)
        zones = [zone.id for zone in loaded.config.zones]
        if args.zone not in zones:
            raise UnitAccessError(
                f"no zone {args.zone!r} in the config (zones: {', '.join(zones)})"
            )
    except UnitAccessError as err:
        print(f"minisplit test-head: {err}", file=sys.stderr)
        return 2
    zone = loaded.config.zone(args.zone)
    if args.setpoint is not None and not (
        zone.min_temperature <= args.setpoint <= zone.max_temperature
    ):
        print(
            f"minisplit test-head: --setpoint {args.setpoint:g} is outside zone {zone.id}'s"
            f" range {zone.min_temperature:g}..{zone.max_temperature:g} °C",
            file=sys.stderr,
        )
        return 2
    print(
        f"trying zone {zone.id} in {args.mode} for {args.minutes:g} min, then off (keeping the"
        " minimum on time) and its settings written back; Ctrl-C ends it early the same way",
        file=sys.stderr,
    )
    try:
        with controller_stopped(loaded.config.state_file):
            result = asyncio.run(
                run_trial(
                    loaded,
                    zone.id,
                    ZoneMode(args.mode),
                    setpoint_c=args.setpoint,
                    duration_s=args.minutes * 60,
                    time_scale=args.time_scale,
                    show=_progress,
                )
            )
    except UnitAccessError as err:
        print(f"minisplit test-head: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # a second Ctrl-C: the settings were written back all the same
        print(
            "minisplit test-head: interrupted; the head's settings were written back",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(result.as_dict(), indent=2) if args.json else result_text(result))
    return 0 if result.passed and not result.not_restored else 1
