"""Runbook Router: Alertmanager webhooks in, incidents and runbooks out."""

__version__ = "0.1.0"
