"""Create, list, revoke and look up API tokens (only digests are stored)."""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import datetime

from sqlmodel import Session, col, select

from app.auth.models import ApiToken
from app.auth.principals import Principal, Role
from app.auth.tokens import digest
from app.errors import InvalidTransition, NotFound, PayloadError

log = logging.getLogger(__name__)

PREFIX = "rr_"


def issue(
    session: Session, *, name: str, role: Role, team: str = "", timezone: str = "", now: datetime
) -> tuple[ApiToken, str]:
    """A new token; the plain value is returned once and never stored."""
    if session.exec(select(ApiToken).where(ApiToken.name == name)).first() is not None:
        raise PayloadError(
            f"a token named {name!r} exists already",
            hint="choose another name, or revoke the old token first",
        )
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        name=name,
        role=role,
        team=team,
        timezone=timezone,
        digest=digest(plain).hex(),
        prefix=plain[:10],
        created_at=now,
    )
    session.add(token)
    session.flush()
    log.info("token created", extra={"token_name": name, "role": role.value, "team": team})
    return token, plain


def listing(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.name))).all())


def revoke(session: Session, *, name: str, now: datetime) -> ApiToken:
    token = session.exec(select(ApiToken).where(ApiToken.name == name)).first()
    if token is None:
        raise NotFound(f"no token named {name!r}", hint="`runbook-router tokens list`")
    if token.revoked_at is not None:
        raise InvalidTransition(f"token {name!r} is already revoked", current="revoked")
    token.revoked_at = now
    log.info("token revoked", extra={"token_name": name})
    return token


def principal_for(session: Session, plain: str) -> Principal | None:
    """The principal of a valid, unrevoked token, or None."""
    return principal_by_digest(session, digest(plain).hex())


def principal_by_digest(session: Session, wanted: str) -> Principal | None:
    """As ``principal_for``, from the stored digest (sessions keep only that)."""
    token = session.exec(select(ApiToken).where(ApiToken.digest == wanted)).first()
    if token is None or token.revoked_at is not None:
        return None
    if not hmac.compare_digest(token.digest, wanted):
        return None
    return Principal(
        name=token.name,
        role=Role(token.role),
        team=token.team,
        timezone=token.timezone,
        auth="token",
    )
