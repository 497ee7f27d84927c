"""The fault matrix (tests/fault_matrix.py): the real supervisor against the real simulator over
Modbus TCP and over RTU on a socat pty pair, every fault injected, seen, cleared, recovered.

One running system per transport serves all of its cases (module scope): each case starts by
waiting for a healthy system with the compressor running, so a case that fails does not pass
its fault on, only its wait."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from minisplit.hil.faults import FaultKind
from minisplit.testing.harness import wait_until
from tests.fault_matrix import (
    CASES,
    LOGGERS,
    MAX_LOG_RECORDS,
    START_WAIT_S,
    FaultCase,
    System,
    Transport,
    assert_result,
    run_case,
    running_system,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CASE_TIMEOUT_S = 60.0  # wall seconds; a case takes about one
PERSISTENT_CYCLES = 12  # each costs a re-probe timeout: ~4 min of a vanished head, simulated


def healthy_again(_system: System, _mark: object) -> bool:
    return True  # besides `System.healthy`, which the recovery waits for in any case


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=list(Transport))
async def system(request: pytest.FixtureRequest, tmp_path_factory) -> AsyncIterator[System]:
    # Starting is bounded inside (socat's ptys, the servers); stopping by harness.running.
    transport: Transport = request.param
    async with running_system(transport, tmp_path_factory.mktemp(transport)) as running:
        yield running


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
async def test_fault(system: System, case: FaultCase) -> None:
    async with asyncio.timeout(CASE_TIMEOUT_S):
        result = await run_case(system, case)
    assert_result(system, case, result, MAX_LOG_RECORDS)


async def test_a_long_lost_head_does_not_flood_the_log(
    system: System, caplog: pytest.LogCaptureFixture
) -> None:
    vanish = next(c for c in CASES if c.fault.kind is FaultKind.VANISH and c.fault.target != "odu")
    # No power cut nor new target meanwhile, so nothing new to show on return: back is the
    # system healthy again (the head answers and holds what the controller commands). The
    # vanish case's own check looks for the target its `meanwhile` set, which only an earlier
    # case on the same system would have left behind.
    persistent = dataclasses.replace(
        vanish, hold_cycles=PERSISTENT_CYCLES, meanwhile=None, recovered=healthy_again
    )
    for name in LOGGERS:
        caplog.set_level(logging.INFO, logger=name)
    async with asyncio.timeout(CASE_TIMEOUT_S):
        # Run first on its system (alone, or on a worker of its own), the start-up's lines
        # (connected, units found) would be counted as the outage's.
        await wait_until(
            lambda: system.healthy() and system.compressor_running(),
            START_WAIT_S,
            "a healthy system with the compressor running",
        )
        caplog.clear()
        result = await run_case(system, persistent)
    logged = [r for r in caplog.records if r.name.split(".")[0] in LOGGERS]
    # Lost, offline, back online, answers: a few lines for the whole outage, none per cycle.
    assert len(logged) <= MAX_LOG_RECORDS, [r.getMessage() for r in logged]
    assert len(logged) == result.log_records
    assert not [r for r in logged if r.levelno >= logging.ERROR]
