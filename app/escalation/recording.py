"""Writing delivery outcomes so that one refused row fails alone.

The outcomes of a claimed batch are written in one transaction. When the database refuses
it (a value it cannot store, a constraint), each outcome is written in its own transaction;
one that is still refused is written once more without its failure reason (the reason is
logged instead), so a delivered message is never sent again because another row of its
batch could not be written. Each refusal is logged with its traceback and counted in
``runbook_worker_errors_total``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import datetime

from prometheus_client import Counter
from sqlalchemy.exc import SQLAlchemyError

from app.db import Database
from app.escalation import outbox
from app.escalation.config import Notifications
from app.escalation.models import NotificationState
from app.escalation.outbox import Outcome

log = logging.getLogger(__name__)

DETAIL_DROPPED = "(reason not stored: the database refused it)"


def record_outcomes(
    db: Database,
    outcomes: Sequence[Outcome],
    *,
    now: datetime,
    policy: Notifications,
    errors: Counter,
) -> None:
    """Write ``outcomes``: together if the database takes them, else one by one."""
    try:
        with db.write_session() as session:
            states = [outbox.record(session, o, now=now, policy=policy) for o in outcomes]
    except SQLAlchemyError as err:
        errors.inc()
        log.error(
            "notification outcomes refused as a batch; writing each alone",
            exc_info=err,
            extra={"outcomes": len(outcomes)},
        )
        states = [_alone(db, o, now=now, policy=policy, errors=errors) for o in outcomes]
    for outcome, state in zip(outcomes, states, strict=True):
        if state == NotificationState.FAILED:
            log.error(
                "notification given up",
                extra={
                    "channel": outcome.channel,
                    "notification_id": outcome.id,
                    "attempts": outcome.attempts,
                    "reason": outcome.error,
                },
            )


def _write(db: Database, outcome: Outcome, *, now: datetime, policy: Notifications) -> str:
    with db.write_session() as session:
        return outbox.record(session, outcome, now=now, policy=policy)


def _alone(
    db: Database, outcome: Outcome, *, now: datetime, policy: Notifications, errors: Counter
) -> str:
    """Write one outcome; without its reason if the database refuses that; "" if not at all."""
    extra = {"channel": outcome.channel, "notification_id": outcome.id, "reason": outcome.error}
    try:
        return _write(db, outcome, now=now, policy=policy)
    except SQLAlchemyError as err:
        errors.inc()
        if not outcome.error:
            log.error("notification outcome not recorded", exc_info=err, extra=extra)
            return ""
        log.error("notification outcome detail dropped", exc_info=err, extra=extra)
    try:
        bare = dataclasses.replace(outcome, error=DETAIL_DROPPED)
        return _write(db, bare, now=now, policy=policy)
    except SQLAlchemyError as err:
        errors.inc()
        log.error("notification outcome not recorded", exc_info=err, extra=extra)
        return ""
