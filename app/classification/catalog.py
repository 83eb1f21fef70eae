"""The runbook catalog: front matter of ``runbook_templates/<class>.md.j2``.

A runbook file is YAML front matter between ``---`` lines, then a Markdown+Jinja2 body.
Files starting with ``_`` are partials and layouts, not runbooks. Every problem is reported
as ``file:line: message`` so ``runbook-router check`` can point at it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.classification.matchers import Matcher, MatcherSyntaxError, parse_matchers
from app.errors import ConfigError
from app.yaml_lines import key_lines, line_of

GENERIC = "generic"
SUFFIX = ".md.j2"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChecklistItem(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    text: str


class PromQuery(_Strict):
    name: str
    query: str


class Probe(_Strict):
    name: str
    target: str
    path: str = Field(pattern=r"^/")
    expect_status: int = 200


class Enrich(_Strict):
    prometheus: list[PromQuery] = Field(default_factory=list)
    probes: list[Probe] = Field(default_factory=list)


class Link(_Strict):
    title: str
    url: str


class PostmortemRule(_Strict):
    required_for: list[str] | None = None


class FrontMatter(_Strict):
    class_: str = Field(alias="class")
    title: str
    team: str = ""
    severity: str = ""
    priority: int = 100
    match: list[str] = Field(default_factory=list)
    escalation: str = "default"
    checklist: list[ChecklistItem] = Field(default_factory=list)
    enrich: Enrich = Enrich()
    links: list[Link] = Field(default_factory=list)
    postmortem: PostmortemRule = PostmortemRule()
    last_reviewed: dt.date | None = None


@dataclass(frozen=True, slots=True)
class Runbook:
    """One runbook: its front matter, parsed matcher sets, and where it lives."""

    meta: FrontMatter
    matcher_sets: tuple[tuple[Matcher, ...], ...]
    path: Path
    body: str
    body_line: int

    @property
    def name(self) -> str:
        return self.meta.class_


def split_front_matter(text: str, path: Path) -> tuple[str, str, int]:
    """Return (front matter, body, line number where the body starts)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{path}:1: a runbook starts with '---' and YAML front matter")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    raise ConfigError(f"{path}:1: front matter is not closed by a '---' line")


def _validate(front: str, path: Path) -> FrontMatter:
    try:
        raw: Any = yaml.safe_load(front)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        raise ConfigError(f"{path}:{line}: front matter is not valid YAML: {err}") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}:2: front matter must be a mapping")
    try:
        return FrontMatter.model_validate(raw)
    except ValidationError as err:
        lines = key_lines(front, first_line=2)
        problems = []
        for e in err.errors():
            loc = tuple(e["loc"])
            line = line_of(lines, loc)
            what = "unknown field" if e["type"] == "extra_forbidden" else e["msg"]
            problems.append(f"{path}:{line}: {'.'.join(map(str, loc))}: {what}")
        raise ConfigError("; ".join(problems)) from err


def load_runbook(path: Path) -> Runbook:
    """Parse one runbook file; raise ConfigError with file:line on any problem."""
    front, body, body_line = split_front_matter(path.read_text(encoding="utf-8"), path)
    meta = _validate(front, path)
    stem = path.name.removesuffix(SUFFIX)
    if meta.class_ != stem:
        raise ConfigError(f"{path}:2: class {meta.class_!r} must equal the file name {stem!r}")
    sets = []
    for i, text in enumerate(meta.match):
        line = key_lines(front, first_line=2).get(("match", i), 2)
        try:
            parsed = parse_matchers(text)
        except MatcherSyntaxError as err:
            raise ConfigError(f"{path}:{line}: match[{i}]: {err}") from err
        if not parsed:
            raise ConfigError(f"{path}:{line}: match[{i}]: an empty set would match every alert")
        sets.append(parsed)
    return Runbook(meta, tuple(sets), path, body, body_line)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Runbooks by class, plus the order in which matchers are tried."""

    runbooks: dict[str, Runbook]
    ordered: tuple[Runbook, ...]

    @property
    def classes(self) -> list[str]:
        return sorted(self.runbooks)


def load_catalog(directory: Path) -> Catalog:
    """Load every runbook in ``directory``; the ``generic`` fallback must be among them."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: runbook catalog folder not found")
    runbooks: dict[str, Runbook] = {}
    errors: list[str] = []
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        if path.name.startswith("_"):
            continue
        try:
            runbook = load_runbook(path)
        except ConfigError as err:
            errors.append(err.message)
            continue
        runbooks[runbook.name] = runbook
    if GENERIC not in runbooks and not errors:
        errors.append(f"{directory}: no '{GENERIC}{SUFFIX}' fallback runbook")
    if errors:
        raise ConfigError("\n".join(errors))
    ordered = sorted(
        (r for r in runbooks.values() if r.name != GENERIC),
        key=lambda r: (r.meta.priority, r.name),
    )
    return Catalog(runbooks, tuple(ordered))
