"""Sign-in through a trusted reverse proxy (oauth2-proxy style headers).

Only requests from the configured proxy addresses are believed; the user's groups map to
the highest role configured for any of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from app.auth.principals import RANK, Principal, Role


class ProxyAuth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    trusted: list[str] = Field(default_factory=lambda: ["127.0.0.1/32"])
    user_header: str = "X-Forwarded-User"
    email_header: str = "X-Forwarded-Email"
    groups_header: str = "X-Forwarded-Groups"
    team_header: str = "X-Forwarded-Team"
    roles: dict[str, Role] = Field(default_factory=dict)
    default_role: Role | None = Role.VIEWER


class AuthConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    proxy: ProxyAuth = ProxyAuth()
    session_hours: int = Field(default=12, gt=0, le=24 * 30)


def _trusted(client: str | None, networks: list[str]) -> bool:
    if not client:
        return False
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in networks)


def proxy_principal(
    config: ProxyAuth, *, client: str | None, headers: Mapping[str, str]
) -> Principal | None:
    """The proxy's user, if the request came through a trusted proxy with a user header."""
    if not config.enabled or not _trusted(client, config.trusted):
        return None
    user = headers.get(config.user_header.lower()) or headers.get(config.email_header.lower())
    if not user:
        return None
    groups = [g.strip() for g in headers.get(config.groups_header.lower(), "").split(",")]
    roles = [config.roles[g] for g in groups if g in config.roles]
    role = max(roles, key=lambda r: RANK[r]) if roles else config.default_role
    if role is None:
        return None
    team = headers.get(config.team_header.lower(), "")
    return Principal(name=user[:128], role=role, team=team[:128], auth="proxy")
