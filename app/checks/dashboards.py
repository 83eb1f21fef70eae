"""Grafana dashboards (``grafana/dashboards/*.json``): JSON, and every query's metrics.

Each panel query and ``label_values()`` variable may read only what ``/metrics`` exports
(``app.metrics.exported``) and the series Prometheus makes itself (``up``, ``scrape_*``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from app.checks import Report
from app.checks.promql import metric_names, variable_metric_names
from app.metrics.exported import exported_metric_names

PROMETHEUS_SERIES = frozenset(
    {
        "up",
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    }
)


def check_dashboards(directory: Path) -> Report:
    report = Report()
    known = exported_metric_names() | PROMETHEUS_SERIES
    files = sorted(directory.glob("*.json"))
    queries = 0
    for path in files:
        queries += _check_file(path, known, report)
    report.notes.append(f"dashboards: {len(files)} files, {queries} queries")
    return report


def _check_file(path: Path, known: frozenset[str], report: Report) -> int:
    text = path.read_text(encoding="utf-8")
    try:
        dashboard: Any = json.loads(text)
    except json.JSONDecodeError as err:
        report.problem(path, err.lineno, f"not valid JSON: {err.msg}")
        return 0
    if not isinstance(dashboard, dict):
        report.problem(path, 1, "a dashboard is a JSON object")
        return 0
    finder = _LineFinder(text)
    count = 0
    for where, query, names in _queries(dashboard):
        count += 1
        line = finder.line_of(query)  # every query, so the search moves on in file order
        unknown = sorted(names - known)
        if unknown:
            report.problem(path, line, f"{where}: unknown metric {', '.join(unknown)}")
    return count


def _queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str, set[str]]]:
    """``(where, query, metric names)`` of every panel target and query variable."""
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets") or []:
            expr = target.get("expr") if isinstance(target, dict) else None
            if isinstance(expr, str) and expr.strip():
                where = (
                    f"panel {panel.get('id')} {panel.get('title')!r} refId {target.get('refId')}"
                )
                yield where, expr, metric_names(expr)
    for var in (dashboard.get("templating") or {}).get("list") or []:
        if isinstance(var, dict) and var.get("type") == "query":
            query = var.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query
            if isinstance(query, str):
                yield f"variable {var.get('name')}", query, variable_metric_names(query)


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows included; rows themselves too."""
    for panel in dashboard.get("panels") or []:
        if isinstance(panel, dict):
            yield panel
            yield from (p for p in panel.get("panels") or [] if isinstance(p, dict))


class _LineFinder:
    """The line of a JSON string in the file, searched onwards from the last one found."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cursor = 0

    def line_of(self, value: str) -> int | None:
        spellings = (json.dumps(value, ensure_ascii=False), json.dumps(value))
        for needle in dict.fromkeys(spellings):
            at = self.text.find(needle, self.cursor)
            at = at if at >= 0 else self.text.find(needle)
            if at >= 0:
                self.cursor = at + len(needle)
                return self.text.count("\n", 0, at) + 1
        return None
