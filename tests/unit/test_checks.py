"""Pieces of ``runbook-router check`` that need no files: promtool's output, metric names."""

from __future__ import annotations

from pathlib import Path

from app.checks.rules import promtool_findings
from app.metrics.exported import exported_metric_names
from tests.e2e.test_alert_rules import EXPECTED_METRICS


def test_promtool_findings_name_file_and_line() -> None:
    files = [Path("/p/a.yml"), Path("/p/b.yml")]
    output = (
        "Checking /p/a.yml\n  FAILED:\n"
        '/p/a.yml: 22:15: group "g", rule 1, "Down": could not parse expression: 1:25: bad\n'
        "Checking /p/b.yml\n  FAILED:\n"
        "/p/b.yml: yaml: unmarshal errors:\n"
        "  line 6: field bogus not found in type rulefmt.RuleNode\n"
        "/p/b.yml: some error without a line\n"
    )
    assert promtool_findings(output, files) == [
        ("/p/a.yml", 22, 'group "g", rule 1, "Down": could not parse expression: 1:25: bad'),
        ("/p/b.yml", 6, "field bogus not found in type rulefmt.RuleNode"),
        ("/p/b.yml", None, "some error without a line"),
    ]


def test_exported_metric_names_cover_the_metrics_contract() -> None:
    names = exported_metric_names()
    assert names >= EXPECTED_METRICS
    assert all(name.startswith("runbook_") for name in names)
