"""Real processes for the end-to-end tests and the benchmarks, without pytest.

``processes`` (free ports, waiting for a condition, a child process answering HTTP),
``server`` (``runbook-router serve`` with its environment, migrated first), ``postgres`` (a
private PostgreSQL cluster on loopback) and ``alertmanager`` (Debian's Alertmanager with a
checked configuration). ``tests/`` adds the pytest parts (skip, or fail under
``REQUIRE_REAL_SERVICES=1``); ``bench/`` uses these as they are.

Errors (a tree)::

    HarnessError            a real process did not do what was asked of it
    ├── TimedOut            a condition did not hold within its timeout
    └── ProcessExited       a child process exited while we waited for it
"""
