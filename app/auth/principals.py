"""Who is calling: a principal with a role, a team and a time zone."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


_READ = ("incidents:read", "runbooks:read", "kpis:read", "postmortems:read")
_ACT = ("incidents:act", "postmortems:edit")
_ADMIN = ("deliveries:read", "notifications:read")

PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.VIEWER: _READ,
    Role.RESPONDER: _READ + _ACT,
    Role.ADMIN: _READ + _ACT + _ADMIN,
}
RANK = {Role.VIEWER: 0, Role.RESPONDER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    team: str = ""
    timezone: str = ""
    auth: str = "token"

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]

    def via(self, auth: str) -> Principal:
        return replace(self, auth=auth)

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role.value,
            "team": self.team or None,
            "timezone": self.timezone or None,
            "permissions": list(PERMISSIONS[self.role]),
            "auth": self.auth,
        }
