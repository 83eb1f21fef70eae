"""The metric names ``/metrics`` exports, as PromQL spells them, without a running service."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from app.metrics.collectors import KpiFamilies
from app.metrics.instruments import create_instruments

# The sample a family of each type is queried by (histograms by their family name:
# ``app.checks.promql.metric_names`` strips ``_bucket``, ``_sum`` and ``_count``).
_SUFFIX = {"counter": "_total", "info": "_info"}


def exported_metric_names() -> frozenset[str]:
    """Every metric name of the process instruments and the KPI collector."""
    registry = CollectorRegistry()
    create_instruments(registry)
    return names_of([*registry.collect(), *KpiFamilies(classes=()).empty()])


def names_of(families: Iterable[Metric]) -> frozenset[str]:
    return frozenset(f.name + _SUFFIX.get(f.type, "") for f in families)
