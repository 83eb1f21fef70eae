"""JSON views of runbooks and of a rendered runbook (shared by the API and the pages)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from app.classification.catalog import Runbook
from app.runbooks.pages import Rendered
from app.urls import runbook_url

RESERVED = frozenset({"format", "tz"})
MAX_LABELS = 64


def label_params(request: Request) -> dict[str, str]:
    """Alert labels from the query string (reserved names excluded), bounded in number."""
    labels = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    return dict(list(labels.items())[:MAX_LABELS])


def catalog_entry(runbook: Runbook, base_url: str) -> dict[str, Any]:
    meta = runbook.meta
    return {
        "class": meta.class_,
        "title": meta.title,
        "team": meta.team or None,
        "severity": meta.severity,
        "priority": meta.priority,
        "match": meta.match,
        "escalation": meta.escalation,
        "checklist": [item.model_dump() for item in meta.checklist],
        "last_reviewed": meta.last_reviewed.isoformat() if meta.last_reviewed else None,
        "url": runbook_url(base_url, meta.class_),
    }


def rendered_json(rendered: Rendered) -> dict[str, Any]:
    variables = rendered.context.template_vars()
    error = None
    if rendered.error is not None:
        error = {
            "file": rendered.error.file,
            "line": rendered.error.line,
            "message": rendered.error.detail,
        }
    return {
        "class": rendered.context.runbook.name,
        "title": variables["title"],
        "labels": variables["labels"],
        "incident": variables["incident"],
        "links": variables["links"],
        "checklist": variables["runbook"]["checklist"],
        "enrichment": variables["enrichment"],
        "escalation": variables["escalation"],
        "markdown": rendered.markdown,
        "html": rendered.html,
        "error": error,
    }
