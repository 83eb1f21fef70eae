"""Team scoping: responders act on incidents of their team and of runbooks with no team."""

from __future__ import annotations

from app.auth.principals import Principal, Role
from app.errors import Forbidden


def check_can_act(principal: Principal, *, runbook_team: str, what: str = "incident") -> None:
    """Raise Forbidden (403) with the role or team that is needed."""
    if principal.role is Role.ADMIN:
        return
    if principal.role is not Role.RESPONDER:
        raise Forbidden(
            f"acting on an {what} needs the responder role; you are {principal.role.value}",
            hint="ask an admin for a responder token of your team",
        )
    if runbook_team and principal.team != runbook_team:
        yours = f"team '{principal.team}'" if principal.team else "no team"
        raise Forbidden(
            f"this {what} belongs to team '{runbook_team}': it needs a responder of that team "
            f"(you are a responder of {yours})",
            hint=f"ask someone in team '{runbook_team}', or an admin",
        )


def may_act(principal: Principal, runbook_team: str) -> bool:
    """Whether to show action buttons (the API checks again with ``check_can_act``)."""
    try:
        check_can_act(principal, runbook_team=runbook_team)
    except Forbidden:
        return False
    return True
