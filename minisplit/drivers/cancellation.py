"""Honouring a cancel that Python 3.11's ``asyncio.wait_for`` swallowed.

pymodbus awaits Modbus answers and aiomqtt awaits broker acknowledgements with ``wait_for``;
on 3.11 an answer that arrives in the same loop step as a cancel is returned and the cancel is
dropped. A task that then carries on serving never ends, and its TaskGroup hangs on shutdown."""

from __future__ import annotations

import asyncio


def raise_if_cancelling() -> None:
    """Raise CancelledError when the current task has a cancel pending that nobody raised."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
