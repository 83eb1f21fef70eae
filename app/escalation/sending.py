"""Sending one cycle's claimed messages: each channel in order, channels side by side.

A cycle's deliver phase stays within about one ``notifications.timeout``, so a slow or hung
channel never holds up the others, escalation timers, or readiness (``liveness``):

* a channel whose send times out or cannot connect is *down* for the rest of the cycle: its
  other messages are deferred (put back as due, the attempt not counted) and not claimed
  again until the next cycle;
* no send starts once half the timeout has passed (a send already started may take the
  timeout); what is left is deferred to the next cycle;
* a channel found down stays down for a cool-down (``Breaker``: the larger of
  ``notifications.backoff`` and ``notifications.timeout``) across cycles, its messages not
  claimed meanwhile: a hung peer costs one timeout per cool-down, not one per cycle, and its
  backlog never fills the claimed batches the other channels' messages wait behind.

Whatever goes wrong while sending one message fails that message only.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import Counter

from app.escalation.channels import ChannelSet, DeliveryError, HttpSender
from app.escalation.outbox import Outcome, Outgoing

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Round:
    """One deliver phase: the channels found down, and when to stop starting sends."""

    deadline: float  # on ``monotonic``
    monotonic: Callable[[], float] = time.monotonic
    down: set[str] = field(default_factory=set)
    deferred: int = 0

    @property
    def over(self) -> bool:
        return self.monotonic() >= self.deadline

    def defer(self, message: Outgoing) -> Outcome:
        self.deferred += 1
        return Outcome(message.id, message.channel, message.attempts, deferred=True)


@dataclass(slots=True)
class Breaker:
    """Channels found unreachable, and until when (on the worker's clock) they are left alone."""

    cooldown: timedelta
    until: dict[str, datetime] = field(default_factory=dict)

    def down(self, now: datetime) -> set[str]:
        """The channels still cooling down at ``now`` (the others are tried again)."""
        for channel in [c for c, until in self.until.items() if until <= now]:
            del self.until[channel]
            log.info("notification channel tried again", extra={"channel": channel})
        return set(self.until)

    def trip(self, channels: Iterable[str], now: datetime) -> None:
        for channel in sorted(channels):
            self.until[channel] = now + self.cooldown
            log.warning(
                "notification channel unreachable; its messages wait",
                extra={"channel": channel, "seconds": self.cooldown.total_seconds()},
            )


@dataclass(frozen=True, slots=True)
class Sending:
    channels: ChannelSet
    counter: Counter  # runbook_notifications_total{channel, outcome}
    progress: Callable[[], None]

    async def batch(self, batch: list[Outgoing], round_: Round) -> list[Outcome]:
        """Send a claimed batch; return one outcome per message."""
        by_channel: dict[str, list[Outgoing]] = {}
        for message in batch:
            by_channel.setdefault(message.channel, []).append(message)
        groups = await asyncio.gather(*(self._in_order(m, round_) for m in by_channel.values()))
        return [outcome for group in groups for outcome in group]

    async def _in_order(self, messages: list[Outgoing], round_: Round) -> list[Outcome]:
        """One channel's messages one after the other, so each receiver sees them in order."""
        outcomes = []
        for message in messages:
            if message.channel in round_.down or round_.over:
                outcomes.append(round_.defer(message))
            else:
                outcomes.append(await self._attempt(message, round_))
        return outcomes

    async def _attempt(self, message: Outgoing, round_: Round) -> Outcome:
        """Send one message; whatever goes wrong fails this message only."""
        sender = self.channels.senders.get(message.channel)
        try:
            if sender is None:
                reason = self.channels.disabled.get(message.channel, "channel is not configured")
                raise DeliveryError(reason, retryable=False)
            await sender.send(message)
        except DeliveryError as err:
            if err.unreachable:
                round_.down.add(message.channel)
            return self._failed(message, err.reason, retryable=err.retryable)
        except Exception as err:  # a bug composing or sending: log with traceback, retry
            reason = f"{type(err).__name__}: {err}"
            if isinstance(sender, HttpSender):
                reason = sender.redact(err)
            return self._failed(message, reason, retryable=True, unexpected=True)
        finally:
            self.progress()
        self.counter.labels(message.channel, "sent").inc()
        log.info(
            "notification sent",
            extra={"channel": message.channel, "notification_id": message.id, "kind": message.kind},
        )
        return Outcome(message.id, message.channel, message.attempts)

    def _failed(
        self, message: Outgoing, reason: str, *, retryable: bool, unexpected: bool = False
    ) -> Outcome:
        self.counter.labels(message.channel, "failed").inc()
        log.warning(
            "notification attempt failed",
            exc_info=unexpected,
            extra={
                "channel": message.channel,
                "notification_id": message.id,
                "key": message.key,
                "attempt": message.attempts,
                "reason": reason,
                "retryable": retryable,
            },
        )
        return Outcome(message.id, message.channel, message.attempts, reason, retryable)
