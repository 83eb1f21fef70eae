"""Plain-function factories for Alertmanager v4 payloads."""

from __future__ import annotations

from datetime import datetime
from typing import Any

ZERO = "0001-01-01T00:00:00Z"


def iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def alert(
    fingerprint: str,
    *,
    starts_at: datetime,
    ends_at: datetime | None = None,
    alertname: str = "Workflow500",
    **labels: str,
) -> dict[str, Any]:
    """One alert as Alertmanager sends it; resolved when ``ends_at`` is given."""
    return {
        "status": "resolved" if ends_at else "firing",
        "labels": {"alertname": alertname, "severity": "critical", **labels},
        "annotations": {"summary": f"{alertname} on {labels.get('service', 'unknown')}"},
        "startsAt": iso(starts_at),
        "endsAt": iso(ends_at) if ends_at else ZERO,
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any], group_key: str | None = None, **extra: Any) -> dict[str, Any]:
    """A v4 payload around ``alerts``; the group key defaults to the first alertname."""
    name = alerts[0]["labels"]["alertname"] if alerts else "none"
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "receiver": "runbook\\-router",
        "status": "firing" if firing else "resolved",
        "alerts": list(alerts),
        "groupLabels": {"alertname": name},
        "commonLabels": {"alertname": name},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": group_key or f'{{}}:{{alertname="{name}"}}',
        "truncatedAlerts": 0,
        **extra,
    }


def by_people(incident: dict[str, Any]) -> dict[str, Any]:
    """An incident (API JSON) without the background worker's timeline events (escalations):
    the in-process worker may add one between any two reads of a test."""
    timeline = [e for e in incident["timeline"] if e["actor"] != "runbook-router"]
    return incident | {"timeline": timeline}
