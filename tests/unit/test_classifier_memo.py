"""The memoised ``Classifier`` decides exactly what ``classify`` decides, whatever the labels."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.classification import classifier as classifier_module
from app.classification.catalog import Catalog, load_catalog
from app.classification.classifier import OVERRIDE, Classifier, Decision, classify
from tests.conftest import ROOT

SHIPPED = load_catalog(ROOT / "runbook_templates")


def _custom_catalog(folder: Path) -> Catalog:
    """Negative matchers (a missing label matches ``!=``), a matcher on the override label
    itself, and one runbook that needs two labels."""
    runbooks = {
        "generic": "",
        "not-prod": 'priority: 5\nmatch: [\'{env!="prod", team="db"}\']\n',
        "no-service": "priority: 6\nmatch: ['{service!~\".+\"}']\n",
        "self-named": "priority: 7\nmatch: ['{runbook_class=~\"self.*\"}']\n",
        "workflow-500": "priority: 8\nmatch: ['{alertname=\"Workflow500\"}']\n",
    }
    for name, front in runbooks.items():
        (folder / f"{name}.md.j2").write_text(f"---\nclass: {name}\ntitle: T\n{front}---\nbody\n")
    return load_catalog(folder)


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    return _custom_catalog(tmp_path_factory.mktemp("catalog"))


def _names_and_values(catalog: Catalog) -> tuple[list[str], list[str]]:
    matchers = [m for r in catalog.ordered for ms in r.matcher_sets for m in ms]
    return sorted({m.name for m in matchers}), sorted({m.value for m in matchers})


NAMES = sorted({*_names_and_values(SHIPPED)[0], "env", "team", "service", "severity"})
VALUES = sorted(
    {
        *_names_and_values(SHIPPED)[1],
        "",
        "Workflow500",
        "Workflow503",
        "Workflow5",
        "workflow500",
        "PdfNotFound",
        "QueueBacklog",
        "QueueConsumerDown",
        "QueueBacklogX",
        "StoragePermissionDenied",
        "workflow-api",
        "workflow-",
        "api-workflow",
        "prod",
        "db",
        "selfish",
    }
)
CLASSES = sorted({*SHIPPED.runbooks, "not-prod", "no-service", "self-named", "nope", ""})

label_name = st.one_of(
    st.sampled_from(NAMES), st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True)
)
label_value = st.one_of(st.sampled_from(VALUES), st.text(max_size=12))
override = st.one_of(st.sampled_from(CLASSES), st.text(max_size=12))


@st.composite
def label_sets(draw: st.DrawFn) -> tuple[dict[str, str], dict[str, str]]:
    """Labels drawn mostly from what the matchers name and match, sometimes with the override
    label or annotation (valid class or not); any label may be missing."""
    labels = draw(st.dictionaries(label_name, label_value, max_size=5))
    ann = draw(st.dictionaries(st.sampled_from(["summary", "runbook"]), st.text()))
    if draw(st.booleans()):
        labels[OVERRIDE] = draw(override)
    if draw(st.booleans()):
        ann[OVERRIDE] = draw(override)
    return labels, ann


# One memo per catalog for the whole run: later examples are answered from entries that
# earlier ones left, which is where a key that misses an input would show.
LONG_LIVED = {"shipped": Classifier(SHIPPED)}


@settings(max_examples=400)
@given(case=label_sets())
def test_classifier_equals_classify_on_the_shipped_catalog(
    case: tuple[dict[str, str], dict[str, str]],
) -> None:
    labels, ann = case
    expected = classify(SHIPPED, labels, ann)
    assert LONG_LIVED["shipped"](labels, ann) == expected
    assert LONG_LIVED["shipped"](labels, ann) == expected  # the memoised answer


@settings(max_examples=400)
@given(case=label_sets())
def test_classifier_equals_classify_on_a_catalog_with_negative_matchers(
    custom: Catalog, case: tuple[dict[str, str], dict[str, str]]
) -> None:
    memo = LONG_LIVED.setdefault("custom", Classifier(custom))
    labels, ann = case
    expected = classify(custom, labels, ann)
    assert memo(labels, ann) == expected
    assert memo(labels, ann) == expected


def test_missing_and_empty_labels_are_told_apart_only_where_classify_does(custom: Catalog) -> None:
    memo = Classifier(custom)
    for labels in (
        {},
        {"service": ""},
        {"service": "x"},
        {"team": "db"},
        {"team": "db", "env": ""},
    ):
        assert memo(labels, {}) == classify(custom, labels, {}), labels
    assert memo({"service": "x"}, {}).runbook_class == "generic"
    assert memo({}, {}).runbook_class == "no-service"


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[Mapping[str, str]]:
    calls: list[Mapping[str, str]] = []
    real = classifier_module.classify

    def counted(catalog: Catalog, labels: Mapping[str, str], ann: Mapping[str, str]) -> Decision:
        calls.append(labels)
        return real(catalog, labels, ann)

    monkeypatch.setattr(classifier_module, "classify", counted)
    return calls


def test_repeats_are_answered_from_the_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    memo = Classifier(SHIPPED)
    first = memo({"alertname": "Workflow500", "pod": "a"}, {"summary": "x"})
    # Labels no matcher reads and other annotations do not change the decision: same entry.
    again = memo({"alertname": "Workflow500", "pod": "b"}, {"summary": "y"})
    assert first == again == classify(SHIPPED, {"alertname": "Workflow500"}, {})
    assert len(calls) == 1


@settings(max_examples=60)
@given(cases=st.lists(label_sets(), min_size=1, max_size=40))
def test_the_memo_stays_bounded_and_correct_after_it_is_emptied(
    cases: list[tuple[dict[str, str], dict[str, str]]],
) -> None:
    size = 3
    memo = Classifier(SHIPPED, size=size)
    for labels, ann in cases * 2:  # the second pass after the memo was emptied
        assert memo(labels, ann) == classify(SHIPPED, labels, ann)
        assert len(memo._memo) <= size


def test_a_full_memo_is_emptied_then_refilled(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch)
    memo = Classifier(SHIPPED, size=2)
    names = ["Workflow500", "PdfNotFound", "QueueBacklog"]
    for name in names:
        memo({"alertname": name}, {})
    assert len(calls) == 3
    assert len(memo._memo) == 1  # full at two: emptied before the third was kept
    assert memo({"alertname": "QueueBacklog"}, {}).runbook_class == "queue-failure"
    assert len(calls) == 3  # the one kept after emptying is still answered from the memo
    assert memo({"alertname": "Workflow500"}, {}).runbook_class == "workflow-500"
    assert len(calls) == 4  # forgotten when the memo was emptied: computed again
