"""``runbook-router render``: a runbook for an alert file or ``--label``s, offline, on stdout."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import Run, cli_env, run_cli
from tests.conftest import FIXTURES, ROOT, load_fixture
from tests.probe_server import ProbeServer

CATALOG = ROOT / "runbook_templates"
CONFIG = ROOT / "config" / "runbook-router.yaml"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(
        catalog_dir=CATALOG,
        config=CONFIG,
        database_url=f"sqlite:///{tmp_path}/absent/rr.db",
        prometheus_url="http://127.0.0.1:9",
    )


def test_renders_markdown_for_an_alertmanager_payload(env: dict[str, str], tmp_path: Path) -> None:
    run = run_cli("render", str(FIXTURES / "firing.json"), env=env)
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("# Workflow API returns HTTP 500\n")
    assert "## Quick validation" in run.stdout
    assert "workflow\\-api" in run.stdout or "workflow-api" in run.stdout
    assert "runbook workflow-500" in run.stderr
    assert not (tmp_path / "absent").exists(), "render needs no database"


def test_renders_html(env: dict[str, str]) -> None:
    run = run_cli("render", str(FIXTURES / "firing.json"), "--format", "html", env=env)
    assert run.code == 0, run.stderr
    assert run.stdout.startswith("<h1>Workflow API returns HTTP 500</h1>")
    assert "<h2>Quick validation</h2>" in run.stdout


def test_renders_a_single_alert_object_and_labels_given_on_the_command_line(
    env: dict[str, str], tmp_path: Path
) -> None:
    alert = {"labels": {"alertname": "QueueConsumerDown", "queue": "render"}}
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert))
    from_file = run_cli("render", str(path), env=env)
    assert from_file.code == 0, from_file.stderr
    assert from_file.stdout.startswith("# ")
    assert "runbook queue-failure" in from_file.stderr
    from_labels = run_cli(
        "render", "--label", "alertname=QueueConsumerDown", "--label", "queue=render", env=env
    )
    assert from_labels.code == 0, from_labels.stderr
    assert same_page(from_labels.stdout) == same_page(from_file.stdout)


def test_chooses_an_alert_of_a_payload_and_a_class(env: dict[str, str], tmp_path: Path) -> None:
    payload = load_fixture("firing.json")
    second = {**payload["alerts"][0], "labels": {"alertname": "PdfNotFound", "route": "/x.pdf"}}
    payload["alerts"].append(second)
    path = tmp_path / "payload.json"
    path.write_text(json.dumps(payload))
    run = run_cli("render", str(path), "--alert", "2", env=env)
    assert run.code == 0, run.stderr
    assert "runbook pdf-404" in run.stderr
    forced = run_cli("render", str(path), "--class", "generic", env=env)
    assert forced.code == 0, forced.stderr
    assert "runbook generic" in forced.stderr


def same_page(markdown: str) -> str:
    """The page without what changes with the clock (rendered at, Grafana time range)."""
    return re.sub(r"rendered [^·\n]+|\d{13}", "", markdown)


def one_line_failure(run: Run, code: int = 1) -> str:
    assert run.code == code, (run.stdout, run.stderr)
    assert run.stdout == ""
    assert len(run.error_lines) == 1, run.stderr
    return run.error_lines[0]


def test_unknown_class_is_one_line(env: dict[str, str]) -> None:
    line = one_line_failure(run_cli("render", "--label", "alertname=X", "--class", "nope", env=env))
    assert "no runbook named 'nope'" in line
    assert "generic" in line


def test_a_template_that_does_not_compile_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    catalog = tmp_path / "runbooks"
    shutil.copytree(CATALOG, catalog)
    runbook = catalog / "generic.md.j2"
    runbook.write_text(runbook.read_text() + "{% if %}\n")
    lines = runbook.read_text().count("\n")
    env["RUNBOOK_ROUTER_CATALOG_DIR"] = str(catalog)
    line = one_line_failure(run_cli("render", "--label", "alertname=X", env=env))
    assert f"generic.md.j2:{lines}: Expected an expression" in line


def test_bad_input_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    nothing = one_line_failure(run_cli("render", env=env), code=2)
    assert "--label" in nothing
    missing = one_line_failure(run_cli("render", str(tmp_path / "nope.json"), env=env), code=2)
    assert "nope.json" in missing
    label = one_line_failure(run_cli("render", "--label", "novalue", env=env), code=2)
    assert "k=v" in label
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert "not valid JSON" in one_line_failure(run_cli("render", str(broken), env=env))
    # valid UTF-8 that is no usable text (a lone surrogate), and nesting past any sane depth
    surrogate = tmp_path / "surrogate.json"
    surrogate.write_text('{"labels": {"alertname": "x"}, "annotations": {"summary": "\\ud800"}}')
    assert "not valid JSON" in one_line_failure(run_cli("render", str(surrogate), env=env))
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000)
    assert "not valid JSON" in one_line_failure(run_cli("render", str(deep), env=env))


def test_offline_unless_enrich_is_given(env: dict[str, str]) -> None:
    with ProbeServer(token="t") as prometheus:
        env["RUNBOOK_ROUTER_PROMETHEUS_URL"] = prometheus.url
        offline = run_cli("render", str(FIXTURES / "firing.json"), env=env)
        assert offline.code == 0, offline.stderr
        assert prometheus.paths == []
        assert "enrichment off" in offline.stdout
        enriched = run_cli("render", str(FIXTURES / "firing.json"), "--enrich", env=env)
        assert enriched.code == 0, enriched.stderr
        assert any(p.startswith("/api/v1/query?") for p in prometheus.paths), prometheus.paths
        assert "enrichment off" not in enriched.stdout


def test_a_file_that_is_not_utf8_is_one_line(env: dict[str, str], tmp_path: Path) -> None:
    bom = tmp_path / "utf16.json"
    bom.write_bytes(b"\xff\xfe")
    line = one_line_failure(run_cli("render", str(bom), env=env))
    assert f"{bom}: not UTF-8 text" in line
    assert "byte 0xff at offset 0" in line
    value = tmp_path / "latin1.json"
    value.write_bytes(b'{"labels": {"alertname": "caf\xe9", "x": "\xff"}}')
    line = one_line_failure(run_cli("render", str(value), env=env))
    assert "byte 0xe9 at offset 29" in line
    piped = subprocess.run(
        [sys.executable, "-m", "app", "render", "-"],
        input=b"\xff",
        env=env,
        cwd=ROOT,
        capture_output=True,
        check=False,
        timeout=60,
    )
    stderr = piped.stderr.decode()
    assert piped.returncode == 1, stderr
    assert stderr.startswith("error: stdin: not UTF-8 text"), stderr
    assert len(stderr.splitlines()) == 1, stderr


def test_a_folder_is_not_a_file(env: dict[str, str], tmp_path: Path) -> None:
    line = one_line_failure(run_cli("render", str(tmp_path), env=env), code=2)
    assert f"{tmp_path}: is a directory" in line


def test_a_label_that_is_not_utf8_is_a_usage_error(env: dict[str, str]) -> None:
    # "\udcff" is how Python spells the byte 0xff of a command line that is not UTF-8
    line = one_line_failure(run_cli("render", "--label", "alertname=a\udcffb", env=env), code=2)
    assert "--label: not UTF-8 text" in line
