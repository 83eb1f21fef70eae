#!/usr/bin/env python3
"""Copy the files the Helm chart embeds into ``helm/runbook-router/files/``.

Helm can only read files inside a chart, so the chart keeps copies of

    alert_rules/*.yml            -> files/alert_rules/   (PrometheusRule)
    grafana/dashboards/*.json    -> files/dashboards/    (Grafana dashboards ConfigMap)
    config/runbook-router.yaml   -> files/config/        (configuration ConfigMap)
    runbook_templates/*          -> files/runbooks/      (runbooks ConfigMap)

The configuration's copy is the only one that differs from its source: its enrichment URLs
and probe targets are left out (enrichment disabled, with a note), because the shipped file
points them at 127.0.0.1, right for ``make run`` on a laptop, but inside a pod the pod itself.
The container image (Dockerfile) bakes in the same copy.

Run it from anywhere after changing any of those sources:

    python3 helm/sync-files.py          # write the copies (removes stale ones)
    python3 helm/sync-files.py --check  # exit 1 and list the drift, write nothing

``tests/unit/test_helm.py`` fails with "run helm/sync-files.py" when the copies drift.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
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


CLUSTER_NOTE = """\
# Enrichment is disabled in the Helm chart and the container image: the file in the
# repository points it at the loopback address, inside a pod the pod itself. Name your
# in-cluster Prometheus, Grafana and Alertmanager with the chart's enrichment.* values (or
# RUNBOOK_ROUTER_PROMETHEUS_URL, ...); probe targets and logs_url go into this file (the
# chart's config.content).
"""
# Keys of the enrichment block that name where to connect: left out of the cluster's copy.
_ENDPOINT = re.compile(r"^  (?:\w+_url|targets):")


def cluster_config(text: str) -> str:
    """The configuration without enrichment URLs and probe targets, with a note why."""
    out: list[str] = []
    block = dropping = False
    for line in text.splitlines(keepends=True):
        if line.startswith("enrichment:"):
            block = True
            out += [CLUSTER_NOTE, line]
            continue
        if block and line.strip() and not line.startswith(" "):
            block = False
        if block:
            if _ENDPOINT.match(line):
                dropping = True
                continue
            if dropping and line.startswith("   "):
                continue
            dropping = False
        out.append(line)
    return "".join(out)


# files/ path -> how the copy is made from its source (the rest are copied as they are)
TRANSFORMS: dict[str, Callable[[str], str]] = {"config/runbook-router.yaml": cluster_config}


def expected() -> dict[Path, bytes]:
    """Every file the chart should hold under files/, with its content."""
    wanted: dict[Path, bytes] = {}
    for dest, (source, pattern) in SOURCES.items():
        for path in sorted((ROOT / source).glob(pattern)):
            if path.is_file():
                transform = TRANSFORMS.get(f"{dest}/{path.name}")
                content = path.read_bytes()
                if transform is not None:
                    content = transform(content.decode()).encode()
                wanted[CHART_FILES / dest / path.name] = content
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
