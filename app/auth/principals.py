"""Who is calling: a principal with a role, resolved from a token."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


PERMISSIONS: dict[Role, tuple[str, ...]] = {
    Role.VIEWER: ("incidents:read", "runbooks:read", "kpis:read"),
    Role.RESPONDER: (
        "incidents:read",
        "runbooks:read",
        "kpis:read",
        "incidents:act",
        "postmortems:edit",
    ),
    Role.ADMIN: (
        "incidents:read",
        "runbooks:read",
        "kpis:read",
        "incidents:act",
        "postmortems:edit",
        "tokens:manage",
        "catalog:reload",
        "deliveries:read",
        "notifications:read",
    ),
}


@dataclass(frozen=True, slots=True)
class Principal:
    name: str
    role: Role
    team: str = ""
    auth: str = "token"

    def can(self, permission: str) -> bool:
        return permission in PERMISSIONS[self.role]

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "role": self.role.value,
            "team": self.team or None,
            "permissions": list(PERMISSIONS[self.role]),
            "auth": self.auth,
        }
