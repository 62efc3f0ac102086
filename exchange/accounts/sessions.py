"""Server-side sessions kept in the database: what accounts do with them.

The cookie holds a random 256-bit token; the database holds its SHA-256, the session's data,
the signed-in user, and its idle and absolute deadlines (`exchange.web.sessions` serves them to
Flask). A session can be rotated (a new token at login), revoked (logout), or revoked with every
other session of a user (password change, account disabled).
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from exchange.accounts.models import WebSession


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "ignore")).hexdigest()


def revoke_user_sessions(session: Session, user_id: int, at: datetime) -> int:
    result = session.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def purge_ended(session: Session, now: datetime, *, idle: timedelta) -> int:
    """Delete sessions that are revoked, expired or idle: their rows serve no one."""
    result = session.execute(delete(WebSession).where(
        (WebSession.revoked_at.is_not(None)) | (WebSession.expires_at <= now)
        | (WebSession.last_seen_at <= now - idle)))
    return int(getattr(result, "rowcount", 0) or 0)
