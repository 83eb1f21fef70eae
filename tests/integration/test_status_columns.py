"""Status columns read back as their StrEnums and are stored as the same plain strings.

The columns stay VARCHAR (no migration): what changes is that Python sees
``IncidentStatus.RESOLVED``, not ``"resolved"``, so mypy checks every comparison.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from enum import StrEnum

import pytest
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

from app.db import Database, make_engine
from app.escalation.models import EscalationEvent, Notification, NotificationState, Signal
from app.incidents.models import Incident, IncidentStatus
from app.migrate import migrate
from app.postmortems.models import ActionItem, ActionStatus, Postmortem, PostmortemStatus

T0 = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    migrate(database_url)
    database = Database(make_engine(database_url))
    yield database
    database.dispose()


def rows(incident_id: int, postmortem_id: int) -> list[tuple[SQLModel, str, StrEnum]]:
    """A row of each table with a typed status: (row, column, value written)."""
    event = EscalationEvent(incident_id=incident_id, event=Signal.ACKNOWLEDGED, at=T0)
    note = Notification(
        key="k-1",
        incident_id=incident_id,
        channel="primary",
        kind="ack",
        subject="s",
        text="t",
        state=NotificationState.SKIPPED,
        created_at=T0,
        updated_at=T0,
    )
    item = ActionItem(
        postmortem_id=postmortem_id,
        incident_id=incident_id,
        runbook_class="generic",
        title="fix it",
        owner="pat",
        due_date=date(2026, 12, 1),
        status=ActionStatus.DONE,
        created_at=T0,
        updated_at=T0,
    )
    return [
        (event, "event", Signal.ACKNOWLEDGED),
        (note, "state", NotificationState.SKIPPED),
        (item, "status", ActionStatus.DONE),
    ]


def test_statuses_read_back_as_enums_stored_as_their_values(db: Database) -> None:
    incident = Incident(
        runbook_class="generic",
        group_key="g",
        title="t",
        status=IncidentStatus.ACKNOWLEDGED,
        started_at=T0,
        created_at=T0,
        updated_at=T0,
    )
    with db.session() as session:
        session.add(incident)
        session.flush()
        assert incident.id is not None
        postmortem = Postmortem(
            incident_id=incident.id,
            runbook_class="generic",
            status=PostmortemStatus.IN_REVIEW,
            title="t",
            body="b",
            created_at=T0,
            updated_at=T0,
        )
        session.add(postmortem)
        session.flush()
        assert postmortem.id is not None
        written = [
            (incident, "status", IncidentStatus.ACKNOWLEDGED),
            (postmortem, "status", PostmortemStatus.IN_REVIEW),
            *rows(incident.id, postmortem.id),
        ]
        session.add_all(row for row, _, _ in written[2:])
    with Session(db.engine) as session:
        for row, column, value in written:
            model = type(row)
            loaded = session.exec(select(model).where(model.id == row.id)).one()  # type: ignore[attr-defined]
            assert type(getattr(loaded, column)) is type(value), (model, column)
            assert getattr(loaded, column) is value
            raw = session.execute(
                text(f"SELECT {column} FROM {model.__tablename__} WHERE id = :id"),  # noqa: S608
                {"id": row.id},  # type: ignore[attr-defined]
            ).scalar_one()
            assert (type(raw), raw) == (str, value.value)
