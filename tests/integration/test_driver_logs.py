"""psycopg's WARNING for a statement that failed in its pipeline (one per conflict retry) is
logged at DEBUG: the error itself is raised and handled (retried, or a 503 with its own line)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from app.db import make_engine
from app.driver_logs import DRIVER, quiet_driver_warnings
from app.logging import configure_logging

# psycopg logs the abort only when it reads the error while statements are still queued,
# which depends on timing (about 19 times in 20 here): conflicts are repeated until it does.
ATTEMPTS = 30


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if database_url.startswith("sqlite"):
        pytest.skip("psycopg's pipeline exists on PostgreSQL only")
    engine = make_engine(database_url, pool_size=1)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE conflicts (id int PRIMARY KEY)"))
    yield engine
    engine.dispose()


@pytest.fixture
def driver_logger() -> Iterator[logging.Logger]:
    """psycopg's logger, restored afterwards to how psycopg configures it."""
    logger = logging.getLogger(DRIVER)
    level, filters = logger.level, list(logger.filters)
    yield logger
    logger.setLevel(level)
    logger.filters[:] = filters


def fail_in_the_pipeline(engine: Engine) -> None:
    """An executemany whose second row conflicts, with many rows queued after it."""
    rows = [{"id": 1}, {"id": 1}, *({"id": n} for n in range(2, 2000))]
    statement = text("INSERT INTO conflicts VALUES (:id)")
    with engine.connect() as connection:
        with pytest.raises(IntegrityError):
            connection.execute(statement, rows)
        connection.rollback()


def aborted(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == DRIVER and r.getMessage().startswith("error ignored")
    ]


def test_pipeline_abort_warning_is_logged_at_debug(
    engine: Engine, caplog: pytest.LogCaptureFixture, driver_logger: logging.Logger
) -> None:
    configure_logging(fmt="console", level="INFO")  # what serve and the CLI do
    caplog.set_level(logging.DEBUG)
    driver_logger.setLevel(logging.DEBUG)  # so the demoted record is seen at all
    for _ in range(ATTEMPTS):
        fail_in_the_pipeline(engine)
        if aborted(caplog):
            break
    records = aborted(caplog)
    assert records, f"psycopg never logged a pipeline abort in {ATTEMPTS} conflicts"
    assert "pipeline aborted" in records[0].getMessage()
    assert {r.levelname for r in records} == {"DEBUG"}


def test_at_psycopgs_default_level_nothing_is_logged(
    engine: Engine, caplog: pytest.LogCaptureFixture, driver_logger: logging.Logger
) -> None:
    quiet_driver_warnings()
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        fail_in_the_pipeline(engine)
    assert [r for r in caplog.records if r.name == DRIVER] == []
