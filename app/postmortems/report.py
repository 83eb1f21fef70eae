"""What the post-mortem template sees: the incident's facts, read from its timeline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from app.classification.catalog import ChecklistItem
from app.incidents import service as incidents
from app.incidents.models import ChecklistStep, Incident, TimelineEvent

TEMPLATE = "_postmortem.md.j2"
_SUMMARY_KEYS = ("text", "note", "reason", "step", "fingerprints", "level", "channels")


def _seconds(start: datetime, end: datetime | None) -> float | None:
    return None if end is None else max((end - start).total_seconds(), 0.0)


def summary(event: TimelineEvent) -> str:
    """One line for a timeline table: the detail fields people care about."""
    parts = []
    for key in _SUMMARY_KEYS:
        value = event.detail.get(key)
        if value in (None, "", []):
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else str(value)
        parts.append(shown if key in ("text", "note") else f"{key.replace('_', ' ')}: {shown}")
    return "; ".join(parts)[:300]


def _checklist(
    session: Session, incident_id: int, items: Sequence[ChecklistItem]
) -> dict[str, Any]:
    query = select(ChecklistStep).where(ChecklistStep.incident_id == incident_id)
    done = {s.step_id: s for s in session.exec(query).all()}
    rows = [
        {
            "id": item.id,
            "text": item.text,
            "done": item.id in done,
            "done_by": done[item.id].done_by if item.id in done else None,
            "done_at": done[item.id].done_at if item.id in done else None,
        }
        for item in items
    ]
    return {"items": rows, "done": sum(r["done"] for r in rows), "total": len(rows)}


def context_for(
    session: Session,
    *,
    incident: Incident,
    checklist: Sequence[ChecklistItem],
    timezone: str,
    now: datetime,
) -> dict[str, Any]:
    """Template variables: times, MTTA, MTTR, checklist progress, alerts, notes, timeline."""
    assert incident.id is not None
    timeline = incidents.timeline_of(session, incident_id=incident.id)
    alerts = incidents.alerts_of(session, incident_id=incident.id)
    return {
        "incident": incident.model_dump(),
        "mtta_seconds": _seconds(incident.started_at, incident.acknowledged_at),
        "mttr_seconds": _seconds(incident.started_at, incident.resolved_at),
        "timeline": [
            {"at": e.at, "kind": e.kind, "actor": e.actor, "rule": e.rule, "summary": summary(e)}
            for e in timeline
        ],
        "notes": [
            {"at": e.at, "actor": e.actor, "text": str(e.detail.get("text", ""))}
            for e in timeline
            if e.kind == "note"
        ],
        "escalations": [e.detail for e in timeline if e.kind == "escalated"],
        "alerts": [
            {
                "fingerprint": a.fingerprint,
                "alertname": a.alertname,
                "status": a.status,
                "starts_at": a.starts_at,
                "ends_at": a.ends_at,
                "labels": dict(a.labels),
            }
            for a in alerts
        ],
        "checklist": _checklist(session, incident.id, checklist),
        "timezone": timezone,
        "generated_at": now,
    }
