"""``runbook-router render``: a runbook for an alert file or labels, for authors at their desk.

The input is an Alertmanager webhook payload, one alert object (only ``labels`` is required),
or a list of alerts; ``--label k=v`` adds to or overrides its labels. The runbook is the one
the catalog's matchers choose (or ``--class``), rendered as a page would render it for these
labels with no incident open; enrichment is off unless asked for.
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.alerts.models import Alert
from app.classification.catalog import Catalog, Runbook
from app.classification.classifier import classify
from app.cli_errors import UsageProblem
from app.config import AppConfig
from app.errors import PayloadError
from app.runbooks.offline import enrich, offline_context
from app.runbooks.renderer import Renderer
from app.runbooks.service import runbook_named
from app.settings import Settings

STDIN = "-"
_SURROGATE = re.compile("[\udc80-\udcff]")  # how Python keeps argv bytes that are not UTF-8


class Format(StrEnum):
    MD = "md"
    HTML = "html"


class AuthoredAlert(BaseModel):
    """One alert as an author writes it, or as Alertmanager sends it (extra fields ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    status: str = "firing"
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        """Alertmanager's zero time is "not set"; a time without a zone is read as UTC."""
        if value is None or value.year == 1:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Request:
    labels: dict[str, str]
    annotations: dict[str, str]
    alert: AuthoredAlert | None


def _read(source: str) -> bytes:
    path = Path(source)
    if path.is_dir():
        raise UsageProblem(f"{source}: is a directory", hint="give an alert JSON file or -")
    if not path.is_file():
        raise UsageProblem(f"{source}: no such file", hint="give an alert JSON file or -")
    try:
        return path.read_bytes()
    except OSError as err:
        raise PayloadError(f"{source}: cannot be read: {err.strerror}") from err


def _decoded(name: str, data: bytes) -> str:
    """UTF-8 text, or ``PayloadError`` naming the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        byte = data[err.start]
        raise PayloadError(
            f"{name}: not UTF-8 text: byte 0x{byte:02x} at offset {err.start}",
            hint="save the file as UTF-8 (JSON is UTF-8)",
        ) from err


def read_alerts(source: str) -> list[AuthoredAlert]:
    """The alerts of a JSON file (or ``-`` for stdin)."""
    name = "stdin" if source == STDIN else source
    text = _decoded(name, sys.stdin.buffer.read() if source == STDIN else _read(source))
    try:
        data: Any = orjson.loads(text)  # as the webhook: no lone surrogates, bounded depth
    except orjson.JSONDecodeError as err:
        raise PayloadError(f"{name}:{err.lineno}: not valid JSON: {err.msg}") from err
    items = data.get("alerts") if isinstance(data, dict) and "alerts" in data else data
    items = items if isinstance(items, list) else [items]
    alerts = []
    for index, item in enumerate(items):
        try:
            alerts.append(AuthoredAlert.model_validate(item))
        except ValidationError as err:
            first = err.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(alert)"
            raise PayloadError(
                f"{name}: alert {index + 1}: {loc}: {first['msg']}",
                hint="an alert is an object with at least a 'labels' object of strings",
            ) from err
    if not alerts:
        raise PayloadError(f"{name}: no alerts in the file")
    return alerts


def parse_labels(items: list[str]) -> dict[str, str]:
    """``k=v`` strings to labels."""
    labels = {}
    for item in items:
        if not item.isascii() and _SURROGATE.search(item):  # argv bytes that are not UTF-8
            raise UsageProblem(
                f"--label: not UTF-8 text: {item!r}", hint="give labels as UTF-8 text"
            )
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageProblem(f"--label {item!r} is not k=v", hint="e.g. --label alertname=Foo")
        labels[key.strip()] = value
    return labels


def request_for(source: str | None, *, index: int, extra: dict[str, str]) -> Request:
    """Labels and annotations from the file's alert ``index`` (1-based) and ``--label``s."""
    if source is None:
        if not extra:
            raise UsageProblem(
                "nothing to render", hint="give an alert JSON file or --label k=v (or both)"
            )
        return Request(labels=extra, annotations={}, alert=None)
    alerts = read_alerts(source)
    if not 1 <= index <= len(alerts):
        raise UsageProblem(f"--alert {index}: the file has {len(alerts)} alert(s)")
    alert = alerts[index - 1]
    return Request({**alert.labels, **extra}, dict(alert.annotations), alert)


def choose(catalog: Catalog, request: Request, forced: str | None) -> tuple[Runbook, str]:
    """The runbook and why: ``--class``, or what the matchers decide."""
    if forced is not None:
        return runbook_named(catalog, forced), "--class"
    decision = classify(catalog, request.labels, request.annotations)
    why = f"{decision.reason.value} {decision.matcher}".strip()
    return catalog.runbooks[decision.runbook_class], why


def _stored(alert: AuthoredAlert | None, runbook: Runbook, labels: dict[str, str]) -> Alert | None:
    """The alert as the page sees it (never stored); None when the file gave no start."""
    if alert is None or alert.starts_at is None:
        return None
    return Alert(
        fingerprint=alert.fingerprint,
        starts_at=alert.starts_at,
        ends_at=alert.ends_at,
        status=alert.status,
        alertname=labels.get("alertname", ""),
        runbook_class=runbook.name,
        labels=labels,
        annotations=dict(alert.annotations),
        generator_url=alert.generator_url,
        received_at=alert.starts_at,
        updated_at=alert.starts_at,
    )


def render(
    *,
    runbook: Runbook,
    request: Request,
    catalog_dir: Path,
    config: AppConfig,
    settings: Settings,
    now: datetime,
    html: bool,
    fetch: bool,
) -> str:
    """The runbook as Markdown (or HTML); raises RenderError naming file and line."""
    renderer = Renderer(catalog_dir)
    context = offline_context(
        runbook=runbook,
        labels=request.labels,
        annotations=request.annotations,
        alert=_stored(request.alert, runbook, request.labels),
        config=config,
        settings=settings,
        now=now,
    )
    if fetch:
        asyncio.run(enrich(context, renderer=renderer, config=config, settings=settings))
    markdown = renderer.render_markdown(runbook.path.name, context.template_vars())
    return renderer.to_html(markdown) if html else markdown
