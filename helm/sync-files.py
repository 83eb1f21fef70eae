#!/usr/bin/env python3
"""Copy the files the Helm chart embeds into ``helm/runbook-router/files/``.

Helm can only read files inside a chart, so the chart keeps copies of

    alert_rules/*.yml            -> files/alert_rules/   (PrometheusRule)
    grafana/dashboards/*.json    -> files/dashboards/    (Grafana dashboards ConfigMap)
    config/runbook-router.yaml   -> files/config/        (configuration ConfigMap)
    runbook_templates/*          -> files/runbooks/      (runbooks ConfigMap)

Run it from anywhere after changing any of those sources:

    python3 helm/sync-files.py          # write the copies (removes stale ones)
    python3 helm/sync-files.py --check  # exit 1 and list the drift, write nothing

``tests/unit/test_helm.py`` fails with "run helm/sync-files.py" when the copies drift.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHART_FILES = ROOT / "helm" / "runbook-router" / "files"

# destination folder inside files/ -> (source folder, glob)
SOURCES: dict[str, tuple[str, str]] = {
    "alert_rules": ("alert_rules", "*.yml"),
    "dashboards": ("grafana/dashboards", "*.json"),
    "config": ("config", "runbook-router.yaml"),
    "runbooks": ("runbook_templates", "*.md.j2"),
}


def expected() -> dict[Path, bytes]:
    """Every file the chart should hold under files/, with its content."""
    wanted: dict[Path, bytes] = {}
    for dest, (source, pattern) in SOURCES.items():
        for path in sorted((ROOT / source).glob(pattern)):
            if path.is_file():
                wanted[CHART_FILES / dest / path.name] = path.read_bytes()
    return wanted


def drift() -> list[str]:
    """What differs between the sources and the chart's copies (empty when in sync)."""
    wanted = expected()
    problems = []
    for path, content in wanted.items():
        rel = path.relative_to(ROOT)
        if not path.exists():
            problems.append(f"missing {rel}")
        elif path.read_bytes() != content:
            problems.append(f"outdated {rel}")
    for dest in SOURCES:
        folder = CHART_FILES / dest
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path not in wanted:
                    problems.append(f"stale {path.relative_to(ROOT)}")
    return problems


def sync() -> list[str]:
    """Write the copies and delete stale ones; returns what changed."""
    changed = drift()
    wanted = expected()
    for dest in SOURCES:
        folder = CHART_FILES / dest
        folder.mkdir(parents=True, exist_ok=True)
        for path in folder.iterdir():
            if path not in wanted:
                path.unlink()
    for path, content in wanted.items():
        if not path.exists() or path.read_bytes() != content:
            path.write_bytes(content)
    return changed


def main(argv: list[str]) -> int:
    if argv[1:] == ["--check"]:
        problems = drift()
        for problem in problems:
            print(problem)
        if problems:
            print("chart copies drifted: run helm/sync-files.py")
        return 1 if problems else 0
    if argv[1:]:
        print(__doc__)
        return 2
    changed = sync()
    for line in changed:
        print(line)
    print(f"{len(changed)} file(s) updated under {CHART_FILES.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
