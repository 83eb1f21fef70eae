"""What the JSON API (``app.api``) and the pages (``app.web``) share.

Dependency aliases and principal resolution, the one scoped write, the one CSRF rule, error
answers, middleware, parameters, the NUL guard, the page templates and the viewer time zone.
Nothing here imports ``app.api`` or ``app.web``.
"""
