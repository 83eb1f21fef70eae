"""Group commit: a batch of payloads stored in one transaction ends exactly where storing
them one by one ends; the batcher answers each request with its own outcome; a payload the
database refuses fails alone; two replicas storing overlapping batches at once store once.

Runs on a real SQLite file and a real PostgreSQL server, like the other integration tests.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from typing import Any, NamedTuple

import anyio
import hypothesis
import psycopg
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, select, text
from sqlalchemy.exc import SQLAlchemyError

from app.alerts.batcher import IngestBatcher
from app.alerts.limits import Bounds
from app.alerts.models import Alert
from app.alerts.schemas import parse_payload
from app.alerts.service import IngestResult, Job, Outcome, ingest_batch, stored_unchanged
from app.classification.catalog import load_catalog
from app.classification.classifier import Classifier, Decision
from app.db import Database, make_engine
from app.escalation.models import Escalation, EscalationEvent
from app.incidents.grouping import Windows
from app.incidents.models import Incident, TimelineEvent
from app.metrics.aggregates import KpiSeries
from app.migrate import migrate
from tests.conftest import ROOT, postgres_database
from tests.factories import alert, payload

CATALOG = load_catalog(ROOT / "runbook_templates")
WINDOWS = Windows(flap=timedelta(minutes=5), recurrence=timedelta(hours=1))
T0 = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
MAX_ALERTS = 100

ALERTS: Table = Alert.__table__  # type: ignore[attr-defined]
INCIDENTS: Table = Incident.__table__  # type: ignore[attr-defined]
TIMELINE: Table = TimelineEvent.__table__  # type: ignore[attr-defined]
CLOCKS: Table = Escalation.__table__  # type: ignore[attr-defined]
EVENTS: Table = EscalationEvent.__table__  # type: ignore[attr-defined]
KPIS: Table = KpiSeries.__table__  # type: ignore[attr-defined]


def job(body: dict[str, Any], now: datetime) -> Job:
    return Job(parse_payload(body, max_alerts=MAX_ALERTS, bounds=Bounds(now=now)), now)


def unchecked(job: Job, **labels: str) -> Job:
    """``job`` with its first alert's labels changed past validation (what it would refuse)."""
    first = job.payload.alerts[0]
    changed = first.model_copy(update={"labels": {**first.labels, **labels}})
    alerts = [changed, *job.payload.alerts[1:]]
    return Job(job.payload.model_copy(update={"alerts": alerts}), job.now)


def store(db: Database, jobs: Sequence[Job], classifier: Classifier | None = None) -> list[Outcome]:
    return ingest_batch(
        db=db, classifier=classifier or Classifier(CATALOG), windows=WINDOWS, jobs=jobs
    )


# -- fresh databases --------------------------------------------------------------------------


class Fresh:
    """Hands out two empty, migrated databases per call (per hypothesis example)."""

    def pair(self) -> tuple[Database, Database]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class FreshSqlite(Fresh):
    """New files per call, copied from one migrated template (a migration per example is slow)."""

    def __init__(self, factory: pytest.TempPathFactory) -> None:
        self.factory = factory
        self.template = factory.mktemp("template") / "rr.db"
        migrate(f"sqlite:///{self.template}")
        assert not self.template.with_name("rr.db-wal").exists()  # checkpointed: copy is whole
        self.dbs: list[Database] = []

    def pair(self) -> tuple[Database, Database]:
        self.close()
        folder = self.factory.mktemp("example")
        for name in ("batched.db", "one_by_one.db"):
            shutil.copyfile(self.template, folder / name)
            self.dbs.append(Database(make_engine(f"sqlite:///{folder / name}")))
        return self.dbs[0], self.dbs[1]

    def close(self) -> None:
        for db in self.dbs:
            db.dispose()
        self.dbs = []


class FreshPostgres(Fresh):
    """Two databases migrated once, emptied per call (TRUNCATE ... RESTART IDENTITY)."""

    def __init__(self, pg_cluster: object) -> None:
        urls = [postgres_database(pg_cluster) for _ in range(2)]  # type: ignore[arg-type]
        for url in urls:
            migrate(url)
        self.dbs = [Database(make_engine(url, pool_size=2)) for url in urls]

    def pair(self) -> tuple[Database, Database]:
        for db in self.dbs:
            with db.engine.begin() as connection:
                tables = connection.execute(
                    text(
                        "SELECT quote_ident(tablename) FROM pg_tables "
                        "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                    )
                ).scalars()
                connection.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        return self.dbs[0], self.dbs[1]

    def close(self) -> None:
        for db in self.dbs:
            db.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fresh]:
    """Like ``database_url``: a real SQLite file and a real PostgreSQL server (skipped without
    one, failed under REQUIRE_REAL_SERVICES=1 by ``postgres_database``)."""
    made: Fresh
    if request.param == "sqlite":
        made = FreshSqlite(tmp_path_factory)
    else:
        made = FreshPostgres(request.getfixturevalue("pg_cluster"))
    yield made
    made.close()


# -- the normalised state ---------------------------------------------------------------------


def dump(db: Database) -> tuple[dict[str, list[Any]], dict[int, int]]:
    """Every row ingest writes, incident ids renumbered 1..n in creation order."""
    with db.engine.connect() as c:
        incidents = c.execute(select(INCIDENTS).order_by(INCIDENTS.c.id)).mappings().all()
        ids = {row["id"]: n for n, row in enumerate(incidents, 1)}

        def ref(incident_id: int | None) -> int | None:
            return None if incident_id is None else ids[incident_id]

        def detail(value: dict[str, Any]) -> dict[str, Any]:
            if value.get("recurrence_of") is not None:
                return {**value, "recurrence_of": ref(value["recurrence_of"])}
            return value

        state: dict[str, list[Any]] = {
            "incidents": [
                {**row, "id": ids[row["id"]], "recurrence_of": ref(row["recurrence_of"])}
                for row in incidents
            ],
            "alerts": sorted(
                (
                    {k: v for k, v in row.items() if k != "id"}
                    | {"incident_id": ref(row["incident_id"])}
                    for row in c.execute(select(ALERTS)).mappings()
                ),
                key=lambda a: (a["fingerprint"], a["starts_at"]),
            ),
            "timeline": [
                (ids[r.incident_id], r.at, r.kind, r.rule, r.actor, detail(r.detail))
                for r in c.execute(select(TIMELINE).order_by(TIMELINE.c.incident_id, TIMELINE.c.id))
            ],
            "escalations": [
                (ids[r.incident_id], r.started_at, r.sent, r.next_at, r.stopped, r.updated_at)
                for r in c.execute(select(CLOCKS).order_by(CLOCKS.c.incident_id))
            ],
            "escalation_events": [
                (ids[r.incident_id], r.event, r.actor, r.at)
                for r in c.execute(select(EVENTS).order_by(EVENTS.c.incident_id, EVENTS.c.id))
            ],
            "kpis": sorted((r.metric, r.labels, r.value) for r in c.execute(select(KPIS))),
        }
    return state, ids


def answers(outcomes: Sequence[Outcome], ids: dict[int, int]) -> list[tuple[Any, ...]]:
    out = []
    for outcome in outcomes:
        assert isinstance(outcome, IngestResult), outcome
        renumbered = sorted(ids[i] for i in outcome.incident_ids)
        out.append((outcome.alerts, outcome.new, outcome.duplicates, outcome.resolved, renumbered))
    return out


# -- a. a batch ends where the same payloads one by one end ----------------------------------

# Alertmanager's fingerprint is a hash of the labels: each fingerprint has one label set.
# fa and fb are both workflow-500 (by the two different matchers), fc pdf-404, fd generic.
LABELS = {
    "fa": {"alertname": "Workflow500", "service": "workflow-api"},
    "fb": {"alertname": "Workflow503", "service": "workflow-web"},
    "fc": {"alertname": "PdfNotFound", "service": "documents"},
    "fd": {"alertname": "DiskFull", "service": "nfs"},
}
GROUPS = ("g1", "g2")
# Minutes after T0. With ends 2 or 40 minutes after the start, a new start after an end is
# within the 5-minute flap window (3 - 2), within the 1-hour recurrence window (50 - 40,
# 50 - 5) or beyond both (240 - 90); a start before an earlier end is within both.
STARTS = (0, 3, 50, 240)
DURATIONS = (2, 40)
GAPS = (1, 30, 180)  # minutes between the arrivals of consecutive payloads


class A(NamedTuple):
    """One alert in a payload: fingerprint, start and end (None: firing), in minutes."""

    fp: str
    start: int
    end: int | None = None


class P(NamedTuple):
    """One delivery: group key, alerts, truncatedAlerts, arrival (minutes after T0)."""

    group: str
    alerts: tuple[A, ...]
    truncated: int
    at: int


def body(p: P) -> dict[str, Any]:
    def wire(a: A) -> dict[str, Any]:
        start = T0 + timedelta(minutes=a.start)
        end = None if a.end is None else T0 + timedelta(minutes=a.end)
        return alert(a.fp, starts_at=start, ends_at=end, **LABELS[a.fp])

    return payload(*map(wire, p.alerts), group_key=p.group, truncatedAlerts=p.truncated)


an_alert = st.builds(
    lambda fp, start, duration, resolved: A(fp, start, start + duration if resolved else None),
    st.sampled_from(sorted(LABELS)),
    st.sampled_from(STARTS),
    st.sampled_from(DURATIONS),
    st.booleans(),
)


@st.composite
def deliveries(draw: st.DrawFn) -> list[P]:
    """2-8 deliveries; some are HA twins (the identical payload again, just after)."""
    drawn = draw(
        st.lists(
            st.tuples(
                st.sampled_from(GROUPS),
                st.lists(an_alert, min_size=1, max_size=3).map(tuple),
                st.sampled_from((0, 2)),
            ),
            min_size=2,
            max_size=6,
        )
    )
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(drawn) - 1))
        drawn.insert(i + 1, drawn[i])
    gaps = draw(st.lists(st.sampled_from(GAPS), min_size=len(drawn), max_size=len(drawn)))
    return [P(g, alerts, t, at) for (g, alerts, t), at in zip(drawn, accumulate(gaps), strict=True)]


FIRE, END = A("fa", 0), A("fa", 0, 2)
CASES = {
    # fire, resolve, fire again 1 minute after the end: a flap reopens the incident
    "flap": [P("g1", (FIRE,), 0, 1), P("g1", (END,), 0, 2), P("g1", (A("fa", 3),), 0, 3)],
    # resolved notification first (incident opened resolved), then the late firing retry
    "resolved first": [P("g1", (END,), 0, 1), P("g1", (FIRE, A("fb", 0)), 0, 2)],
    # a new start 45 minutes after the end: a recurrence; 4 hours later a new incident
    "recurrence": [
        P("g1", (A("fa", 3, 5),), 0, 10),
        P("g1", (A("fa", 50),), 2, 60),
        P("g1", (A("fa", 50, 90),), 0, 240),
        P("g1", (A("fa", 240),), 0, 250),
    ],
    # HA twins, the same alert twice in one payload, the same alert in both groups
    "duplicates": [
        P("g1", (FIRE, FIRE, A("fc", 0)), 0, 1),
        P("g1", (FIRE, FIRE, A("fc", 0)), 0, 2),
        P("g2", (FIRE, A("fd", 3)), 0, 3),
        P("g1", (END, FIRE, A("fc", 0, 40)), 0, 33),
    ],
    # all alerts of a group resolve in one payload; classes split one group
    "auto-resolve": [
        P("g2", (A("fa", 0), A("fb", 3), A("fc", 3), A("fd", 0)), 0, 1),
        P("g2", (A("fa", 0, 2), A("fb", 3, 43), A("fd", 0, 40)), 0, 61),
        P("g2", (A("fc", 3, 5), A("fa", 3)), 0, 62),
    ],
}


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # emptied per example
)
@given(sent=deliveries(), stored_first=st.integers(0, 3))
@example(sent=CASES["flap"], stored_first=0)
@example(sent=CASES["flap"], stored_first=1)
@example(sent=CASES["resolved first"], stored_first=0)
@example(sent=CASES["recurrence"], stored_first=0)
@example(sent=CASES["recurrence"], stored_first=2)
@example(sent=CASES["duplicates"], stored_first=0)
@example(sent=CASES["auto-resolve"], stored_first=0)
@example(sent=CASES["auto-resolve"], stored_first=1)
def test_a_batch_ends_where_the_same_payloads_one_by_one_end(
    fresh: Fresh, sent: list[P], stored_first: int
) -> None:
    """The first ``stored_first`` deliveries are stored one by one in both databases (state
    the batch reads from the database); the rest as one batch in one, one by one in the other.
    """
    jobs = [job(body(p), T0 + timedelta(minutes=p.at)) for p in sent]
    split = min(stored_first, len(jobs) - 1)
    batched_db, sequential_db = fresh.pair()
    for db in (batched_db, sequential_db):
        for j in jobs[:split]:
            [result] = store(db, [j])
            assert isinstance(result, IngestResult)

    batched = store(batched_db, jobs[split:])
    sequential = [outcome for j in jobs[split:] for outcome in store(sequential_db, [j])]

    batch_state, batch_ids = dump(batched_db)
    sequence_state, sequence_ids = dump(sequential_db)
    assert answers(batched, batch_ids) == answers(sequential, sequence_ids)
    assert batch_state == sequence_state
    # Not vacuous: every occurrence sent is stored once, and each stored one has an incident.
    occurrences = {(a.fp, T0 + timedelta(minutes=a.start)) for p in sent for a in p.alerts}
    stored = [(a["fingerprint"], a["starts_at"]) for a in batch_state["alerts"]]
    assert sorted(stored) == sorted(occurrences)
    assert all(a["incident_id"] is not None for a in batch_state["alerts"])
    for kind in sorted({event[2] for event in batch_state["timeline"]}):
        hypothesis.event(f"timeline: {kind}")
    if any(i["recurrence_of"] is not None for i in batch_state["incidents"]):
        hypothesis.event("a recurrence")


# -- b. the batcher groups jobs and answers each with its own result -------------------------


@pytest.mark.anyio
async def test_batcher_groups_concurrent_jobs_and_answers_each_its_own(
    database_url: str,
) -> None:
    migrate(database_url)
    db = Database(make_engine(database_url))
    classifier = Classifier(CATALOG)
    batches: list[list[Job]] = []

    def recording_store(jobs: Sequence[Job]) -> list[Outcome]:
        batches.append(list(jobs))
        return store(db, jobs, classifier)

    batcher = IngestBatcher(recording_store, max_alerts=12)
    sent = {
        i: [
            alert(f"b{i}-{k}", starts_at=T0, service="workflow-api")
            for k in range(i % 3 + 1)  # 1 to 3 alerts
        ]
        for i in range(20)
    }
    twin = payload(*sent[0], group_key="grp-0")  # an HA twin of job 0, sent concurrently
    results: dict[int | str, IngestResult] = {}

    async def submit(key: int | str, body: dict[str, Any]) -> None:
        results[key] = await batcher.submit(job(body, T0 + timedelta(seconds=1)))

    try:
        async with anyio.create_task_group() as tg:
            for i, alerts in sent.items():
                tg.start_soon(submit, i, payload(*alerts, group_key=f"grp-{i}"))
            tg.start_soon(submit, "twin", twin)

        with db.engine.connect() as c:
            rows = c.execute(select(ALERTS.c.fingerprint, ALERTS.c.incident_id)).all()
            groups = dict(c.execute(select(INCIDENTS.c.id, INCIDENTS.c.group_key)).all())
    finally:
        db.dispose()

    assert sorted(len(b) for b in batches)[-1] > 1, "no two jobs were stored together"
    assert sum(len(b) for b in batches) == 21
    for b in batches:  # bounded by max_alerts (a single job may exceed it alone)
        assert len(b) == 1 or sum(len(j.payload.alerts) for j in b) <= 12
    incident_of: dict[int, int] = {}
    for i, alerts in sent.items():
        r = results[i]
        assert (r.alerts, r.resolved) == (len(alerts), 0)
        [incident_of[i]] = r.incident_ids
        assert groups[incident_of[i]] == f"grp-{i}"
        if i != 0:
            assert (r.new, r.duplicates) == (len(alerts), 0)
    assert len(set(incident_of.values())) == 20
    twin_result = results["twin"]
    assert twin_result.incident_ids == [incident_of[0]]
    assert sorted([results[0].new, twin_result.new]) == [0, len(sent[0])]
    assert results[0].duplicates + twin_result.duplicates == len(sent[0])
    expected = sorted(
        (a["fingerprint"], incident_of[i]) for i, alerts in sent.items() for a in alerts
    )
    assert sorted(rows) == expected


# -- c. a payload the database refuses fails alone -------------------------------------------


# PostgreSQL only: SQLite stores a NUL character in text, so it refuses nothing here.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_refused_payload_fails_alone_and_the_others_are_stored(database_url: str) -> None:
    migrate(database_url)
    db = Database(make_engine(database_url))
    # NUL in a VARCHAR (alertname, and the title made from it) is refused: "PostgreSQL text
    # fields cannot contain NUL (0x00) bytes". The webhook refuses it first (422); here it is
    # put past validation to stand for any payload the database refuses.
    good1 = payload(alert("ok-1", starts_at=T0), group_key="good-1")
    bad = unchecked(
        job(payload(alert("bad", starts_at=T0), group_key="bad"), T0), alertname="W\x00"
    )
    good2 = payload(alert("ok-2", starts_at=T0), alert("ok-3", starts_at=T0), group_key="good-2")
    try:
        first, refused, second = store(db, [job(good1, T0), bad, job(good2, T0)])
        with db.engine.connect() as c:
            stored = c.execute(select(ALERTS.c.fingerprint, ALERTS.c.incident_id)).all()
            groups = dict(c.execute(select(INCIDENTS.c.id, INCIDENTS.c.group_key)).all())
    finally:
        db.dispose()

    assert isinstance(refused, SQLAlchemyError)
    assert isinstance(refused.orig, psycopg.DataError)  # type: ignore[attr-defined]
    assert isinstance(first, IngestResult)
    assert isinstance(second, IngestResult)
    assert (first.new, second.new) == (1, 2)
    assert sorted(groups.values()) == ["good-1", "good-2"]
    assert sorted((fp, groups[i]) for fp, i in stored) == [
        ("ok-1", "good-1"),
        ("ok-2", "good-2"),
        ("ok-3", "good-2"),
    ]
    assert [groups[i] for i in first.incident_ids] == ["good-1"]
    assert [groups[i] for i in second.incident_ids] == ["good-2"]


# -- c2. a payload that fails for another reason fails alone too -----------------------------


class Boom(RuntimeError):
    """Not a database error: a bug met by one payload (say, in classification)."""


def exploding_classifier() -> Classifier:
    """A real classifier that raises for alerts labelled ``explode``."""
    real = Classifier(CATALOG)

    class Exploding(Classifier):
        def __call__(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> Decision:
            if "explode" in labels:
                raise Boom("classification failed for this payload")
            return real(labels, annotations)

    return Exploding(CATALOG)


def test_a_payload_that_raises_fails_alone_and_the_others_are_stored(database_url: str) -> None:
    migrate(database_url)
    db = Database(make_engine(database_url))
    good1 = payload(alert("ok-1", starts_at=T0), group_key="good-1")
    bad = payload(alert("bad", starts_at=T0, explode="yes"), group_key="bad")
    good2 = payload(alert("ok-2", starts_at=T0), alert("ok-3", starts_at=T0), group_key="good-2")
    try:
        first, failed, second = store(
            db, [job(b, T0) for b in (good1, bad, good2)], exploding_classifier()
        )
        with db.engine.connect() as c:
            stored = c.execute(select(ALERTS.c.fingerprint)).scalars().all()
    finally:
        db.dispose()
    assert isinstance(failed, Boom)
    assert isinstance(first, IngestResult)
    assert isinstance(second, IngestResult)
    assert (first.new, second.new) == (1, 2)
    assert sorted(stored) == ["ok-1", "ok-2", "ok-3"]


@pytest.mark.anyio
async def test_the_batcher_gives_a_raising_payload_its_error_and_the_others_their_results(
    database_url: str,
) -> None:
    migrate(database_url)
    db = Database(make_engine(database_url))
    classifier = exploding_classifier()
    sizes: list[int] = []

    def recording_store(jobs: Sequence[Job]) -> list[Outcome]:
        sizes.append(len(jobs))
        return store(db, jobs, classifier)

    batcher = IngestBatcher(recording_store, max_alerts=100)
    results: dict[int, IngestResult | BaseException] = {}

    async def submit(i: int) -> None:
        labels = {"explode": "yes"} if i == 3 else {}
        body = payload(alert(f"p{i}", starts_at=T0, ends_at=None, **labels), group_key=f"g{i}")
        try:
            results[i] = await batcher.submit(job(body, T0))
        except Boom as err:
            results[i] = err

    try:
        async with anyio.create_task_group() as tg:
            for i in range(8):
                tg.start_soon(submit, i)
    finally:
        db.dispose()
    assert max(sizes) > 1, "the failing payload was never batched with others"
    assert isinstance(results.pop(3), Boom)
    assert all(isinstance(r, IngestResult) and r.new == 1 for r in results.values())


# -- d. two replicas store overlapping batches at the same time ------------------------------


@pytest.fixture
def postgres_url(pg_cluster: object) -> str:
    """PostgreSQL only: replicas share a server; SQLite is the single-process store."""
    return postgres_database(pg_cluster)  # type: ignore[arg-type]


def notification(group: str, fingerprints: range, now: datetime) -> Job:
    """One notification of a growing group: alerts ``{group}-{i}`` for ``i`` in the range."""
    alerts = [alert(f"{group}-{i}", starts_at=T0) for i in fingerprints]
    return job(payload(*alerts, group_key=group), now)


def at_once(work: Sequence[tuple[Database, list[Job]]]) -> list[list[Outcome]]:
    """``ingest_batch`` of each (database, jobs) in its own thread, released together."""
    start = threading.Barrier(len(work))
    classifier = Classifier(CATALOG)

    def run(db: Database, jobs: list[Job]) -> list[Outcome]:
        start.wait()
        return store(db, jobs, classifier)

    with ThreadPoolExecutor(len(work)) as pool:
        futures = [pool.submit(run, db, jobs) for db, jobs in work]
        return [f.result() for f in futures]


@pytest.mark.parametrize("round_", range(6))
def test_two_replicas_storing_overlapping_batches_at_once_store_each_alert_once(
    postgres_url: str, round_: int
) -> None:
    migrate(postgres_url)
    replicas = [Database(make_engine(postgres_url)) for _ in range(2)]
    groups = [f"g{k}" for k in range(3)]
    now = T0 + timedelta(minutes=1)
    # The same growing groups as two replicas get them: overlapping alerts (0-2 and 1-4), the
    # second replica in the opposite group order (so it locks rows in a different order).
    jobs_a = [notification(g, range(3), now) for g in groups]
    jobs_b = [notification(g, range(1, 5), now) for g in reversed(groups)]
    try:
        outcomes_a, outcomes_b = at_once([(replicas[0], jobs_a), (replicas[1], jobs_b)])
        with replicas[0].engine.connect() as c:
            incidents = c.execute(
                select(INCIDENTS.c.id, INCIDENTS.c.group_key, INCIDENTS.c.status)
            ).all()
            stored = c.execute(select(ALERTS.c.fingerprint, ALERTS.c.incident_id)).all()
    finally:
        for db in replicas:
            db.dispose()

    assert sorted(g for _, g, _ in incidents) == groups  # one incident per group
    assert {s for _, _, s in incidents} == {"triggered"}
    incident_of = {g: i for i, g, _ in incidents}
    assert sorted(stored) == sorted((f"{g}-{i}", incident_of[g]) for g in groups for i in range(5))
    results = [*outcomes_a, *reversed(outcomes_b)]
    assert all(isinstance(r, IngestResult) for r in results), results
    for k, g in enumerate(groups):
        ra, rb = results[k], results[k + 3]
        assert isinstance(ra, IngestResult)
        assert isinstance(rb, IngestResult)
        assert ra.incident_ids == rb.incident_ids == [incident_of[g]]
        assert ra.new + rb.new == 5  # each alert counted new exactly once
        assert ra.new + ra.duplicates + rb.new + rb.duplicates == 7


# -- e. the repeat path answers exactly when the batch would change nothing ------------------


@st.composite
def probes(draw: st.DrawFn) -> tuple[list[P], P]:
    """Deliveries stored first, then one more: mostly occurrences already sent (as sent,
    firing again or now ended), sometimes with another alert that may be new."""
    sent = draw(deliveries())
    seen = [a for p in sent for a in p.alerts]
    again = st.sampled_from(seen).flatmap(
        lambda a: st.sampled_from(
            [a, A(a.fp, a.start), A(a.fp, a.start, a.start + 2 if a.end is None else a.end)]
        )
    )
    alerts = draw(st.lists(again, min_size=1, max_size=3)) + draw(st.lists(an_alert, max_size=1))
    group = draw(st.sampled_from(GROUPS))
    return sent, P(group, tuple(alerts), 0, sent[-1].at + 1)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],  # emptied per example
)
@given(case=probes())
# every occurrence stored as it arrives: the repeat path answers
@example(case=(CASES["flap"], P("g1", (END, A("fa", 3)), 0, 4)))
# a firing occurrence arrives resolved: the batch resolves it
@example(case=(CASES["flap"], P("g1", (END, A("fa", 3, 5)), 0, 4)))
# a late firing retry of an occurrence stored resolved changes nothing
@example(case=(CASES["resolved first"], P("g2", (FIRE,), 0, 3)))
# one occurrence new among repeats: the batch stores it
@example(case=(CASES["flap"], P("g1", (END, A("fb", 3)), 0, 4)))
def test_the_repeat_path_answers_exactly_when_the_batch_would_change_nothing(
    fresh: Fresh, case: tuple[list[P], P]
) -> None:
    """``stored_unchanged`` (the read without the writer lock) answers a payload exactly when
    storing it reports nothing new and nothing resolved, and then with the batch's answer."""
    sent, probe = case
    db, _ = fresh.pair()
    for p in sent:
        [stored] = store(db, [job(body(p), T0 + timedelta(minutes=p.at))])
        assert isinstance(stored, IngestResult)
    probing = job(body(probe), T0 + timedelta(minutes=probe.at))

    answer = stored_unchanged(db, probing.payload)
    [result] = store(db, [probing])

    assert isinstance(result, IngestResult), result
    assert (answer is not None) == (result.new == 0 and result.resolved == 0)
    if answer is not None:
        assert answer.as_response() == result.as_response()
    hypothesis.event("the repeat path answers" if answer else "the batch stores")
