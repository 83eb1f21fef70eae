"""Readiness is based on completed worker cycles (issue 11, review D5).

A cycle that keeps making progress (each send, each transaction) but never completes, as
when every batch waits for a hung mail server, used to count as alive: ``/readyz`` answered
"ok: last cycle 104s ago". Stalled is now: no full cycle within
``3 * worker.interval + notifications.timeout``.
"""

from __future__ import annotations

from datetime import timedelta

from app.escalation.liveness import Liveness


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def liveness(ticks: Ticks) -> Liveness:
    found = Liveness(timedelta(seconds=1), timedelta(seconds=5), monotonic=ticks)
    found.start()
    return found


def test_the_limit_is_three_intervals_plus_the_timeout() -> None:
    ticks = Ticks()
    alive = liveness(ticks)
    assert alive.limit_seconds == 8.0
    ticks.now += 8.0
    assert alive.problem() is None
    ticks.now += 0.5
    assert (
        alive.problem() == "stalled: no cycle completed in the 8.5s since start, expected every 1s"
    )


def test_sends_without_a_completed_cycle_are_a_stall() -> None:
    ticks = Ticks()
    alive = liveness(ticks)
    ticks.now += 1.0
    alive.cycle_done()
    for _ in range(20):  # a send every 5 s, the cycle never ends
        ticks.now += 5.0
        alive.progress()
    assert alive.problem() == (
        "stalled: last cycle 100s ago, expected every 1s (the current one last moved 0.0s ago)"
    )
    alive.cycle_done()
    assert alive.problem() is None
    assert alive.check() == (True, "ok: last cycle 0.0s ago")
