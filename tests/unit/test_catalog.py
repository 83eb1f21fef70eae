"""Loading runbook front matter: the shipped catalog, and errors with file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.classification.catalog import GENERIC, load_catalog
from app.classification.classifier import Reason, classify
from app.errors import ConfigError
from tests.conftest import ROOT

SHIPPED = ["generic", "pdf-404", "queue-failure", "storage-permissions", "workflow-500"]

HEADER = "---\nclass: {name}\ntitle: T\n"


def write(folder: Path, name: str, front: str) -> Path:
    path = folder / f"{name}.md.j2"
    path.write_text(HEADER.format(name=name) + front + "---\nbody\n")
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write(tmp_path, GENERIC, "")
    (tmp_path / "_layout.md.j2").write_text("not a runbook")
    return tmp_path


def test_shipped_catalog_loads() -> None:
    catalog = load_catalog(ROOT / "runbook_templates")
    assert catalog.classes == SHIPPED
    assert [r.name for r in catalog.ordered] == [
        "workflow-500",
        "pdf-404",
        "queue-failure",
        "storage-permissions",
    ]


@pytest.mark.parametrize(
    ("alertname", "expected"),
    [
        ("Workflow500", "workflow-500"),
        ("PdfNotFound", "pdf-404"),
        ("QueueBacklog", "queue-failure"),
        ("QueueConsumerDown", "queue-failure"),
        ("StoragePermissionDenied", "storage-permissions"),
        ("QueueBacklogX", GENERIC),
        ("Unknown", GENERIC),
    ],
)
def test_shipped_alertnames_reach_their_runbook(alertname: str, expected: str) -> None:
    decision = classify(load_catalog(ROOT / "runbook_templates"), {"alertname": alertname}, {})
    assert decision.runbook_class == expected
    assert decision.covered == (expected != GENERIC)


def test_priority_then_name_orders_matching(folder: Path) -> None:
    write(folder, "b-late", "priority: 5\nmatch: ['{x=\"1\"}']\n")
    write(folder, "a-early", "priority: 5\nmatch: ['{x=~\"1|2\"}']\n")
    write(folder, "z-first", "priority: 1\nmatch: ['{x=\"2\"}']\n")
    catalog = load_catalog(folder)
    assert classify(catalog, {"x": "1"}, {}).runbook_class == "a-early"
    assert classify(catalog, {"x": "2"}, {}).runbook_class == "z-first"
    override = classify(catalog, {"x": "2"}, {"runbook_class": "b-late"})
    assert (override.runbook_class, override.reason) == ("b-late", Reason.ANNOTATION_OVERRIDE)
    unknown = classify(catalog, {"x": "3", "runbook_class": "nope"}, {})
    assert unknown.reason is Reason.FALLBACK


@pytest.mark.parametrize(
    ("front", "line", "message"),
    [
        ("colour: red\n", 4, "colour: unknown field"),
        ("priority: soon\n", 4, "priority"),
        ("match:\n  - '{a=\"b\"}'\n  - '{a=~\"(\"}'\n", 6, "match[1]"),
        ("checklist:\n  - {id: Bad Id, text: x}\n", 5, "checklist.0.id"),
        ("match: ['{}']\n", 4, "empty set would match every alert"),
    ],
)
def test_errors_name_file_and_line(folder: Path, front: str, line: int, message: str) -> None:
    path = write(folder, "broken", front)
    with pytest.raises(ConfigError) as info:
        load_catalog(folder)
    assert f"{path}:{line}:" in info.value.message
    assert message in info.value.message


def test_class_must_match_file_name(folder: Path) -> None:
    (folder / "mismatch.md.j2").write_text("---\nclass: other\ntitle: T\n---\n")
    with pytest.raises(ConfigError, match="must equal the file name"):
        load_catalog(folder)


def test_generic_is_required(tmp_path: Path) -> None:
    write(tmp_path, "only", "")
    with pytest.raises(ConfigError, match=r"no 'generic\.md\.j2' fallback"):
        load_catalog(tmp_path)


def test_unclosed_front_matter(folder: Path) -> None:
    (folder / "open.md.j2").write_text("---\nclass: open\n")
    with pytest.raises(ConfigError, match=r"open\.md\.j2:1: front matter is not closed"):
        load_catalog(folder)
