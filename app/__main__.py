"""``python -m app`` is the ``runbook-router`` command."""

from app.cli import main

main()
