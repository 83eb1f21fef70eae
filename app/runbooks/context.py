"""What a runbook template sees: a typed ``RunbookContext`` built from the database.

Never the raw payload: labels and annotations (untrusted, escaped by the filters), the
incident and its timeline, the last incidents of the same identity with their resolution
notes and durations, the recurrence count, links out, enrichment results and the
escalation path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session, col, func, select

from app.alerts.models import Alert
from app.classification.catalog import Runbook
from app.incidents.models import ChecklistStep, Incident
from app.runbooks.enrichment import Result
from app.runbooks.filters import promql, urlquery
from app.urls import incident_url, runbook_url

HISTORY = 5
DASHBOARD_UID = "runbook-router-kpis"
MARGIN = timedelta(minutes=15)  # around the incident in the Grafana link


@dataclass(frozen=True, slots=True)
class LinkSettings:
    base_url: str
    grafana_url: str | None
    alertmanager_url: str | None
    logs_url: str | None
    recurrence_window: timedelta


@dataclass(slots=True)
class RunbookContext:
    runbook: Runbook
    labels: dict[str, str]
    annotations: dict[str, str]
    alert: Alert | None
    incident: Incident | None
    history: list[Incident]
    recurrences: int
    links: dict[str, str | None]
    checklist_done: dict[str, ChecklistStep]
    now: datetime
    timezone: str = "UTC"
    enrichment: dict[str, dict[str, Result]] = field(default_factory=dict)
    escalation: dict[str, Any] = field(default_factory=dict)

    def template_vars(self) -> dict[str, Any]:
        """Plain data for Jinja (the contract the runbook templates are written against)."""
        meta = self.runbook.meta
        return {
            "title": meta.title,
            "runbook": {
                "class": meta.class_,
                "title": meta.title,
                "team": meta.team,
                "severity": meta.severity,
                "escalation": meta.escalation,
                "checklist": [self._step(item.id, item.text) for item in meta.checklist],
                "links": [link.model_dump() for link in meta.links],
                "last_reviewed": meta.last_reviewed,
            },
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "alert": _alert(self.alert),
            "incident": _incident(self.incident, self.links.get("base") or ""),
            "history": [self._past(i) for i in self.history],
            "recurrences": self.recurrences,
            "links": dict(self.links),
            "enrichment": {
                kind: {name: r.model_dump() for name, r in results.items()}
                for kind, results in self.enrichment.items()
            },
            "escalation": self.escalation or {"policy": meta.escalation, "steps": [], "text": ""},
            "now": self.now,
            "timezone": self.timezone,
        }

    def _step(self, step_id: str, text: str) -> dict[str, Any]:
        done = self.checklist_done.get(step_id)
        return {
            "id": step_id,
            "text": text,
            "done": done is not None,
            "done_by": done.done_by if done else None,
            "done_at": done.done_at if done else None,
        }

    def _past(self, incident: Incident) -> dict[str, Any]:
        assert incident.id is not None  # loaded from the database
        end = incident.resolved_at
        return {
            "id": incident.id,
            "started_at": incident.started_at,
            "resolved_at": end,
            "duration_seconds": (end - incident.started_at).total_seconds() if end else None,
            "resolution_note": incident.resolution_note,
            "resolved_by": incident.resolved_by,
            "url": incident_url(self.links.get("base") or "", incident.id),
        }


def _alert(alert: Alert | None) -> dict[str, Any] | None:
    if alert is None:
        return None
    return {
        "fingerprint": alert.fingerprint,
        "status": alert.status,
        "starts_at": alert.starts_at,
        "ends_at": alert.ends_at,
        "generator_url": safe_url(alert.generator_url),
    }


def _incident(incident: Incident | None, base: str) -> dict[str, Any] | None:
    """The incident with its page and its runbook link (the API's ``runbook_url``)."""
    if incident is None or incident.id is None:
        return None
    keys = (
        "id",
        "status",
        "title",
        "severity",
        "team",
        "started_at",
        "acknowledged_at",
        "acknowledged_by",
        "resolved_at",
        "flap_count",
        "recurrence_of",
        "truncated_alerts",
    )
    return {
        **{k: getattr(incident, k) for k in keys},
        "url": incident_url(base, incident.id),
        "runbook_url": runbook_url(base, incident.runbook_class, incident.labels),
    }


def safe_url(url: str | None) -> str | None:
    """Only http(s) URLs leave the server as links (a label could carry ``javascript:``)."""
    if not url:
        return None
    return url if urlsplit(url).scheme in ("http", "https") else None


def build_links(
    *,
    settings: LinkSettings,
    runbook: Runbook,
    labels: dict[str, str],
    alert: Alert | None,
    incident: Incident | None,
    now: datetime,
) -> dict[str, str | None]:
    """Grafana for the time range, the generator, a pre-filled silence, logs, the incident."""
    base = settings.base_url
    start = incident.started_at if incident else alert.starts_at if alert else now
    end = incident.resolved_at if incident and incident.resolved_at else now
    grafana = None
    if settings.grafana_url:
        span = f"from={int(shift(start, -MARGIN).timestamp() * 1000)}"
        span += f"&to={int(shift(end, MARGIN).timestamp() * 1000)}"
        grafana = (
            f"{settings.grafana_url.rstrip('/')}/d/{DASHBOARD_UID}?{span}"
            f"&var-class={urlquery(runbook.name)}"
        )
    silence = None
    alertmanager = safe_url(incident.alertmanager_url if incident else None) or (
        settings.alertmanager_url
    )
    if alertmanager and labels:
        matchers = ",".join(f"{k}={promql(v)}" for k, v in sorted(labels.items()))
        silence = (
            f"{alertmanager.rstrip('/')}/#/silences/new?filter={urlquery('{' + matchers + '}')}"
        )
    logs = None
    if settings.logs_url and labels:
        selector = " ".join(
            f"{k}={promql(v)}"
            for k, v in sorted(labels.items())
            if k in ("service", "namespace", "job", "instance", "queue", "bucket")
        )
        logs = settings.logs_url.replace(
            "{query}", urlquery(selector or labels.get("alertname", ""))
        )
    return {
        "base": base,
        "runbook": runbook_url(base, runbook.name, labels),
        "incident": incident_url(base, incident.id) if incident and incident.id else None,
        "grafana": grafana,
        "generator": safe_url(alert.generator_url) if alert else None,
        "silence": silence,
        "logs": logs,
    }


def shift(at: datetime, by: timedelta) -> datetime:
    """``at + by``, held at the ends of the datetime range: a query bound or link range
    computed from a stored time (any stored time, even year 1 or 9999) never overflows."""
    try:
        return at + by
    except OverflowError:
        return (
            datetime.max.replace(tzinfo=UTC)
            if by > timedelta(0)
            else datetime.min.replace(tzinfo=UTC)
        )


def history_of(session: Session, incident: Incident, *, limit: int = HISTORY) -> list[Incident]:
    """Earlier incidents of the same class and group key, newest first."""
    query = (
        select(Incident)
        .where(
            Incident.runbook_class == incident.runbook_class,
            Incident.group_key == incident.group_key,
            col(Incident.id) != incident.id,
            col(Incident.started_at) <= incident.started_at,
        )
        .order_by(col(Incident.started_at).desc())
        .limit(limit)
    )
    return list(session.exec(query).all())


def recurrences_of(session: Session, incident: Incident, *, window: timedelta) -> int:
    """Incidents of this identity that started within ``window`` before this one."""
    query = (
        select(func.count())
        .select_from(Incident)
        .where(
            Incident.runbook_class == incident.runbook_class,
            Incident.group_key == incident.group_key,
            col(Incident.started_at) >= shift(incident.started_at, -window),
            col(Incident.id) != incident.id,
        )
    )
    return int(session.exec(query).one())
