"""The page templates: our own Jinja2 environment with autoescape (not the runbook sandbox)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from app.auth.sessions import csrf_token
from app.runbooks.filters import duration, localtime
from app.urls import runbook_url

WEB = Path(__file__).parent.parent / "web"
TEMPLATES = WEB / "templates"
STATIC = WEB / "static"


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.filters["localtime"] = localtime
    templates.env.filters["duration"] = duration
    templates.env.globals["csrf_token"] = csrf_token
    templates.env.globals["runbook_url"] = runbook_url
    return templates


templates = make_templates()
