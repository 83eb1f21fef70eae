"""Labels to runbook class: the override, then matchers by priority, then ``generic``."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from app.classification.catalog import GENERIC, Catalog
from app.classification.matchers import matches_all

log = logging.getLogger(__name__)

OVERRIDE = "runbook_class"


class Reason(StrEnum):
    LABEL_OVERRIDE = "label_override"
    ANNOTATION_OVERRIDE = "annotation_override"
    MATCHER = "matcher"
    FALLBACK = "fallback"


@dataclass(frozen=True, slots=True)
class Decision:
    runbook_class: str
    reason: Reason
    matcher: str = ""

    @property
    def covered(self) -> bool:
        return self.runbook_class != GENERIC


def classify(
    catalog: Catalog, labels: Mapping[str, str], annotations: Mapping[str, str]
) -> Decision:
    """Pick the runbook class for one alert (pure; the caller logs the decision)."""
    if labels.get(OVERRIDE) in catalog.runbooks:
        return Decision(labels[OVERRIDE], Reason.LABEL_OVERRIDE, f'{OVERRIDE}="{labels[OVERRIDE]}"')
    if annotations.get(OVERRIDE) in catalog.runbooks:
        name = annotations[OVERRIDE]
        return Decision(name, Reason.ANNOTATION_OVERRIDE, f'annotation {OVERRIDE}="{name}"')
    for runbook in catalog.ordered:
        for matcher_set in runbook.matcher_sets:
            if matches_all(matcher_set, labels):
                text = "{" + ", ".join(str(m) for m in matcher_set) + "}"
                return Decision(runbook.name, Reason.MATCHER, text)
    return Decision(GENERIC, Reason.FALLBACK)


class Classifier:
    """``classify`` for one catalog, memoised on the only inputs it reads.

    Those are the override label and annotation and the labels the catalog's matchers name
    (a missing label matches as ""), so the memo is exact however many label sets there are;
    it is emptied when it reaches ``size`` entries.
    """

    def __init__(self, catalog: Catalog, *, size: int = 10_000) -> None:
        self.catalog = catalog
        self._names = sorted(
            {m.name for runbook in catalog.ordered for ms in runbook.matcher_sets for m in ms}
        )
        self._size = size
        self._memo: dict[tuple[str | None, ...], Decision] = {}

    def __call__(self, labels: Mapping[str, str], annotations: Mapping[str, str]) -> Decision:
        key = (
            labels.get(OVERRIDE),
            annotations.get(OVERRIDE),
            *(labels.get(name, "") for name in self._names),
        )
        decision = self._memo.get(key)
        if decision is None:
            decision = classify(self.catalog, labels, annotations)
            if len(self._memo) >= self._size:
                self._memo.clear()
            self._memo[key] = decision
        return decision
