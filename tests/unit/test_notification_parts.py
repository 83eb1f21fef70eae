"""Pure parts of notifications and post-mortems: messages, Slack text, channel secrets,
post-mortem rules and review transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from app.classification.catalog import load_catalog
from app.config import load_config
from app.errors import InvalidTransition
from app.escalation import policy
from app.escalation.channels import disabled_reason, slack_body
from app.escalation.checks import warnings
from app.escalation.config import EmailChannel, Policy, SlackChannel, WebhookChannel
from app.escalation.messages import IncidentView, Kind, compose
from app.escalation.outbox import Outgoing
from app.postmortems.models import TRANSITIONS, PostmortemStatus, transition
from app.postmortems.service import required
from tests.conftest import ROOT

T0 = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)
VIEW = IncidentView(
    id=7,
    title="Workflow API returns <500>",
    status="triggered",
    severity="critical",
    team="platform",
    runbook_class="workflow-500",
    started_at=T0,
    acknowledged_at=None,
    acknowledged_by=None,
    resolved_at=T0 + timedelta(minutes=65),
    resolved_by="ana",
    url="https://rr.test/incidents/7",
    runbook_url="https://rr.test/runbooks/workflow-500?alertname=W",
)
POLICY = Policy.model_validate(
    {"steps": [{"after": "0s", "notify": ["a"]}, {"after": "10m", "notify": ["b"]}]}
)


def test_messages_say_what_happened() -> None:
    first, second = policy.schedule(POLICY)
    assert compose(Kind.ESCALATION, VIEW, level=first).subject.startswith("Incident #7 opened:")
    escalation = compose(Kind.ESCALATION, VIEW, level=second)
    assert escalation.subject == (
        "Incident #7 unacknowledged for 10 min (level 2): Workflow API returns <500>"
    )
    assert escalation.level == 2
    assert escalation.payload["incident"]["started_at"] == "2026-11-28T11:00:00+00:00"
    assert "Acknowledge: https://rr.test/incidents/7" in escalation.text
    reopened = compose(Kind.OPEN, VIEW, reopened=True)
    assert reopened.subject.startswith("Incident #7 reopened")
    resolved = compose(Kind.RESOLVE, VIEW, actor="ana")
    assert resolved.subject.startswith("Incident #7 resolved by ana after 1 h 5 min")
    assert "Incident: https://rr.test/incidents/7" in resolved.text
    assert compose(Kind.ACK, VIEW, actor="bo").subject.startswith("Incident #7 acknowledged by bo")


def test_slack_text_escapes_the_title_and_links_runbook_and_ack() -> None:
    message = compose(Kind.OPEN, VIEW)
    out = Outgoing(1, "k", "chat", "open", message.subject, message.text, message.payload, 1)
    assert slack_body(out) == {
        "text": "Incident #7 opened: Workflow API returns &lt;500&gt;\n"
        "<https://rr.test/runbooks/workflow-500?alertname=W|Runbook> · "
        "<https://rr.test/incidents/7|Acknowledge>"
    }


@pytest.mark.parametrize(
    ("channel", "environ", "reason"),
    [
        (WebhookChannel(type="webhook", url_env="U"), {}, "U is unset"),
        (WebhookChannel(type="webhook", url_env="U"), {"U": " "}, "U is unset"),
        # A set variable that holds no http(s) URL is a configuration error, not "disabled":
        # tests/unit/test_channel_safety.py.
        (SlackChannel(type="slack", url_env="U"), {"U": "file:///etc/passwd"}, None),
        (SlackChannel(type="slack", url_env="U"), {"U": "https://hooks.example/x"}, None),
        (
            EmailChannel(type="email", to=["a@b.c"], smtp_host="h", password_env="P"),
            {},
            "P is unset",
        ),
        (EmailChannel(type="email", to=["a@b.c"], smtp_host="h"), {}, None),
    ],
)
def test_a_channel_without_its_secret_is_disabled(
    channel: WebhookChannel | SlackChannel | EmailChannel,
    environ: dict[str, str],
    reason: str | None,
) -> None:
    got = disabled_reason(channel, environ)
    if reason is None:
        assert got is None
    else:
        assert got is not None
        assert reason in got


@pytest.mark.parametrize(
    ("severity", "required_for", "expected"),
    [
        ("critical", ["critical"], True),
        ("Critical ", ["critical"], True),
        ("warning", ["critical"], False),
        ("warning", ["critical", "warning"], True),
        ("", ["critical"], False),
        ("critical", [], False),
    ],
)
def test_postmortem_required_for(severity: str, required_for: list[str], expected: bool) -> None:
    assert required(severity=severity, required_for=required_for) is expected


@pytest.mark.parametrize("current", list(PostmortemStatus))
@pytest.mark.parametrize("target", list(PostmortemStatus))
def test_every_review_transition(current: PostmortemStatus, target: PostmortemStatus) -> None:
    if (current, target) in TRANSITIONS:
        assert transition(current, target).startswith("PM-")
    else:
        with pytest.raises(InvalidTransition) as caught:
            transition(current, target)
        assert caught.value.current == current.value


def test_check_warns_about_disabled_channels_and_unknown_policies() -> None:
    config = load_config(ROOT / "config" / "runbook-router.yaml")
    catalog = load_catalog(ROOT / "runbook_templates")
    environ = {"SLACK_WEBHOOK_URL": "https://hooks.example/x"}
    found = warnings(config, catalog, environ)
    assert (
        "channel 'oncall-primary' disabled: environment variable ONCALL_PRIMARY_URL is unset"
        in found
    )
    assert not any("team-chat" in w for w in found)
    only_other = config.model_copy(update={"escalation": {"other": config.escalation["default"]}})
    unknown = [w for w in warnings(only_other, catalog, environ) if "policy 'default'" in w]
    assert len(unknown) == len(catalog.runbooks)
    assert "it will not escalate" in unknown[0]
