"""Sign-in through a trusted reverse proxy (oauth2-proxy style headers).

Only requests whose socket peer is one of the configured proxy addresses are believed (never
an ``X-Forwarded-For`` header); the user's groups map to the highest role configured for any
of them. A session opened this way is re-checked on every request (``recheck``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace

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


def _user(config: ProxyAuth, headers: Mapping[str, str]) -> str:
    return headers.get(config.user_header.lower()) or headers.get(config.email_header.lower(), "")


def recheck(
    config: ProxyAuth, *, client: str | None, headers: Mapping[str, str], signed_in: Principal
) -> tuple[Principal | None, str]:
    """A proxy session still holds, with today's role? (principal or None, and why).

    It holds while the proxy sign-in is enabled and the request comes from a trusted proxy;
    if the proxy names a user, it must be the same one, with the role its groups give now.
    """
    if not config.enabled:
        return None, "proxy sign-in is disabled"
    if not _trusted(client, config.trusted):
        return None, "the request did not come through a trusted proxy"
    if not _user(config, headers):
        return signed_in, "kept"
    current = proxy_principal(config, client=client, headers=headers)
    if current is None or current.name != signed_in.name:
        return None, "the proxy names another user, or one without a role"
    return replace(current, timezone=signed_in.timezone, auth=signed_in.auth), "kept"


def proxy_principal(
    config: ProxyAuth, *, client: str | None, headers: Mapping[str, str]
) -> Principal | None:
    """The proxy's user, if the request came through a trusted proxy with a user header."""
    if not config.enabled or not _trusted(client, config.trusted):
        return None
    user = _user(config, headers)
    if not user:
        return None
    groups = [g.strip() for g in headers.get(config.groups_header.lower(), "").split(",")]
    roles = [config.roles[g] for g in groups if g in config.roles]
    role = max(roles, key=lambda r: RANK[r]) if roles else config.default_role
    if role is None:
        return None
    team = headers.get(config.team_header.lower(), "")
    return Principal(name=user[:128], role=role, team=team[:128], auth="proxy")
