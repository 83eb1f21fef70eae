"""Helpers for runbook page tests: a private catalog, HTML inspection, metric samples."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from app.settings import Settings
from tests.conftest import ADMIN_TOKEN, INGEST_TOKEN

GENERIC = """---
class: generic
title: Generic fallback
checklist:
  - {id: look-around, text: "Look around"}
---
# {{ title }}

{% for k, v in labels | dictsort %}- {{ k | md }}: {{ v | md }}
{% endfor %}
"""


def write_catalog(directory: Path, runbooks: dict[str, str]) -> Path:
    """``<name>.md.j2`` for each entry (full file text), plus a ``generic`` fallback."""
    directory.mkdir(parents=True, exist_ok=True)
    files = {"generic": GENERIC, **runbooks}
    for name, text in files.items():
        (directory / f"{name}.md.j2").write_text(text, encoding="utf-8")
    return directory


def write_config(path: Path, config: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def private_settings(
    *, database_url: str, tmp_path: Path, catalog: Path, config: Path, **extra: Any
) -> Settings:
    """Our tokens, a private catalog and config file; ``extra`` for other settings.

    The URL overrides default to None so that the config file decides, whatever the
    environment holds.
    """
    urls = {"prometheus_url": None, "grafana_url": None, "alertmanager_url": None}
    return Settings(
        **{**urls, **extra},
        database_url=database_url,
        webhook_tokens=INGEST_TOKEN,
        admin_token=ADMIN_TOKEN,
        catalog_dir=catalog,
        config=config,
        data_dir=tmp_path / "data",
        log_format="console",
        public_url="https://rr.example.com",
    )


class Page(HTMLParser):
    """Every start tag with its attributes, links (href, text), and the visible text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._link_text: list[str] = []
        self._text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._link_text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._link_text).strip()))
            self._href = None

    def handle_data(self, data: str) -> None:
        self._text.append(data)
        if self._href is not None:
            self._link_text.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())

    @property
    def tag_names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def attribute_names(self) -> set[str]:
        return {name for _, attrs in self.tags for name in attrs}

    def link(self, text: str) -> str:
        """The href of the one link whose text is ``text``."""
        found = [href for href, label in self.links if label == text]
        assert len(found) == 1, f"links named {text!r}: {found} (all: {self.links})"
        return found[0]

    def has_link(self, text: str) -> bool:
        return any(label == text for _, label in self.links)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))
