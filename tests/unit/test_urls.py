"""Links to our own pages: whatever the class and labels hold, they read back intact."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlsplit

from hypothesis import given
from hypothesis import strategies as st

from app.urls import incident_url, postmortem_url, postmortems_url, runbook_url

BASE = "https://rr.example.test/"
TEXT = st.text(min_size=1, max_size=20).filter(lambda s: "\x00" not in s)


@given(runbook_class=TEXT, labels=st.dictionaries(TEXT, st.text(max_size=20), max_size=5))
def test_a_runbook_url_reads_back_as_its_class_and_labels(
    runbook_class: str, labels: dict[str, str]
) -> None:
    parts = urlsplit(runbook_url(BASE, runbook_class, labels))
    assert (parts.scheme, parts.netloc, parts.fragment) == ("https", "rr.example.test", "")
    prefix, segment = parts.path.rsplit("/", 1)
    assert (prefix, unquote(segment)) == ("/runbooks", runbook_class)
    assert dict(parse_qsl(parts.query, keep_blank_values=True)) == labels


def test_the_same_labels_in_any_order_give_one_link() -> None:
    assert runbook_url(BASE, "x", {"b": "2", "a": "1"}) == runbook_url(
        BASE, "x", {"a": "1", "b": "2"}
    )


def test_no_labels_no_query_and_an_empty_base_gives_a_path() -> None:
    assert runbook_url(BASE, "workflow-500") == "https://rr.example.test/runbooks/workflow-500"
    assert runbook_url("", "workflow-500", {}) == "/runbooks/workflow-500"
    assert incident_url(BASE, 7) == "https://rr.example.test/incidents/7"
    assert postmortem_url("", 3) == "/postmortems/3"
    assert postmortems_url("", {"status": "draft", "before": "9"}) == (
        "/postmortems?before=9&status=draft"
    )
