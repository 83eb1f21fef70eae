"""The domain error tree and its mapping to HTTP.

::

    DomainError                      500  (never raised directly)
    ├── ConfigError                  500  configuration or catalog is invalid (start-up)
    ├── NotFound                     404
    ├── InvalidTransition            409  carries the current state
    ├── Unauthorized                 401
    ├── Forbidden                    403
    │   └── CsrfFailed               403  a cookie-authenticated write without its CSRF token
    ├── PayloadError                 422  names the offending field
    ├── PayloadTooLarge              413
    └── StorageUnavailable           503  transient; Alertmanager retries

Services raise these; ``app.http.errors`` turns them into ``{"error": {code, message, hint}}``.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    code = "internal"

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class ConfigError(DomainError):
    code = "config_invalid"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"


class InvalidTransition(DomainError):
    status_code = 409
    code = "invalid_transition"

    def __init__(self, message: str, *, current: str, hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.current = current


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class CsrfFailed(Forbidden):
    code = "csrf_failed"


class PayloadError(DomainError):
    status_code = 422
    code = "invalid_payload"


class PayloadTooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class StorageUnavailable(DomainError):
    status_code = 503
    code = "storage_unavailable"
