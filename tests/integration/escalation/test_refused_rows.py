"""A row the database refuses fails alone (issue 11, review D1 and D2).

* D2: a receiver's failure reason with a NUL (``HTTP 500: boom\\x00nul``) made PostgreSQL
  refuse the outcome batch, so the Slack message delivered with it was sent again after each
  lease. Reasons are now stored cleaned, and each outcome is written on its own when a batch
  is refused (a detail that still cannot be stored is logged and dropped).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import DataError
from sqlmodel import Session

from app.escalation import dispatch, outbox
from app.escalation.config import Notifications
from app.escalation.outbox import Outcome
from tests.conftest import FakeClock
from tests.integration.escalation.support import Receiver, fire, notifications, run
from tests.integration.escalation.test_worker_survives import errors_total

pytestmark = pytest.mark.anyio


@pytest.fixture
def rr_config(rr_config: dict[str, Any]) -> dict[str, Any]:
    """Each incident pages primary and secondary at once, nothing else."""
    rr_config["escalation"]["default"]["steps"] = [
        {"after": "0s", "notify": ["primary", "secondary"]}
    ]
    rr_config["escalation"]["default"]["notify_on"] = []
    return rr_config


async def test_a_nul_in_a_receivers_answer_is_stored_without_it(
    app: FastAPI, client: AsyncClient, clock: FakeClock, receiver: Receiver
) -> None:
    receiver.failure_body = b"boom\x00nul\r\nnext\xe2\x80\xa8line"
    receiver.fail_next(500)  # the first request: both are sent at once, either may get it
    incident = await fire(client, "a", clock.now)
    report = await run(app, clock.now)
    assert (report.sent, report.failed) == (1, 1)
    rows = await notifications(client, incident)
    [failed] = [n for n in rows if n["state"] == "pending"]
    [sent] = [n for n in rows if n["state"] == "sent"]
    assert failed["last_error"] == "HTTP 500: boom nul next line"
    assert failed["attempts"] == 1
    await run(app, clock.advance(minutes=5))  # past the lease and the backoff
    assert sorted(r.path for r in receiver.accepted()) == ["/primary", "/secondary"]
    assert [r.key for r in receiver.accepted()].count(sent["key"]) == 1


async def test_an_outcome_the_database_refuses_fails_alone(
    app: FastAPI,
    client: AsyncClient,
    clock: FakeClock,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    record = outbox.record

    def refusing(session: Session, outcome: Outcome, *, now: Any, policy: Notifications) -> str:
        if "refuse me" in outcome.error:
            raise DataError("UPDATE notifications ...", {}, Exception("invalid byte sequence"))
        return record(session, outcome, now=now, policy=policy)

    monkeypatch.setattr(outbox, "record", refusing)
    receiver.failure_body = b"refuse me"
    receiver.fail_next(500)
    incident = await fire(client, "a", clock.now)
    assert (await run(app, clock.now)).sent == 1
    rows = {n["state"]: n for n in await notifications(client, incident)}
    assert set(rows) == {"sent", "pending"}
    assert rows["pending"]["attempts"] == 1
    assert rows["pending"]["last_error"] == "(reason not stored: the database refused it)"
    dropped_detail = "notification outcome detail dropped"
    [dropped] = [r for r in caplog.records if r.getMessage() == dropped_detail]
    assert dropped.levelno == logging.ERROR
    assert dropped.reason == "HTTP 500: refuse me"  # type: ignore[attr-defined]
    await run(app, clock.advance(minutes=5))
    assert [r.key for r in receiver.accepted()].count(rows["sent"]["key"]) == 1
    assert [n["state"] for n in await notifications(client, incident)] == ["sent", "sent"]


class TestOneBadIncident:
    """D1: one incident change or escalation the database refuses (a post-mortem draft with
    a value PostgreSQL cannot store) failed its whole batch in every cycle, so no other
    incident was notified or escalated again. Now the batch is retried item by item; an item
    that still fails is given up, logged once and counted, and the others go ahead."""

    @pytest.fixture
    def rr_config(self, rr_config: dict[str, Any]) -> dict[str, Any]:
        policy = rr_config["escalation"]["default"]
        policy["steps"] = [{"after": "10m", "notify": ["secondary"]}]
        policy["notify_on"] = ["open"]
        return rr_config

    @pytest.mark.parametrize(("step", "at_minutes"), [("_route", 0), ("_send_level", 10)])
    async def test_the_other_incidents_are_still_notified(
        self,
        app: FastAPI,
        client: AsyncClient,
        clock: FakeClock,
        receiver: Receiver,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
        step: str,
        at_minutes: int,
    ) -> None:
        bad = await fire(client, "bad", clock.now)
        good = await fire(client, "good", clock.now)
        original = getattr(dispatch, step)

        def refused(session: Session, ctx: Any, *args: Any) -> None:
            incident = args[1] if step == "_route" else args[0]
            if incident.id == bad:  # a value the database refuses, as a NUL would be
                session.execute(
                    text("UPDATE incidents SET title = NULL WHERE id = :id"), {"id": bad}
                )
            original(session, ctx, *args)

        monkeypatch.setattr(dispatch, step, refused)
        if at_minutes:
            await run(app, clock.now)  # both open notifications
        before = len(receiver.accepted())
        clock.advance(minutes=at_minutes)
        await run(app, clock.now)
        [delivered] = receiver.accepted()[before:]
        assert delivered.body["incident"]["id"] == good
        given_up = [r for r in caplog.records if "given up" in r.getMessage()]
        assert [(r.levelno, r.incident_id) for r in given_up] == [(logging.ERROR, bad)]  # type: ignore[attr-defined]
        assert "title" in given_up[0].reason  # type: ignore[attr-defined]
        assert await errors_total(client) == 1
        await run(app, clock.advance(minutes=1))  # the bad item is not picked again
        assert await errors_total(client) == 1
        assert len([r for r in caplog.records if "given up" in r.getMessage()]) == 1
