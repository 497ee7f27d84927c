"""The report limiter: a few reports per kind and window, the rest counted and said later."""

from __future__ import annotations

from minisplit.controller.service.rate_limit import ReportLimiter


def test_a_burst_per_window_then_counted() -> None:
    limiter = ReportLimiter(burst=3, window_s=60.0)
    assert [limiter.admit("bad temperature", 0.0) for _ in range(3)] == [0, 0, 0]
    assert [limiter.admit("bad temperature", 1.0) for _ in range(10_000)] == [None] * 10_000
    # The next window's first report says how many were held back before it.
    assert limiter.admit("bad temperature", 60.0) == 10_000
    assert limiter.admit("bad temperature", 60.0) == 0


def test_kinds_are_limited_separately() -> None:
    limiter = ReportLimiter(burst=1, window_s=60.0)
    assert limiter.admit("bad temperature", 0.0) == 0
    assert limiter.admit("bad temperature", 0.0) is None
    assert limiter.admit("unknown zone", 0.0) == 0


def test_summaries_once_the_window_has_ended() -> None:
    limiter = ReportLimiter(burst=1, window_s=60.0)
    limiter.admit("a", 0.0)
    limiter.admit("b", 0.0)
    for _ in range(5):
        limiter.admit("a", 10.0)
    assert limiter.due_summaries(59.0) == []
    assert limiter.due_summaries(60.0) == [("a", 5)]
    assert limiter.due_summaries(200.0) == []  # said once
    assert limiter.admit("a", 200.0) == 0  # and not again with the next report
