"""The runbook catalog: front matter, and every template compiled and rendered once.

Each runbook renders under ``StrictUndefined`` against its sample alert (labels its first
matcher set implies), with no incident and enrichment off, as a labels-only page would.
Its enrichment queries, also templates, render against the same context.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import jinja2

from app.checks import Report
from app.classification.catalog import GENERIC, SUFFIX, Runbook, load_runbook, split_front_matter
from app.classification.matchers import MatchType
from app.config import AppConfig
from app.errors import ConfigError
from app.runbooks.offline import offline_context
from app.runbooks.renderer import TEMPLATE_ERRORS, Renderer, RenderError
from app.settings import Settings
from app.yaml_lines import key_lines

_WILDCARDS = re.compile(r"\.[*+]")


def check_catalog(
    directory: Path, *, config: AppConfig, settings: Settings, now: datetime
) -> tuple[dict[str, Runbook], Report]:
    """The runbooks that loaded, and every problem of the folder."""
    report = Report()
    if not directory.is_dir():
        report.problem(directory, None, "runbook catalog folder not found")
        return {}, report
    runbooks: dict[str, Runbook] = {}
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        if path.name.startswith("_"):
            continue
        try:
            runbook = load_runbook(path)
        except ConfigError as err:
            report.problems += err.message.splitlines()
            continue
        runbooks[runbook.name] = runbook
    if GENERIC not in runbooks:
        report.problem(directory, None, f"no '{GENERIC}{SUFFIX}' fallback runbook")
    report.notes.append(f"catalog: {len(runbooks)} runbooks ({', '.join(sorted(runbooks))})")
    renderer = Renderer(directory)
    compiled = _compile_all(renderer, directory, report)
    rendered = 0
    for runbook in runbooks.values():
        if runbook.path.name in compiled and _render(
            runbook, renderer, config, settings, now, report
        ):
            rendered += 1
    report.notes.append(f"templates: {rendered} rendered")
    return runbooks, report


def _compile_all(renderer: Renderer, directory: Path, report: Report) -> set[str]:
    """Compile every template file (partials too); the names that compiled."""
    ok = set()
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            renderer.env.get_template(path.name)
        except jinja2.TemplateSyntaxError as err:
            file = Path(err.filename).name if err.filename else path.name
            report.problem(directory / file, err.lineno, err.message or "syntax error")
            continue
        ok.add(path.name)
    return ok


def _render(
    runbook: Runbook,
    renderer: Renderer,
    config: AppConfig,
    settings: Settings,
    now: datetime,
    report: Report,
) -> bool:
    labels = sample_labels(runbook)
    context = offline_context(
        runbook=runbook,
        labels=labels,
        annotations={},
        alert=None,
        config=config,
        settings=settings,
        now=now,
    )
    variables = context.template_vars()
    ok = _render_queries(runbook, renderer, variables, report)
    try:
        renderer.to_html(renderer.render_markdown(runbook.path.name, variables))
    except RenderError as err:
        report.problem(runbook.path.parent / err.file, err.line, err.detail)
        return False
    return ok


def _render_queries(
    runbook: Runbook, renderer: Renderer, variables: dict[str, object], report: Report
) -> bool:
    queries = runbook.meta.enrich.prometheus
    if not queries:
        return True
    front, _, _ = split_front_matter(runbook.path.read_text(encoding="utf-8"), runbook.path)
    lines = key_lines(front, first_line=2)
    ok = True
    for i, item in enumerate(queries):
        try:
            renderer.env.from_string(item.query).render(**variables)
        except TEMPLATE_ERRORS as err:
            line = lines.get(("enrich", "prometheus", i, "query"))
            report.problem(runbook.path, line, f"enrich.prometheus[{i}].query: {err}")
            ok = False
    return ok


def sample_labels(runbook: Runbook) -> dict[str, str]:
    """Labels of an alert the runbook's first matcher set selects.

    Equality matchers give their value; a regex gives its text with each ``.*``/``.+`` read
    as ``x`` when that matches (``workflow-.*`` -> ``workflow-x``); other matchers add nothing.
    """
    labels: dict[str, str] = {}
    for matcher in runbook.matcher_sets[0] if runbook.matcher_sets else ():
        if matcher.type is MatchType.EQUAL:
            labels[matcher.name] = matcher.value
        elif matcher.type is MatchType.REGEX:
            candidate = _WILDCARDS.sub("x", matcher.value)
            if matcher.matches(candidate):
                labels[matcher.name] = candidate
    return labels
