"""The fault matrix on setpoint heads (tests/setpoint_fault_matrix.py): the real supervisor
against the real simulator, a CoolMasterNet gateway over RTU on a socat pty pair and Intesis
heads over Modbus TCP, every case injected, seen, cleared, recovered. One running house per
setup serves all of its cases (module scope), each case starting from a healthy house."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.fault_matrix import (
    FaultCase,
    System,
    assert_result,
    run_case,
    running_system,
)
from tests.setpoint_fault_matrix import (
    SETPOINT_CASES,
    SETUPS,
    Setup,
    inapplicable,
    log_bound,
    setpoint_system,
)

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

CASE_TIMEOUT_S = 60.0  # wall seconds


@pytest_asyncio.fixture(
    scope="module", loop_scope="module", params=SETUPS, ids=[s.id for s in SETUPS]
)
async def system(request: pytest.FixtureRequest, tmp_path_factory) -> AsyncIterator[System]:
    setup: Setup = request.param
    directory = tmp_path_factory.mktemp(setup.id)
    async with running_system(setup.transport, directory, setup.demo, setpoint_system) as house:
        yield house


@pytest.mark.parametrize("case", SETPOINT_CASES, ids=[case.id for case in SETPOINT_CASES])
async def test_fault(system: System, case: FaultCase) -> None:
    if (why := inapplicable(system, case)) is not None:
        pytest.skip(why)
    async with asyncio.timeout(CASE_TIMEOUT_S):
        result = await run_case(system, case)
    assert_result(system, case, result, log_bound(system, case))
