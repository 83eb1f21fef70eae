"""Prometheus alert rules (``alert_rules/*.yml``): YAML, shape, runbook links, promtool.

An alerting rule needs ``expr``, ``labels`` and ``annotations``, and its ``runbook_url`` must
link to ``/runbooks/<class>`` of a runbook in the catalog. When ``promtool`` is on the PATH
it checks the files too (PromQL, templates); its findings are reported per file and line.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Collection
from pathlib import Path
from typing import Any

import yaml

from app.checks import Report
from app.yaml_lines import YamlPath, key_lines

RUNBOOK_ROUTE = re.compile(r"/runbooks/([^/?#\s'\"{}]+)")
PROMTOOL_TIMEOUT = 60
_AT = re.compile(r"^(?P<file>.+?): (?:(?P<line>\d+):\d+: )?(?P<message>.*)$")
_YAML_LINE = re.compile(r"^\s+line (?P<line>\d+): (?P<message>.*)$")


def check_rules(directory: Path, *, classes: Collection[str], promtool: str | None) -> Report:
    """Every ``*.yml``/``*.yaml`` directly in ``directory`` (``tests/`` is promtool's)."""
    report = Report()
    files = sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")])
    parsed, rules = [], 0
    for path in files:
        count = _check_file(path, classes, report)
        if count is not None:
            parsed.append(path)
            rules += count
    report.notes.append(f"alert rules: {rules} rules in {len(parsed)} files")
    if promtool and parsed:
        _promtool(promtool, parsed, report)
    elif parsed:
        report.notes.append("alert rules: promtool not on PATH, PromQL not checked")
    return report


def _check_file(path: Path, classes: Collection[str], report: Report) -> int | None:
    """The number of rules in the file, or None if it is not YAML."""
    text = path.read_text(encoding="utf-8")
    try:
        lines = key_lines(text)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        report.problem(path, line, f"not valid YAML: {getattr(err, 'problem', None) or err}")
        return None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list):
        report.problem(path, 1, "a rule file is a mapping with a 'groups' list")
        return 0
    count = 0
    for g, group in enumerate(groups):
        rules = group.get("rules") if isinstance(group, dict) else None
        if not isinstance(rules, list):
            report.problem(path, lines.get(("groups", g)), "a group needs a 'rules' list")
            continue
        for r, rule in enumerate(rules):
            where = ("groups", g, "rules", r)
            _check_rule(path, lines, where, rule, classes, report)
            count += 1
    return count


def _check_rule(
    path: Path,
    lines: dict[YamlPath, int],
    where: YamlPath,
    rule: Any,
    classes: Collection[str],
    report: Report,
) -> None:
    line = lines.get(where)
    if not isinstance(rule, dict) or not ("alert" in rule or "record" in rule):
        report.problem(path, line, "a rule needs 'alert' or 'record'")
        return
    name = f"rule {rule.get('alert') or rule.get('record')}"
    needed = ("expr", "labels", "annotations") if "alert" in rule else ("expr",)
    for key in needed:
        if not rule.get(key):
            report.problem(path, line, f"{name}: no {key}")
    annotations = rule.get("annotations")
    if "alert" not in rule or not isinstance(annotations, dict):
        return
    url = annotations.get("runbook_url")
    url_line = lines.get((*where, "annotations", "runbook_url"), line)
    route = RUNBOOK_ROUTE.search(url) if isinstance(url, str) else None
    if route is None:
        report.problem(path, url_line, f"{name}: runbook_url must link to /runbooks/<class>")
    elif route.group(1) not in classes:
        known = ", ".join(sorted(classes)) or "none"
        report.problem(
            path,
            url_line,
            f"{name}: runbook_url names unknown runbook class {route.group(1)!r} (known: {known})",
        )


def _promtool(promtool: str, files: list[Path], report: Report) -> None:
    try:
        done = subprocess.run(  # noqa: S603 (promtool from PATH, our own file names)
            [promtool, "check", "rules", *map(str, files)],
            capture_output=True,
            text=True,
            timeout=PROMTOOL_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        report.warnings.append(f"promtool could not run: {err}")
        return
    report.notes.append(
        "alert rules: promtool check rules " + ("ok" if done.returncode == 0 else "failed")
    )
    if done.returncode != 0:
        for file, line, message in promtool_findings(done.stdout + done.stderr, files):
            report.problem(file, line, f"promtool: {message}")


def promtool_findings(output: str, files: list[Path]) -> list[tuple[str, int | None, str]]:
    """``(file, line, message)`` from ``promtool check rules`` output."""
    names = {str(f) for f in files}
    found: list[tuple[str, int | None, str]] = []
    current: str | None = None
    for raw in output.splitlines():
        at, nested = _AT.match(raw), _YAML_LINE.match(raw)
        if at and at.group("file") in names:
            current = at.group("file")
            line = int(at.group("line")) if at.group("line") else None
            if not at.group("message").endswith(":"):
                found.append((current, line, at.group("message")))
        elif nested and current:
            found.append((current, int(nested.group("line")), nested.group("message")))
    return found
