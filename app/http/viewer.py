"""The one viewer time-zone rule, for every page that shows a time."""

from __future__ import annotations

from fastapi import Request

from app.auth.principals import Principal
from app.state import Services


def viewer_timezone(request: Request, services: Services, principal: Principal) -> str:
    """``?tz=``, else the person's, else their team's, else the configured time zone."""
    team = services.config.teams.get(principal.team)
    return (
        request.query_params.get("tz")
        or principal.timezone
        or (team.timezone if team else "")
        or services.config.timezone
    )
