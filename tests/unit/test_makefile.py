"""The Makefile: `make run` installs what serving needs, `make test` everything; `make image`
builds with docker or podman, or says that none is found.

``make -n`` prints the commands a target would run without running them (into a venv path
that does not exist, so every install step shows); the image targets run against fake
engines on PATH that record their arguments.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from app import __version__
from tests.conftest import ROOT
from tests.services import need_binary


def make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    binary = need_binary("/usr/bin/make", "make")
    return subprocess.run(
        [binary, "--no-print-directory", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env or {**os.environ, "RUNBOOK_ROUTER_DATABASE_URL": ""},
        timeout=60,
    )


def installs(target: str, tmp_path: Path, *extra: str) -> list[str]:
    """The pip install commands ``make <target>`` runs in a fresh venv."""
    done = make("-n", target, f"VENV={tmp_path}/venv", *extra)
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if "pip install" in line]


def test_run_installs_only_what_serving_needs(tmp_path: Path) -> None:
    lines = installs("run", tmp_path)
    assert any(line.endswith("install --quiet -e '.'") for line in lines), lines
    assert not [line for line in lines if "[dev]" in line], lines


def test_run_on_postgresql_adds_the_driver(tmp_path: Path) -> None:
    url = "RUNBOOK_ROUTER_DATABASE_URL=postgresql+psycopg://rr@db/rr"
    lines = installs("run", tmp_path, url)
    assert any(line.endswith("-e '.[postgres]'") for line in lines), lines


def test_test_installs_the_development_tools(tmp_path: Path) -> None:
    lines = installs("test", tmp_path)
    assert any(line.endswith("-e '.'") for line in lines), lines
    assert any(line.endswith("-e '.[dev]'") for line in lines), lines


def fake_engines(folder: Path, *, running: str | None) -> dict[str, str]:
    """docker and podman stand-ins: only ``running`` answers ``info``; all log their args."""
    folder.mkdir()
    for name in ("docker", "podman"):
        answer = "exit 0" if name == running else "exit 1"
        script = folder / name
        script.write_text(
            f'#!/bin/sh\necho "{name} $*" >> "{folder}/calls"\n'
            f'[ "$1" = info ] && {{ {answer}; }}\nexit 0\n'
        )
        script.chmod(0o755)
    return {**os.environ, "PATH": f"{folder}:{os.environ['PATH']}"}


def calls(folder: Path) -> list[str]:
    path = folder / "calls"
    return path.read_text().splitlines() if path.exists() else []


def test_image_says_when_no_container_engine_is_found(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    done = make("image", env=fake_engines(bin_dir, running=None))
    assert done.returncode != 0
    assert "no container engine found (docker or podman" in done.stderr
    assert [c for c in calls(bin_dir) if not c.endswith(" info")] == []


@pytest.mark.parametrize("engine", ["docker", "podman"])
def test_image_builds_and_pushes_with_the_engine_that_runs(tmp_path: Path, engine: str) -> None:
    bin_dir = tmp_path / "bin"
    env = fake_engines(bin_dir, running=engine)
    done = make("image", env=env)
    assert done.returncode == 0, done.stderr
    assert f"{engine} build -t runbook-router:{__version__} ." in calls(bin_dir)
    image = "registry.example.com/ops/runbook-router:1.2.3"
    done = make("push", f"IMAGE={image}", env=env)
    assert done.returncode == 0, done.stderr
    assert calls(bin_dir)[-1] == f"{engine} push {image}"
    assert f"{engine} build -t {image} ." in calls(bin_dir)
