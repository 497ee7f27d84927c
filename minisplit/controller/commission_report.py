"""The commissioning report as Markdown or HTML, and the `minisplit commission` command line
(docs/commissioning.md, "The commissioning report"). One list of sections feeds both formats."""

from __future__ import annotations

import argparse
import asyncio
import html
import statistics
import sys
from pathlib import Path
from typing import Any

from minisplit.controller.commission import (
    POLL_S,
    SENSOR_GAP_K,
    Commissioning,
    UnitPolls,
    commission,
)
from minisplit.controller.config import config_file
from minisplit.controller.core.settings import ZoneMode
from minisplit.controller.head_trial import TRIAL_MODES, TrialResult
from minisplit.controller.head_trial_command import (
    DEFAULT_MINUTES,
    MIN_MINUTES,
    add_time_scale,
    time_scale_problem,
)
from minisplit.controller.probe import loaded_or_refusal
from minisplit.controller.unit_access import UnitAccessError, controller_stopped

Table = tuple[list[str], list[list[str]]]  # header, rows
Block = str | Table  # a paragraph, or a table
Section = tuple[str, list[Block]]


def _ms(seconds: list[float]) -> str:
    if not seconds:
        return "-"
    return f"{statistics.fmean(seconds) * 1000:.0f} / {max(seconds) * 1000:.0f}"


def _failures(polls: UnitPolls) -> str:
    return ", ".join(f"{n} {kind}" for kind, n in sorted(polls.failures.items())) or "none"


def _temp(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} °C"


def _trial_rows(trial: TrialResult) -> list[list[str]]:
    return [[check.name, check.verdict, check.detail] for check in trial.checks]


def _sensor_note(report: Commissioning) -> list[Block]:
    far = [s.zone for s in report.sensors if s.gap_k is not None and abs(s.gap_k) > SENSOR_GAP_K]
    if not far:
        return []
    return [
        f"Heads reading over {SENSOR_GAP_K:g} K from their room's remote sensor: {', '.join(far)}"
        " (the controller regulates on the remote sensor; check where it hangs)."
    ]


def sections(report: Commissioning) -> list[Section]:
    """The report's sections in order, each a heading and its paragraphs and tables."""
    if not report.healthy:
        verdict = "see the problems below"
    elif report.trials:
        verdict = "every unit answers and is its profile's device; every head tried passed"
    else:
        verdict = "every unit answers and is its profile's device; no head was tried"
    out: list[Section] = [
        (
            "Summary",
            [
                f"Commissioned on {report.started} (finished {report.finished}) on host"
                f" `{report.host}` with {report.software}; config `{report.config_path}`.",
                f"Result: **{'OK' if report.healthy else 'NEEDS ATTENTION'}** ({verdict}).",
                *_sensor_note(report),
            ],
        ),
        ("Lines", [(["bus", "settings"], [[name, line] for name, line in report.lines])]),
    ]
    unit_rows = [[u.unit, u.profile, u.firmware, u.serial, u.identity] for u in report.units]
    problems: list[Block] = [f"- {p}" for p in report.problems] or ["No problem found."]
    out.append(
        (
            "Units",
            [(["unit", "profile", "firmware", "serial", "identity and registers"], unit_rows)],
        )
    )
    out.append(("Online check", problems))
    poll_rows = [
        [
            u.unit,
            str(u.polls),
            str(u.answered),
            _failures(u),
            f"{u.frames} / {u.frame_errors}",
            _ms(u.latencies_s),
            ", ".join(sorted(u.faults_seen)) or "none",
        ]
        for u in report.units
    ]
    out.append(
        (
            f"Polling for {report.poll_s:g} s",
            [
                "Every unit polled round after round as the service polls it (one read of"
                " everything its profile reads). Frames / errors: the line's counters of the unit"
                " id (retries included; a gateway's units share theirs).",
                (
                    [
                        "unit",
                        "polls",
                        "answered",
                        "failed",
                        "frames / errors",
                        "latency ms mean / max",
                        "faults",
                    ],
                    poll_rows,
                ),
            ],
        )
    )
    sensor_rows = []
    for s in report.sensors:
        gap = s.gap_k
        flag = "" if gap is None or abs(gap) <= SENSOR_GAP_K else f" (over {SENSOR_GAP_K:g} K)"
        gap_text = "-" if gap is None else f"{gap:+.1f} K{flag}"
        sensor_rows.append([s.zone, _temp(s.head_c), _temp(s.remote_c), gap_text, s.remote])
    out.append(
        (
            "Sensors: head against remote",
            [
                "The head's return air (mean over the polling) against the room's remote"
                " sensor (its last reading on MQTT). A head reads its own air, near the ceiling"
                " and warmed by its coil: a gap is expected; the controller corrects it where a"
                " remote sensor is configured.",
                (["zone", "head", "remote", "head − remote", "remote sensor"], sensor_rows),
            ],
        )
    )
    trial_blocks: list[Block] = []
    for trial in report.trials:
        state = "PASS" if trial.passed else "FAIL"
        if trial.ended_early:
            state = "ENDED EARLY"
        trial_blocks.append(
            f"**{trial.target}**: {trial.mode} at {trial.setpoint_c:g} °C ({trial.strategy}"
            f" control): **{state}**; written back: {'; '.join(trial.restored) or 'nothing'}"
            + "".join(f"; NOT written back: {n}" for n in trial.not_restored)
        )
        trial_blocks.append((["check", "verdict", "what was seen"], _trial_rows(trial)))
    trial_blocks += [f"**zone {z}**: not tried: {why}" for z, why in report.trials_refused.items()]
    out.append(("Heads tried", trial_blocks or ["No head was tried (`--no-trial`)."]))
    out.append(("The config used", [f"```toml\n{report.config_text.rstrip()}\n```"]))
    return out


# ---- the two formats ---------------------------------------------------------------------------


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(report: Commissioning) -> str:
    lines = ["# Commissioning report", ""]
    for heading, blocks in sections(report):
        lines += [f"## {heading}", ""]
        for block in blocks:
            if isinstance(block, str):
                lines += [block, ""]
                continue
            header, rows = block
            lines.append("| " + " | ".join(header) + " |")
            lines.append("|" + "---|" * len(header))
            lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
            lines.append("")
    return "\n".join(lines)


def _html_text(text: str) -> str:
    if text.startswith("```"):
        body = text.split("\n", 1)[1].rsplit("\n```", 1)[0]
        return f"<pre>{html.escape(body)}</pre>"
    escaped = html.escape(text)
    parts = escaped.split("**")
    escaped = "".join(f"<b>{p}</b>" if i % 2 else p for i, p in enumerate(parts))
    parts = escaped.split("`")
    return (
        "<p>" + "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts)) + "</p>"
    )


def html_page(report: Commissioning) -> str:
    body = ["<h1>Commissioning report</h1>"]
    for heading, blocks in sections(report):
        body.append(f"<h2>{html.escape(heading)}</h2>")
        for block in blocks:
            if isinstance(block, str):
                body.append(_html_text(block))
                continue
            header, rows = block
            head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
            cells = "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
                for row in rows
            )
            body.append(f"<table><tr>{head}</tr>{cells}</table>")
    style = (
        "body{font-family:sans-serif;max-width:70em;margin:2em auto}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;"
        "padding:.2em .5em;text-align:left;vertical-align:top}pre{background:#f4f4f4;padding:1em}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Commissioning report</title><style>{style}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


# ---- the command -------------------------------------------------------------------------------


def add_parser(sub: Any) -> None:
    """Register `minisplit commission` on the command line's subparsers."""
    command = sub.add_parser(
        "commission",
        help="identify, poll and try every unit of a config; write the commissioning report",
        description="Check every unit of a config (as check-config --online), poll them for a"
        " minute counting errors, compare each head's reading with its remote sensor, try each"
        " head (as test-head), and write a report to leave with the homeowner: Markdown, or"
        " HTML for a FILE ending in .html. Refused while the controller runs with the config.",
    )
    command.add_argument("-c", "--config", type=config_file, required=True, metavar="FILE|NAME")
    command.add_argument("-o", "--output", type=Path, required=True, metavar="FILE")
    command.add_argument(
        "--poll-seconds", type=float, default=POLL_S, metavar="S", help=f"({POLL_S:g})"
    )
    command.add_argument(
        "--mode", choices=[str(m) for m in TRIAL_MODES], default="heat", help="heads tried in"
    )
    command.add_argument(
        "--minutes", type=float, default=DEFAULT_MINUTES, metavar="M", help="per head"
    )
    command.add_argument(
        "--try",
        dest="trial_zones",
        action="append",
        metavar="ZONE",
        help="try only this zone's head (repeat for several; default: every zone)",
    )
    command.add_argument("--no-trial", action="store_true", help="do not switch heads on")
    add_time_scale(command)


def _bad(args: argparse.Namespace) -> str | None:
    if not 5 <= args.poll_seconds <= 3600:
        return "--poll-seconds takes 5 to 3600"
    if (problem := time_scale_problem(args.time_scale)) is not None:
        return problem
    if args.no_trial and args.trial_zones:
        return "--try and --no-trial exclude each other"
    if not args.no_trial and not MIN_MINUTES <= args.minutes <= 60:
        return f"--minutes takes {MIN_MINUTES:g} to 60"
    if args.output.suffix not in (".md", ".html"):
        return f"--output {args.output}: name a .md (Markdown) or .html file"
    if not args.output.parent.is_dir():
        return f"--output {args.output}: no directory {args.output.parent}"
    return None


def run(args: argparse.Namespace) -> int:
    """The `commission` command: 0 when every unit is fine, 1 when the report lists a
    problem (or the units cannot be reached), 2 on bad input."""
    problem = _bad(args)
    if problem is not None:
        print(f"minisplit commission: {problem}", file=sys.stderr)
        return 2
    try:
        loaded = loaded_or_refusal(args.config)
        zones = [zone.id for zone in loaded.config.zones]
        for zone_id in args.trial_zones or ():
            if zone_id not in zones:
                known = ", ".join(zones)
                raise UnitAccessError(f"--try {zone_id}: no such zone (zones: {known})")
    except UnitAccessError as err:
        print(f"minisplit commission: {err}", file=sys.stderr)
        return 2

    def show(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        with controller_stopped(loaded.config.state_file):
            report = asyncio.run(
                commission(
                    loaded,
                    Path(loaded.path).read_text(encoding="utf-8"),
                    poll_s=args.poll_seconds,
                    trial_mode=None if args.no_trial else ZoneMode(args.mode),
                    trial_s=args.minutes * 60,
                    trial_zones=args.trial_zones,
                    time_scale=args.time_scale,
                    show=show,
                )
            )
    except UnitAccessError as err:
        print(f"minisplit commission: {err}", file=sys.stderr)
        return 1
    text = html_page(report) if args.output.suffix == ".html" else markdown(report)
    args.output.write_text(text, encoding="utf-8")
    state = "OK" if report.healthy else "NEEDS ATTENTION"
    print(f"{args.output}: {state}")
    return 0 if report.healthy else 1
