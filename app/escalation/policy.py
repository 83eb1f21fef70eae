"""Escalation decisions as pure functions over a policy: who is notified, and when.

A policy unrolls into a flat *schedule* of levels, each with an offset from the moment the
incident (re)triggered. The database keeps only when escalation started and how many
levels were sent, so what is due next is always recomputed from data, never from a timer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from app.config import AppConfig
from app.escalation.config import NotifyEvent, Policy


@dataclass(frozen=True, slots=True)
class Level:
    """One entry of the schedule."""

    position: int  # 0-based index in the whole schedule (what the database counts)
    level: int  # 1-based step of the policy; the final step is len(steps) + 1
    cycle: int  # 0 for the first pass, 1.. for repeats
    offset: timedelta  # from the (re)trigger time
    channels: tuple[str, ...]
    final: bool = False

    @property
    def rule(self) -> str:
        """Rule id for logs and the timeline: first pass, repeat, final."""
        return "ESCALATE-3" if self.final else "ESCALATE-2" if self.cycle else "ESCALATE-1"


def schedule(policy: Policy) -> tuple[Level, ...]:
    """Every level of ``policy`` in the order they fall due."""
    levels: list[Level] = []
    for cycle in range(policy.repeat + 1):
        for index, step in enumerate(policy.steps):
            offset = policy.period * cycle + step.after
            levels.append(Level(len(levels), index + 1, cycle, offset, tuple(step.notify)))
    if policy.final is not None:
        offset = levels[-1].offset + policy.final.after
        level = len(policy.steps) + 1
        final = Level(len(levels), level, policy.repeat, offset, tuple(policy.final.notify), True)
        levels.append(final)
    return tuple(levels)


def due(
    policy: Policy, *, started_at: datetime, sent: int, now: datetime, acknowledged: bool = False
) -> tuple[Level, ...]:
    """Levels not yet sent whose time has come (none once acknowledged)."""
    if acknowledged:
        return ()
    return tuple(lv for lv in schedule(policy)[sent:] if started_at + lv.offset <= now)


def next_at(policy: Policy, *, started_at: datetime, sent: int) -> datetime | None:
    """When the next unsent level falls due; None when the schedule is done."""
    remaining = schedule(policy)[sent:]
    return started_at + remaining[0].offset if remaining else None


def notify_channels(policy: Policy) -> tuple[str, ...]:
    """Channels for ``notify_on`` messages: ``notify``, else the first step's."""
    return tuple(policy.notify if policy.notify is not None else policy.steps[0].notify)


def recipients(
    policy: Policy, event: NotifyEvent, *, paged: Iterable[str] = (), paging_at_open: bool = False
) -> tuple[str, ...]:
    """Channels that get the ``event`` message.

    ``open``: the notify channels, less those an immediate (0s) step pages anyway when
    ``paging_at_open``. ``ack``/``resolve``: the notify channels plus everyone ``paged``.
    """
    if event not in policy.notify_on:
        return ()
    base = notify_channels(policy)
    if event is NotifyEvent.OPEN:
        immediate = {c for lv in schedule(policy) if not lv.offset for c in lv.channels}
        return tuple(c for c in base if not (paging_at_open and c in immediate))
    return tuple(dict.fromkeys([*base, *sorted(paged)]))


def human(offset: timedelta) -> str:
    """``now``, ``in 45 s``, ``in 10 min``, ``in 1 h 30 min``, ``in 2 d``."""
    seconds = int(offset.total_seconds())
    return "now" if seconds <= 0 else f"in {span(offset)}"


def span(value: timedelta) -> str:
    """A duration for people: ``45 s``, ``10 min``, ``1 h 30 min``, ``2 d``."""
    seconds = int(value.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts) or "0 s"


@dataclass(frozen=True, slots=True)
class PathStep:
    offset_seconds: int
    when: str  # "now", "in 10 min"
    channels: tuple[str, ...]
    titles: tuple[str, ...]  # what people call those channels
    level: int
    cycle: int
    final: bool


@dataclass(frozen=True, slots=True)
class EscalationPath:
    """The path as data (every level) and as one line of text (for the runbook page)."""

    policy: str
    steps: tuple[PathStep, ...]
    text: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe(name: str, policy: Policy, titles: Mapping[str, str] | None = None) -> EscalationPath:
    """``now: primary; in 10 min: secondary; in 30 min: team lead`` plus the data behind it."""
    titles = titles or {}
    steps = tuple(
        PathStep(
            int(lv.offset.total_seconds()),
            human(lv.offset),
            lv.channels,
            tuple(titles.get(c, c) for c in lv.channels),
            lv.level,
            lv.cycle,
            lv.final,
        )
        for lv in schedule(policy)
    )
    parts = [f"{s.when}: {', '.join(s.titles)}" for s in steps if not s.cycle and not s.final]
    if policy.repeat:
        times = "once" if policy.repeat == 1 else f"{policy.repeat} times"
        parts.append(f"repeated {times} every {span(policy.period)}")
    parts += [f"finally {s.when}: {', '.join(s.titles)}" for s in steps if s.final]
    return EscalationPath(name, steps, "; ".join(parts))


def path_for(config: AppConfig, name: str) -> EscalationPath | None:
    """The path of policy ``name`` with channel titles from the config; None if unknown."""
    found = config.escalation.get(name)
    if found is None:
        return None
    return describe(name, found, {n: c.title or n for n, c in config.channels.items()})
