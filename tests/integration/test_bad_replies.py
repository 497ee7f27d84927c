"""The bad-reply attack (tests/attack_bad_reply.py), short: one head's replies are malformed,
over Modbus TCP and over RTU, behind the real supervisor and the real simulator."""

from __future__ import annotations

import pytest

from tests.attack_bad_reply import TARGET, Transport, run_attack
from tests.fixtures.hostile_modbus import Corruption

SECONDS = 3.0  # wall seconds of attack: ~18 control cycles at 60x


@pytest.mark.integration
@pytest.mark.parametrize("how", [Corruption.BYTE_COUNT, Corruption.FUNCTION_CODE])
@pytest.mark.parametrize("transport", list(Transport))
async def test_one_heads_malformed_replies_leave_the_other_units_cycle_alone(
    tmp_path, transport: Transport, how: Corruption
) -> None:
    report = await run_attack(transport, how, SECONDS, tmp_path)
    summary = "\n".join(report.lines())
    assert report.corrupted > 0, summary
    # Only the head counts failed transactions; every other unit answered every control cycle.
    assert report.failed.pop(TARGET) > 0, summary
    assert set(report.failed.values()) == {0}, summary
    assert report.during.cycles > 0 and set(report.during.missed.values()) == {0}, summary
    assert set(report.during.unavailable.values()) == {0}, summary
    # The line stayed up; the outage is one warning from the head's link each way (and one from
    # the bus where the head went offline there), never a traceback.
    assert (report.link_losses, report.tracebacks) == (0, 0), summary
    offline = (
        "minisplit.drivers.bus: bus sim: unit 12 failed 3 requests in a row: offline, re-probing"
    )
    expected = [
        f"minisplit.controller.service.unit_link: zone {TARGET} head does not answer",
        f"minisplit.controller.service.unit_link: zone {TARGET} head answers again",
    ]
    assert [m for m in report.warnings if not m.startswith(offline)] == expected, summary
    assert sum(m.startswith(offline) for m in report.warnings) <= 1, summary
