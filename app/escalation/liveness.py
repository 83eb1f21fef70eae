"""Is the background worker alive? What readiness and the last-cycle gauge read.

The worker marks the end of every cycle on a monotonic clock. It is *stalled* when no cycle
has completed (since the last one, or since start) for::

    3 * worker.interval + notifications.timeout

(three cycles may pass without one completing; one send may take the timeout), or when its
task has ended. Readiness then fails, saying so. Progress inside a cycle (each transaction,
each send) does not count as alive: a cycle stuck behind a hung channel delays every other
channel and every escalation timer. It is only shown, to tell a hung cycle from a dead one.
The worker keeps a cycle within this limit: a channel that times out is left alone for the
rest of the cycle, and no new send starts once half the timeout has passed (``sending``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from app.durations import format_duration

CYCLES = 3  # cycles that may pass without one completing


def _ago(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"


def _every(interval: timedelta) -> str:
    if interval >= timedelta(seconds=1):
        return format_duration(interval)
    return f"{interval.total_seconds() * 1000:.0f}ms"


@dataclass(slots=True)
class Liveness:
    interval: timedelta
    grace: timedelta  # the longest a single step (a send) may take
    monotonic: Callable[[], float] = time.monotonic
    started: float | None = None
    last_cycle: float | None = None
    last_progress: float | None = None
    stopped: str = field(default="")  # why the task ended, if it did

    @property
    def limit_seconds(self) -> float:
        return (self.interval * CYCLES + self.grace).total_seconds()

    def start(self) -> None:
        self.started = self.last_progress = self.monotonic()
        self.last_cycle, self.stopped = None, ""

    def progress(self) -> None:
        self.last_progress = self.monotonic()

    def cycle_done(self) -> None:
        self.last_cycle = self.last_progress = self.monotonic()

    def problem(self) -> str | None:
        """Why the worker is not healthy, for ``/readyz``; None when it is (or never ran)."""
        if self.stopped:
            return f"stopped: {self.stopped}"
        if self.started is None or self.last_progress is None:
            return None  # not started by a lifespan (a test driving run_once by hand)
        now = self.monotonic()
        completed = self.started if self.last_cycle is None else self.last_cycle
        if now - completed <= self.limit_seconds:
            return None
        every = _every(self.interval)
        if self.last_cycle is None:
            since = _ago(now - self.started)
            found = (
                f"stalled: no cycle completed in the {since} since start, expected every {every}"
            )
        else:
            found = f"stalled: last cycle {_ago(now - self.last_cycle)} ago, expected every {every}"
        if self.last_progress > completed:
            found += f" (the current one last moved {_ago(now - self.last_progress)} ago)"
        return found

    def check(self) -> tuple[bool, str]:
        """``(healthy, "ok: last cycle 0s ago" or the problem)``, from one reading of the clock."""
        problem = self.problem()
        if problem is not None:
            return False, problem
        if self.last_cycle is None:
            return True, "ok: starting"
        return True, f"ok: last cycle {_ago(self.monotonic() - self.last_cycle)} ago"


@dataclass(slots=True)
class Streak:
    """Consecutive failed cycles: the pause before the next try, doubling up to ``cap``."""

    base: float  # seconds: the pause when nothing failed
    cap: float = 60.0
    count: int = 0
    last: str = ""

    @property
    def pause(self) -> float:
        return min(self.base * 2**self.count, self.cap) if self.count else self.base

    def failed(self, error: str) -> bool:
        """Count a failure; True when it differs from the previous one (log its traceback)."""
        self.count += 1
        new, self.last = error != self.last, error
        return new

    def reset(self) -> int:
        """End the streak; return how many cycles it lasted."""
        count, self.count, self.last = self.count, 0, ""
        return count
