"""Problems of the escalation setup, for start-up, ``runbook-router check`` and the board.

* ``channel_errors``: a channel variable that is set but holds no usable URL; the service
  refuses to start with it (a typo would otherwise send nothing, or fail every message).
* ``warnings``: disabled channels and runbooks naming an unknown policy (the service runs).
* ``unreachable_steps``: policy steps none of whose channels can send; the board shows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from app.classification.catalog import Catalog
from app.config import AppConfig
from app.durations import format_duration
from app.escalation.channels import disabled_reason, url_problem
from app.escalation.config import EmailChannel, Policy, Step


def channel_errors(config: AppConfig, environ: Mapping[str, str], *, source: Path) -> list[str]:
    """``<file>: channel '<name>': <VARIABLE> <what is wrong>`` for each unusable URL."""
    problems = []
    for name, channel in sorted(config.channels.items()):
        if isinstance(channel, EmailChannel):
            continue
        url = environ.get(channel.url_env, "").strip()
        problem = url_problem(url) if url else None
        if problem is not None:
            problems.append(
                f"{source}: channel {name!r}: {channel.url_env} {problem}; "
                f"set it to the channel's http(s) URL, or unset it to disable the channel"
            )
    return problems


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


def _steps(policy: Policy) -> list[tuple[str, Step]]:
    named = [
        (f"step {i} (after {format_duration(s.after)})", s) for i, s in enumerate(policy.steps, 1)
    ]
    return named + ([("final step", policy.final)] if policy.final else [])


def unreachable_steps(config: AppConfig, disabled: Mapping[str, str]) -> list[str]:
    """Each policy step whose channels are all disabled: ``<policy> <step>: <channel> — why``."""
    found = []
    for name, policy in sorted(config.escalation.items()):
        for label, step in _steps(policy):
            if all(channel in disabled for channel in step.notify):
                why = ", ".join(
                    f"{c} — {disabled[c].removeprefix('disabled: ')}" for c in step.notify
                )
                found.append(f"{name} {label}: {why}")
    return found
