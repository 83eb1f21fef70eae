"""The shipped runbook bodies: they render for every kind of context, follow the operating
standard (sections, standard-user validation, checklist, probes), share their layout through
partials, and keep untrusted labels inert in Markdown, HTML, PromQL and shell."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import cache
from html.parser import HTMLParser
from typing import Any

import pytest
import yaml

from app.classification.catalog import Runbook, load_catalog
from app.runbooks.filters import promql, promql_regex
from app.runbooks.renderer import Renderer
from tests.conftest import ROOT

CATALOG_DIR = ROOT / "runbook_templates"
MACROS = CATALOG_DIR / "_macros.md.j2"
IMPORT = '{% import "_macros.md.j2" as m with context %}'
SECTIONS = [
    "Goal",
    "Expected outcome",
    "Quick validation",
    "Diagnosis",
    "Mitigation",
    "Risk to avoid",
    "Escalation path",
    "Fallback",
]
SHARED_CALLS = [
    "m.header()",
    "m.shell_setup(",
    "m.standard_user_intro()",
    "m.me_probe(",
    "m.logs_intro()",
    "m.enrichment_table()",
    "m.history_table()",
    "m.common_risks()",
    "call m.escalation_path()",
    "m.fallback_common()",
    "m.links_block()",
]
MAX_BODY_LINES = 160  # the shared parts live in _macros.md.j2, not in each runbook
NOW = datetime(2026, 11, 28, 2, 12, tzinfo=UTC)
BENIGN = "benign-value"
HOSTILE = [
    "<script>alert(1)</script>",
    '"}[5m])) or vector(1) #',
    "[x](javascript:alert(1))",
    "a\nb\n# heading\n- [y](javascript:alert(2))\n===",
    "x\r```\r[pwn](https://evil.example/)\r===\r",
    "x`[pwn](https://evil.example/)`y ``z``",
    "'; rm -rf / #",
    '\\" } or vector(1) \\',
    "| a | b |\n|---|---|",
]
LEAKS = ("vector(1)", "<script", "javascript:", "evil.example", "rm -rf")
LABEL_KEYS = [
    "alertname",
    "service",
    "route",
    "queue",
    "bucket",
    "namespace",
    "job",
    "instance",
    "cluster",
    "team",
    "severity",
    "component",
]
SAMPLES: dict[str, dict[str, str]] = {
    "workflow-500": {"alertname": "Workflow500", "service": "workflow-api"},
    "pdf-404": {
        "alertname": "PdfNotFound",
        "service": "workflow-api",
        "route": "/documents/{id}.pdf",
    },
    "queue-failure": {"alertname": "QueueConsumerDown", "queue": "render"},
    "storage-permissions": {
        "alertname": "StoragePermissionDenied",
        "service": "workflow-worker",
        "bucket": "workflow-documents",
    },
    "generic": {
        "alertname": "RunbookRouterDown",
        "component": "runbook-router",
        "job": "runbook-router",
        "instance": "10.0.0.7:8080",
    },
}
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
FENCE = re.compile(r"^ *```(\w+)\n(.*?)^ *```$", re.DOTALL | re.MULTILINE)


# ---------------------------------------------------------------------- factories


@cache
def catalog_runbooks() -> dict[str, Runbook]:
    return load_catalog(CATALOG_DIR).runbooks


@cache
def renderer() -> Renderer:
    return Renderer(CATALOG_DIR)


def result(ok: bool, summary: str = "", status: int | None = None) -> dict[str, Any]:
    error = None if ok else "unavailable: timeout after 2s"
    return {"ok": ok, "summary": summary, "error": error, "status": status, "elapsed_ms": 12.5}


def context(
    runbook: Runbook, labels: dict[str, str], *, full: bool, text: str = "ok"
) -> dict[str, Any]:
    """The template contract of app/runbooks/context.py, as plain data.

    ``full``: an open incident with its alert, history, done steps and working enrichment;
    otherwise labels only (no incident, no alert, no history) and every enrichment failed.
    ``text`` fills the free-text fields people and other systems write (notes, names).
    """
    meta = runbook.meta
    started = NOW - timedelta(minutes=14)
    checklist = [
        {
            "id": item.id,
            "text": item.text,
            "done": full and index == 0,
            "done_by": text if full and index == 0 else None,
            "done_at": NOW if full and index == 0 else None,
        }
        for index, item in enumerate(meta.checklist)
    ]
    me = "200 OK; name=oncall-standard role=member team=ops permissions=4"
    incident = {
        "id": 42,
        "status": "acknowledged",
        "title": text,
        "severity": meta.severity,
        "team": meta.team,
        "started_at": started,
        "acknowledged_at": started + timedelta(minutes=3),
        "acknowledged_by": text,
        "resolved_at": None,
        "flap_count": 2,
        "recurrence_of": 40,
        "url": "https://rr.example.com/incidents/42",
        "truncated_alerts": 3,
    }
    history = [
        {
            "id": 40,
            "started_at": NOW - timedelta(days=2),
            "resolved_at": NOW - timedelta(days=2) + timedelta(minutes=35),
            "duration_seconds": 2100.0,
            "resolution_note": text,
            "resolved_by": text,
            "url": "https://rr.example.com/incidents/40",
        },
        {
            "id": 37,
            "started_at": NOW - timedelta(days=5),
            "resolved_at": None,
            "duration_seconds": None,
            "resolution_note": None,
            "resolved_by": None,
            "url": None,
        },
    ]
    return {
        "title": meta.title,
        "runbook": {
            "class": meta.class_,
            "title": meta.title,
            "team": meta.team,
            "severity": meta.severity,
            "escalation": meta.escalation,
            "checklist": checklist,
            "links": [link.model_dump() for link in meta.links],
            "last_reviewed": meta.last_reviewed,
        },
        "labels": labels,
        "annotations": {"summary": text, "description": text} if full else {},
        "alert": {
            "fingerprint": "40e3d495c95ec851",
            "status": "firing",
            "starts_at": started,
            "ends_at": None,
            "generator_url": "http://prometheus:9090/graph?g0.expr=up",
        }
        if full
        else None,
        "incident": incident if full else None,
        "history": history if full else [],
        "recurrences": 2 if full else 0,
        "links": {
            "grafana": "https://grafana.example.com/d/x?from=1&to=2" if full else None,
            "generator": "http://prometheus:9090/graph?g0.expr=up" if full else None,
            "silence": "http://alertmanager:9093/#/silences/new?filter=%7B%7D" if full else None,
            "logs": "http://loki:3100/search?q=x" if full else None,
            "incident": "https://rr.example.com/incidents/42" if full else None,
            "runbook": f"https://rr.example.com/runbooks/{meta.class_}?alertname=x",
        },
        "enrichment": {
            "prometheus": {q.name: result(full, "0.12") for q in meta.enrich.prometheus},
            "probes": {p.name: result(full, me, 200 if full else None) for p in meta.enrich.probes},
        },
        "escalation": {
            "policy": meta.escalation,
            "steps": [
                {"after": "0s", "channels": ["team-chat"], "text": "now"},
                {"after": "10m", "channels": ["oncall-primary"], "text": "after 10m"},
            ]
            if full
            else [],
            "text": "now: team-chat; in 10m: oncall-primary" if full else "",
        },
        "now": NOW,
        "timezone": "Europe/Berlin",
    }


def all_labels(value: str) -> dict[str, str]:
    return dict.fromkeys(LABEL_KEYS, value)


def render(name: str, ctx: dict[str, Any]) -> tuple[str, str]:
    r = renderer()
    markdown = r.render_markdown(f"{name}.md.j2", ctx)
    return markdown, r.to_html(markdown)


def sections(markdown: str) -> dict[str, str]:
    """``## Heading`` -> the text up to the next such heading."""
    parts = re.split(r"^## (.+)$", markdown, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


class _Skeleton(HTMLParser):
    """The tags of a page and the targets of its links: its structure without its text."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.targets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.targets += [v or "" for k, v in attrs if k in ("href", "src")]

    def handle_endtag(self, tag: str) -> None:
        self.tags.append("/" + tag)


def skeleton(html: str) -> tuple[list[str], list[str]]:
    parser = _Skeleton()
    parser.feed(html)
    return parser.tags, parser.targets


def without_literals(query: str) -> str:
    return STRING_LITERAL.sub('""', query)


def normalise(query: str, value: str) -> str:
    """The query with every quoted occurrence of ``value`` replaced by one marker."""
    for quoted in sorted({promql(value), promql_regex(value)}, key=len, reverse=True):
        query = query.replace(quoted, '"<VALUE>"')
    return query


NAMES = sorted(SAMPLES)


# ---------------------------------------------------------------------- the standard


def test_every_shipped_runbook_is_covered_here() -> None:
    assert sorted(catalog_runbooks()) == NAMES


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("full", [True, False], ids=["incident", "labels-only"])
def test_renders_with_the_eight_sections_in_order(name: str, full: bool) -> None:
    runbook = catalog_runbooks()[name]
    markdown, html = render(name, context(runbook, SAMPLES[name], full=full))
    assert list(sections(markdown)) == [*SECTIONS, "Links"]
    assert markdown.startswith(f"# {runbook.meta.title}\n")
    assert "None" not in markdown
    assert "<h2>Quick validation</h2>" in html


@pytest.mark.parametrize("name", NAMES)
def test_full_context_shows_incident_history_enrichment_and_escalation(name: str) -> None:
    runbook = catalog_runbooks()[name]
    markdown, html = render(name, context(runbook, SAMPLES[name], full=True, text="alice"))
    assert "[#42](https://rr.example.com/incidents/42) **acknowledged**" in markdown
    assert "acknowledged by alice at 2026-11-28 03:01 CET" in markdown  # viewer's time zone
    assert "truncated 3 alerts" in markdown
    assert "[#40](https://rr.example.com/incidents/40)" in markdown
    assert "| 35m | alice | alice |" in markdown
    assert "still open" in markdown
    assert "☑ *done by alice at 2026-11-28 03:12 CET*" in markdown
    assert "| 0\\.12 |" in markdown
    assert "role=member" in html  # the md filter escapes "=" in the Markdown source
    assert "| 10m | oncall\\-primary | after 10m |" in markdown
    assert "[incident #42]" in markdown


@pytest.mark.parametrize("name", NAMES)
def test_labels_only_context_says_what_is_missing(name: str) -> None:
    runbook = catalog_runbooks()[name]
    markdown, _ = render(name, context(runbook, SAMPLES[name], full=False))
    assert "none open for these labels" in markdown
    assert "unavailable: timeout after 2s" in markdown
    assert "run the curl below" in markdown
    assert "No earlier incident" in markdown
    assert "no automatic steps configured" in markdown


@pytest.mark.parametrize("name", NAMES)
def test_renders_without_labels_or_enrichment_at_all(name: str) -> None:
    ctx = context(catalog_runbooks()[name], {}, full=False)
    ctx["enrichment"] = {}
    ctx["escalation"] = {"policy": "default", "steps": [], "text": ""}
    markdown, _ = render(name, ctx)
    assert "No live values on this page" in markdown
    assert "not run for this page" in markdown
    assert "<service from the alert>" in markdown or "export SVC='workflow-" in markdown


@pytest.mark.parametrize("name", NAMES)
def test_quick_validation_uses_a_standard_account_the_me_probe_and_logs(name: str) -> None:
    runbook = catalog_runbooks()[name]
    markdown, _ = render(name, context(runbook, SAMPLES[name], full=True))
    quick = sections(markdown)["Quick validation"]
    assert "/api/v1/me" in quick
    assert "standard, non-admin account" in quick
    for status in ("**200**", "**401**", "**403**", '"role": "admin"'):
        assert status in quick
    assert "```logql" in quick
    assert 'kubectl -n "$NS" logs' in quick
    risks = sections(markdown)["Risk to avoid"]
    assert "Do not rely on admin-only testing" in risks
    assert "No implicit steps" in risks
    assert "troubleshooting clues" in risks


@pytest.mark.parametrize("name", NAMES)
def test_checklist_is_complete_and_every_step_appears_in_the_body(name: str) -> None:
    runbook = catalog_runbooks()[name]
    ids = [item.id for item in runbook.meta.checklist]
    assert 5 <= len(ids) <= 8
    assert len(set(ids)) == len(ids)
    ticked = re.findall(r"m\.tick\('([^']+)'\)", runbook.body)
    assert sorted(set(ticked)) == sorted(ids)


@pytest.mark.parametrize("name", NAMES)
def test_front_matter_probes_links_and_review_date(name: str) -> None:
    meta = catalog_runbooks()[name].meta
    config = yaml.safe_load((ROOT / "config" / "runbook-router.yaml").read_text())
    targets = config["enrichment"]["targets"]
    me = [p for p in meta.enrich.probes if p.path == "/api/v1/me"]
    assert me
    assert all(p.expect_status == 200 for p in me)
    assert all(p.target in targets for p in meta.enrich.probes)
    assert len(meta.enrich.prometheus) >= 3
    assert len({q.name for q in meta.enrich.prometheus}) == len(meta.enrich.prometheus)
    assert meta.links
    assert all(link.url.startswith("https://") for link in meta.links)
    assert meta.last_reviewed == date(2026, 11, 28)


def test_partials_exist_and_carry_the_shared_layout() -> None:
    assert MACROS.is_file()
    for name, runbook in catalog_runbooks().items():
        body = runbook.body.strip("\n")
        assert body.startswith(IMPORT), name
        for call in SHARED_CALLS:
            assert call in body, f"{name} does not use {call}"
        assert len(body.splitlines()) < MAX_BODY_LINES, name


# ---------------------------------------------------------------------- untrusted input


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_labels_and_notes_change_no_structure_of_the_page(name: str, value: str) -> None:
    runbook = catalog_runbooks()[name]
    _, benign = render(name, context(runbook, all_labels(BENIGN), full=True, text=BENIGN))
    markdown, html = render(name, context(runbook, all_labels(value), full=True, text=value))
    assert "<script" not in html.lower()
    assert not re.search(r"""(href|src)=["']?\s*javascript:""", html, re.IGNORECASE)
    assert skeleton(html) == skeleton(benign)
    assert all(t.startswith(("https://", "http://")) for t in skeleton(html)[1])
    assert markdown.count("\n# ") == 0  # one title only, at the very start


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_labels_stay_inside_one_promql_string_in_front_matter_queries(
    name: str, value: str
) -> None:
    runbook = catalog_runbooks()[name]
    env = renderer().env
    for item in runbook.meta.enrich.prometheus:
        template = env.from_string(item.query)
        benign = template.render(**context(runbook, all_labels(BENIGN), full=False))
        hostile = template.render(**context(runbook, all_labels(value), full=False))
        assert normalise(hostile, value) == normalise(benign, BENIGN), item.name
        if '"<VALUE>"' in normalise(benign, BENIGN):
            assert promql(value) in hostile or promql_regex(value) in hostile
        outside = without_literals(hostile)
        assert not any(leak in outside for leak in LEAKS), item.name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_labels_stay_inert_in_the_body_code_blocks(name: str, value: str) -> None:
    runbook = catalog_runbooks()[name]
    markdown, _ = render(name, context(runbook, all_labels(value), full=True, text=value))
    blocks = FENCE.findall(markdown)
    assert {lang for lang, _ in blocks} >= {"sh", "promql", "logql", "text"}
    for lang, code in blocks:
        if lang in ("promql", "logql"):
            outside = without_literals(code)
            assert not any(leak in outside for leak in LEAKS), code
        elif lang == "sh":
            assert not any(leak in code for leak in LEAKS), code
    setup = next(code for lang, code in blocks if lang == "sh")
    assert re.search(r"^export [A-Z]+='<[a-z ]+ from the alert>'$", setup, re.MULTILINE)


@pytest.mark.parametrize("name", NAMES)
def test_plain_label_values_are_filled_into_commands_and_queries(name: str) -> None:
    labels = {**SAMPLES[name], "namespace": "workflow-prod"}
    markdown, _ = render(name, context(catalog_runbooks()[name], labels, full=True))
    assert "export NS='workflow-prod'" in markdown
    assert 'namespace="workflow-prod"' in markdown
    for key in ("service", "queue", "bucket"):
        if key in SAMPLES[name] and name != "generic":
            assert f"'{SAMPLES[name][key]}'" in markdown
            assert promql(SAMPLES[name][key]) in markdown


def test_queue_runbook_reads_the_alert_it_was_opened_for() -> None:
    runbook = catalog_runbooks()["queue-failure"]
    down, _ = render("queue-failure", context(runbook, SAMPLES["queue-failure"], full=False))
    backlog_labels = {**SAMPLES["queue-failure"], "alertname": "QueueBacklog"}
    backlog, _ = render("queue-failure", context(runbook, backlog_labels, full=False))
    assert "a consumer attached within 15 minutes" in sections(down)["Goal"]
    assert "the backlog shrinking within 15 minutes" in sections(backlog)["Goal"]


def test_generic_runbook_has_first_checks_for_runbook_router_alerts() -> None:
    runbook = catalog_runbooks()["generic"]
    own, _ = render("generic", context(runbook, SAMPLES["generic"], full=False))
    other, _ = render("generic", context(runbook, {"alertname": "DiskFull"}, full=False))
    assert "This alert is about Runbook Router itself" in own
    assert "This alert is about Runbook Router itself" not in other


def test_an_admin_probe_account_is_called_out() -> None:
    runbook = catalog_runbooks()["workflow-500"]
    ctx = context(runbook, SAMPLES["workflow-500"], full=True)
    ctx["enrichment"]["probes"]["me-as-standard-user"]["summary"] = "200 OK; name=root role=admin"
    markdown, _ = render("workflow-500", ctx)
    assert "the probe account is an admin" in markdown
