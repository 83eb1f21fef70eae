"""The metric names a PromQL expression (or a Grafana ``label_values()`` query) reads.

Not a PromQL parser (promtool is, where installed): enough to tell which series a rule or a
dashboard query depends on, so ``runbook-router check`` can compare them with the metrics the
service exports.
"""

from __future__ import annotations

import re

_STRINGS = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_LABEL_LISTS = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_KEYWORDS = frozenset(
    {
        "and",
        "or",
        "unless",
        "atan2",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "offset",
        "bool",
        "inf",
        "nan",
    }
)
_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads.

    Strings, label matchers, grouping label lists, range and subquery brackets go first; then
    every identifier that is not a function call, a keyword, a number's part or a Grafana
    variable is a metric. ``_bucket``, ``_sum`` and ``_count`` are stripped, so a histogram
    counts under its family name. Names given only as ``{__name__="..."}`` are not seen.
    """
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        name, start, end = match.group(), match.start(), match.end()
        before = text[start - 1] if start else " "
        after = text[end:].lstrip()[:1]
        if before.isalnum() or before in "_.$" or after == "(" or name.lower() in _KEYWORDS:
            continue
        for suffix in _HISTOGRAM_SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        names.add(name)
    return names


_LABEL_VALUES = re.compile(r"\s*label_values\((.*),\s*\w+\s*\)\s*")


def variable_metric_names(query: str) -> set[str]:
    """The metric of ``label_values(metric, label)`` / ``label_values(metric{...}, label)``."""
    match = _LABEL_VALUES.fullmatch(query)
    return metric_names(match.group(1)) if match else set()
