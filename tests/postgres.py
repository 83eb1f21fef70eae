"""The tests' PostgreSQL: one private cluster (``harness.postgres``), or why there is none.

Each test gets a fresh database in it (``tests.conftest.postgres_database``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

from harness.postgres import Cluster, find_bindir


def cluster_or_reason() -> Iterator[Cluster | str]:
    """Yield a running cluster, or the reason there is none (a failure under CI)."""
    bindir = find_bindir()
    if bindir is None:
        yield "PostgreSQL binaries not found: install Debian's postgresql (make test does)"
        return
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        yield "running as root without runuser: cannot start PostgreSQL as 'postgres'"
        return
    cluster = Cluster(bindir).start()
    try:
        yield cluster
    finally:
        cluster.stop()
