"""``runbook-router check``: catalog (front matter and every template, rendered once), the
configuration, the alert rules and the dashboards, each problem as ``file:line: message``."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from app.cli import cli
from tests.conftest import ROOT
from tests.services import need_binary


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the shipped runbooks, configuration, alert rules and dashboards."""
    shutil.copytree(ROOT / "runbook_templates", tmp_path / "runbook_templates")
    (tmp_path / "config").mkdir()
    shutil.copy(ROOT / "config" / "runbook-router.yaml", tmp_path / "config")
    shutil.copytree(ROOT / "alert_rules", tmp_path / "alert_rules")
    shutil.copytree(ROOT / "grafana" / "dashboards", tmp_path / "grafana" / "dashboards")
    return tmp_path


def check(project: Path, *extra: str) -> Result:
    args = [
        "check",
        "--catalog-dir",
        str(project / "runbook_templates"),
        "--config",
        str(project / "config" / "runbook-router.yaml"),
        "--rules-dir",
        str(project / "alert_rules"),
        "--dashboards-dir",
        str(project / "grafana" / "dashboards"),
        *extra,
    ]
    return CliRunner().invoke(cli, args)


def problems(result: Result) -> list[str]:
    """The ``file:line: message`` lines of the output."""
    return [line for line in result.stderr.splitlines() if re.match(r"^\S+:\d+: ", line)]


def append(path: Path, text: str) -> int:
    """Append ``text`` as a new last line; return its line number."""
    body = path.read_text()
    if not body.endswith("\n"):
        body += "\n"
    path.write_text(body + text + "\n")
    return body.count("\n") + 1


def test_the_shipped_project_passes(project: Path) -> None:
    result = check(project)
    assert result.exit_code == 0, result.output
    assert "5 runbooks" in result.stdout
    assert "templates: 5 rendered" in result.stdout
    rules = sum(
        len(re.findall(r"^\s*- (?:alert|record):", path.read_text(), re.MULTILINE))
        for path in (project / "alert_rules").glob("*.yml")
    )
    assert f"alert rules: {rules} rules in 2 files" in result.stdout
    assert "dashboards: 2 files" in result.stdout


def test_a_runbook_body_that_does_not_compile_fails_with_its_line(project: Path) -> None:
    runbook = project / "runbook_templates" / "workflow-500.md.j2"
    line = append(runbook, "{% if %}")
    result = check(project)
    assert result.exit_code == 1, result.output
    assert problems(result) == [
        f"{runbook}:{line}: Expected an expression, got 'end of statement block'"
    ]


def test_a_runbook_that_fails_at_render_time_fails_with_its_line(project: Path) -> None:
    runbook = project / "runbook_templates" / "pdf-404.md.j2"
    line = append(runbook, "{{ no_such_variable.field }}")
    result = check(project)
    assert result.exit_code == 1, result.output
    assert problems(result) == [f"{runbook}:{line}: 'no_such_variable' is undefined"]


def test_a_broken_partial_is_reported_in_the_partial(project: Path) -> None:
    macros = project / "runbook_templates" / "_macros.md.j2"
    line = append(macros, "{% for %}")
    result = check(project)
    assert result.exit_code == 1, result.output
    found = problems(result)
    assert found
    assert all(p.startswith(f"{macros}:{line}: ") for p in found), found


def test_an_enrichment_query_template_is_checked(project: Path) -> None:
    runbook = project / "runbook_templates" / "queue-failure.md.j2"
    text = runbook.read_text()
    lines = text.splitlines()
    index = next(i for i, line in enumerate(lines) if "query:" in line)
    lines[index] = lines[index].split("query:")[0] + "query: 'up{x={{ labels.queue | nope }}}'"
    runbook.write_text("\n".join(lines) + "\n")
    result = check(project)
    assert result.exit_code == 1, result.output
    (problem,) = problems(result)
    assert problem.startswith(f"{runbook}:{index + 1}: enrich.prometheus[0].query: ")
    assert "nope" in problem


def test_configuration_problems_have_file_and_line(project: Path) -> None:
    config = project / "config" / "runbook-router.yaml"
    text = config.read_text()
    line = text.splitlines().index("worker:") + 2
    config.write_text(text.replace("interval: 1s", "interval: 5x", 1))
    result = check(project)
    assert result.exit_code == 1, result.output
    (problem,) = problems(result)
    assert problem.startswith(f"{config}:{line}: worker.interval: ")
    assert "invalid duration '5x'" in problem


def test_alert_rule_problems(project: Path) -> None:
    rules = project / "alert_rules" / "application.yml"
    text = rules.read_text()
    lines = text.splitlines()
    expr = next(i for i, line in enumerate(lines) if line.strip() == "- alert: PdfNotFound") + 1
    assert lines[expr].strip() == "expr: |"
    lines[expr] = lines[expr].replace("expr:", "exp:")
    url = next(i for i, line in enumerate(lines) if "runbook_url: '{{" in line)
    assert "/runbooks/workflow-500?" in lines[url]
    lines[url] = lines[url].replace("/runbooks/workflow-500?", "/runbooks/workflow-5000?")
    rules.write_text("\n".join(lines) + "\n")
    result = check(project)
    assert result.exit_code == 1, result.output
    found = problems(result)
    assert f"{rules}:{expr}: rule PdfNotFound: no expr" in found
    unknown = f"{rules}:{url + 1}: rule Workflow500: runbook_url names unknown runbook class"
    assert any(p.startswith(f"{unknown} 'workflow-5000'") for p in found), found


def test_alert_rule_file_that_is_not_yaml(project: Path) -> None:
    rules = project / "alert_rules" / "broken.yml"
    rules.write_text("groups:\n  - name: x\n    rules: [\n")
    result = check(project)
    assert result.exit_code == 1, result.output
    (problem,) = problems(result)
    assert problem.startswith(f"{rules}:4: not valid YAML")


def test_promtool_checks_the_rules(project: Path) -> None:
    need_binary("/usr/bin/promtool", "prometheus")
    rules = project / "alert_rules" / "runbook-router.yml"
    text = rules.read_text()
    rules.write_text(
        text.replace('up{job="runbook-router"} == 0', 'up{job="runbook-router" == 0', 1)
    )
    result = check(project)
    assert result.exit_code == 1, result.output
    assert any(p.startswith(f"{rules}:") and "promtool" in p for p in problems(result)), (
        result.stderr
    )


def test_dashboard_query_naming_an_unknown_metric(project: Path) -> None:
    board = project / "grafana" / "dashboards" / "runbook-router-health.json"
    data = json.loads(board.read_text())
    target = next(t for p in data["panels"] for t in p.get("targets", []))
    target["expr"] = "sum(runbook_webhook_requets_total)"
    board.write_text(json.dumps(data, indent=2))
    line = (
        board.read_text()
        .splitlines()
        .index('          "expr": "sum(runbook_webhook_requets_total)",')
        + 1
    )
    result = check(project)
    assert result.exit_code == 1, result.output
    (problem,) = problems(result)
    assert problem.startswith(f"{board}:{line}: panel ")
    assert problem.endswith("unknown metric runbook_webhook_requets_total")


def test_dashboard_that_is_not_json(project: Path) -> None:
    board = project / "grafana" / "dashboards" / "broken.json"
    board.write_text('{\n  "panels": [\n    {"id": 1,}\n  ]\n}\n')
    result = check(project)
    assert result.exit_code == 1, result.output
    (problem,) = problems(result)
    assert problem.startswith(f"{board}:3: not valid JSON")


def test_missing_rule_and_dashboard_folders_are_skipped_with_a_note(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.rmtree(project / "alert_rules")
    shutil.rmtree(project / "grafana")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(
        cli,
        ["check", "--catalog-dir", "runbook_templates", "--config", "config/runbook-router.yaml"],
    )
    assert result.exit_code == 0, result.output
    assert "alert rules: alert_rules not found, skipped" in result.stdout
    assert "dashboards: grafana/dashboards not found, skipped" in result.stdout
    assert not (project / "alert_rules").exists()
    assert not (project / "grafana").exists()


def test_a_missing_catalog_folder_is_a_problem_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "runbooks"
    result = CliRunner().invoke(cli, ["check", "--catalog-dir", str(missing)])
    assert result.exit_code == 1, result.output
    assert f"{missing}: runbook catalog folder not found" in result.stderr
    assert not (tmp_path / "nowhere").exists()
