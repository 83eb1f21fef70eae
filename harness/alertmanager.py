"""Debian's Alertmanager on loopback: a checked configuration, gossip off, its API and counters."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from harness.processes import HOST, HarnessError, Service, free_port

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
AMTOOL = "/usr/bin/amtool"
PACKAGE = "prometheus-alertmanager"


def webhook_config(url: str, token: str) -> dict[str, Any]:
    """A webhook receiver entry: every alert of a group, resolved ones too, Bearer ``token``."""
    return {
        "url": url,
        "send_resolved": True,
        "max_alerts": 0,
        "http_config": {"authorization": {"type": "Bearer", "credentials": token}},
    }


def check_config(amtool: str, path: Path) -> None:
    """``amtool check-config``; ``HarnessError`` with its output unless it says SUCCESS."""
    result = subprocess.run(
        [amtool, "check-config", str(path)], capture_output=True, text=True, timeout=30, check=False
    )
    output = result.stdout + result.stderr
    if result.returncode != 0 or "SUCCESS" not in output:
        raise HarnessError(f"amtool check-config {path} failed:\n{output}")


class Alertmanager(Service):
    """Alertmanager on a free port with ``config`` (written to ``work``, checked by amtool).

    ``work`` is a new folder for the configuration, the log and the data; ``extra_args`` are
    added to the command line (e.g. ``--log.level=debug``).
    """

    def __init__(
        self,
        work: Path,
        config: dict[str, Any],
        *,
        binary: str = ALERTMANAGER,
        amtool: str = AMTOOL,
        extra_args: tuple[str, ...] = (),
        ready_timeout: float = 15.0,
    ) -> None:
        (work / "data").mkdir(parents=True)
        self.config_path = work / "alertmanager.yml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.amtool = amtool
        port = free_port()
        url = f"http://{HOST}:{port}"
        command = [
            binary,
            f"--config.file={self.config_path}",
            f"--storage.path={work / 'data'}",
            f"--web.listen-address={HOST}:{port}",
            f"--web.external-url={url}",
            "--cluster.listen-address=",
            *extra_args,
        ]
        super().__init__(
            "alertmanager",
            command,
            dict(os.environ),
            work / "alertmanager.log",
            port=port,
            ready_path="/-/ready",
            ready_timeout=ready_timeout,
        )

    def start(self) -> Alertmanager:
        check_config(self.amtool, self.config_path)
        super().start()
        return self

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        response = httpx.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=5)
        if response.status_code != 200:
            raise HarnessError(f"POST /api/v2/alerts: {response.status_code} {response.text}")

    def alerts(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v2/alerts", timeout=5)
        if response.status_code != 200:
            raise HarnessError(f"GET /api/v2/alerts: {response.status_code} {response.text}")
        data: list[dict[str, Any]] = response.json()
        return data

    def counter(self, name: str, **labels: str) -> float:
        """Sum of one counter's samples whose labels include ``labels``."""
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        )
