"""Escalation timing, recipients and the path text: pure functions over a policy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from app.config import load_config
from app.errors import ConfigError
from app.escalation import policy
from app.escalation.config import Notifications, NotifyEvent, Policy
from app.escalation.outbox import backoff
from tests.conftest import ROOT

T0 = datetime(2026, 11, 28, 11, 0, tzinfo=UTC)


def make(**raw: object) -> Policy:
    base: dict[str, object] = {
        "steps": [
            {"after": "0s", "notify": ["primary"]},
            {"after": "10m", "notify": ["secondary"]},
            {"after": "30m", "notify": ["lead"]},
        ]
    }
    return Policy.model_validate(base | raw)


def offsets(p: Policy) -> list[tuple[int, int, int, tuple[str, ...]]]:
    return [
        (int(lv.offset.total_seconds() // 60), lv.level, lv.cycle, lv.channels)
        for lv in policy.schedule(p)
    ]


def test_schedule_unrolls_repeats_and_the_final_step() -> None:
    p = make(repeat=1, repeat_every="1h", final={"after": "15m", "notify": ["director"]})
    assert offsets(p) == [
        (0, 1, 0, ("primary",)),
        (10, 2, 0, ("secondary",)),
        (30, 3, 0, ("lead",)),
        (60, 1, 1, ("primary",)),
        (70, 2, 1, ("secondary",)),
        (90, 3, 1, ("lead",)),
        (105, 4, 1, ("director",)),
    ]
    rules = [lv.rule for lv in policy.schedule(p)]
    assert rules == ["ESCALATE-1"] * 3 + ["ESCALATE-2"] * 3 + ["ESCALATE-3"]


def test_default_repeat_period_is_the_last_step_plus_its_gap() -> None:
    assert make(repeat=2).period == timedelta(minutes=50)
    assert [o[0] for o in offsets(make(repeat=2))] == [0, 10, 30, 50, 60, 80, 100, 110, 130]


@pytest.mark.parametrize(
    ("minutes", "sent", "due_levels"),
    [
        (0, 0, [1]),
        (9, 1, []),
        (10, 1, [2]),  # exactly at the step's time
        (29, 2, []),
        (45, 1, [2, 3]),  # the worker was down: nothing is lost, in order
        (45, 3, []),  # nothing is repeated
        (600, 3, []),  # the schedule is done
    ],
)
def test_due_levels(minutes: int, sent: int, due_levels: list[int]) -> None:
    now = T0 + timedelta(minutes=minutes)
    levels = policy.due(make(), started_at=T0, sent=sent, now=now)
    assert [lv.level for lv in levels] == due_levels


def test_nothing_is_due_once_acknowledged() -> None:
    now = T0 + timedelta(hours=1)
    assert policy.due(make(), started_at=T0, sent=0, now=now, acknowledged=True) == ()


def test_next_at_follows_the_schedule() -> None:
    p = make()
    assert policy.next_at(p, started_at=T0, sent=0) == T0
    assert policy.next_at(p, started_at=T0, sent=1) == T0 + timedelta(minutes=10)
    assert policy.next_at(p, started_at=T0, sent=3) is None


def test_path_as_text_and_data() -> None:
    titles = {"primary": "primary", "secondary": "secondary", "lead": "team lead"}
    path = policy.describe("default", make(), titles)
    assert path.text == "now: primary; in 10 min: secondary; in 30 min: team lead"
    assert [(s.offset_seconds, s.when, s.channels) for s in path.steps] == [
        (0, "now", ("primary",)),
        (600, "in 10 min", ("secondary",)),
        (1800, "in 30 min", ("lead",)),
    ]
    assert path.as_dict()["policy"] == "default"
    assert path.as_dict()["steps"][2]["titles"] == ("team lead",)


def test_path_text_names_repeats_and_the_final_step() -> None:
    p = make(repeat=2, repeat_every="1h30m", final={"after": "45s", "notify": ["lead"]})
    text = policy.describe("p", p).text
    assert text == (
        "now: primary; in 10 min: secondary; in 30 min: lead; repeated 2 times every "
        "1 h 30 min; finally in 3 h 30 min 45 s: lead"
    )


def test_path_for_uses_channel_titles_from_the_shipped_config() -> None:
    config = load_config(ROOT / "config" / "runbook-router.yaml")
    path = policy.path_for(config, "default")
    assert path is not None
    assert path.text.startswith("now: team chat; in 10 min: primary on-call")
    assert policy.path_for(config, "missing") is None


def test_open_message_skips_channels_an_immediate_step_pages() -> None:
    p = make(notify=["primary", "chat"])
    assert policy.recipients(p, NotifyEvent.OPEN, paging_at_open=True) == ("chat",)
    assert policy.recipients(p, NotifyEvent.OPEN, paging_at_open=False) == ("primary", "chat")


def test_ack_and_resolve_reach_everyone_paged_so_far() -> None:
    p = make()
    got = policy.recipients(p, NotifyEvent.ACK, paged={"lead", "secondary", "primary"})
    assert got == ("primary", "lead", "secondary")
    assert policy.recipients(make(notify_on=["open"]), NotifyEvent.RESOLVE, paged={"x"}) == ()


def test_backoff_doubles_and_is_capped() -> None:
    rules = Notifications(backoff=timedelta(seconds=30), max_backoff=timedelta(minutes=5))
    waits = [backoff(n, rules).total_seconds() for n in range(1, 7)]
    assert waits == [30, 60, 120, 240, 300, 300]


@pytest.mark.parametrize(
    ("escalation", "message"),
    [
        ({"p": {"steps": [{"after": "0s", "notify": ["nope"]}]}}, r"unknown channel\(s\) nope"),
        (
            {"p": {"steps": [{"after": "10m", "notify": ["c"]}, {"after": "1m", "notify": ["c"]}]}},
            "ascending order",
        ),
        ({"p": {"steps": [{"after": "0s", "notify": ["c"]}], "repeat": 1}}, "repeat_every"),
        ({"p": {"steps": [{"after": "0s", "notify": ["c"]}], "notify_on": ["page"]}}, "notify_on"),
        ({"p": {"steps": []}}, "steps"),
    ],
)
def test_bad_policies_are_config_errors(
    tmp_path: Path, escalation: dict[str, object], message: str
) -> None:
    raw = {"channels": {"c": {"type": "webhook", "url_env": "C_URL"}}, "escalation": escalation}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_channel_types_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"channels": {"x": {"type": "pager", "url_env": "X"}}}))
    with pytest.raises(ConfigError, match=r"channels\.x"):
        load_config(path)
    path.write_text(
        yaml.safe_dump({"channels": {"m": {"type": "email", "to": [], "smtp_host": "h"}}})
    )
    with pytest.raises(ConfigError, match=r"channels\.m\.email\.to"):
        load_config(path)
