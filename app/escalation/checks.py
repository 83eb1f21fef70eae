"""Problems that disable part of escalation without stopping the service (start-up, check)."""

from __future__ import annotations

from collections.abc import Mapping

from app.classification.catalog import Catalog
from app.config import AppConfig
from app.escalation.channels import disabled_reason


def warnings(config: AppConfig, catalog: Catalog, environ: Mapping[str, str]) -> list[str]:
    """Disabled channels and runbooks that name an unknown escalation policy."""
    problems = []
    for name, channel in sorted(config.channels.items()):
        reason = disabled_reason(channel, environ)
        if reason is not None:
            problems.append(f"channel {name!r} {reason}")
    if config.escalation:
        for runbook in sorted(catalog.runbooks.values(), key=lambda r: r.name):
            policy = runbook.meta.escalation
            if policy not in config.escalation:
                problems.append(
                    f"{runbook.path}: escalation policy {policy!r} is not in the config "
                    f"(known: {', '.join(sorted(config.escalation))}); it will not escalate"
                )
    return problems
