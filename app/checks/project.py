"""Run every check over one project: configuration, catalog, alert rules, dashboards.

The rule and dashboard folders are optional (the container image ships neither): a folder
that is not there is skipped with a note. A configuration file named on the command line
must exist; the default one may be absent (all defaults).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from app.checks import Report
from app.checks.catalog import check_catalog
from app.checks.dashboards import check_dashboards
from app.checks.rules import check_rules
from app.classification.catalog import load_catalog
from app.config import AppConfig, load_config
from app.errors import ConfigError
from app.escalation.checks import channel_errors
from app.escalation.checks import warnings as escalation_warnings
from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Paths:
    catalog_dir: Path
    config: Path
    config_required: bool
    rules_dir: Path
    dashboards_dir: Path


def check_project(*, paths: Paths, settings: Settings, now: datetime) -> Report:
    report = Report()
    config = _check_config(paths, report)
    runbooks, catalog_report = check_catalog(
        paths.catalog_dir, config=config or AppConfig(), settings=settings, now=now
    )
    report.extend(catalog_report)
    if config is not None and not catalog_report.problems:
        catalog = load_catalog(paths.catalog_dir)  # loads: the same checks just passed
        report.warnings += escalation_warnings(config, catalog, os.environ)
    if _present(paths.rules_dir, "alert rules", report):
        report.extend(
            check_rules(paths.rules_dir, classes=runbooks, promtool=shutil.which("promtool"))
        )
    if _present(paths.dashboards_dir, "dashboards", report):
        report.extend(check_dashboards(paths.dashboards_dir))
    return report


def _check_config(paths: Paths, report: Report) -> AppConfig | None:
    if not paths.config.exists():
        if paths.config_required:
            report.problem(paths.config, None, "configuration file not found")
            return None
        report.notes.append(f"config: {paths.config} not found, using the defaults")
        return AppConfig()
    try:
        config = load_config(paths.config)
    except ConfigError as err:
        report.problems += err.message.splitlines()
        return None
    channels = channel_errors(config, os.environ, source=paths.config)
    report.problems += channels
    report.notes.append("config: ok" if not channels else "config: unusable channel URLs")
    return config


def _present(directory: Path, what: str, report: Report) -> bool:
    if directory.is_dir():
        return True
    report.notes.append(f"{what}: {directory} not found, skipped")
    return False
