"""Flask's side of the server-side sessions (`exchange.accounts.sessions`): the session
interface that reads and writes them, one row per browser session.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.datastructures import CallbackDict

from exchange.accounts.models import WebSession
from exchange.accounts.sessions import token_hash
from exchange.platform.db import Database

log = logging.getLogger("liaison.sessions")
TOUCH_EVERY = timedelta(seconds=60)


class ServerSession(CallbackDict[str, Any], SessionMixin):
    def __init__(self, initial: dict[str, Any] | None = None, token: str | None = None) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.token = token
        self.new = token is None
        self.modified = False
        self.rotate_requested = False
        # The session store (the database) could not be read: the request is answered 503 by
        # the guard, and nothing is saved.
        self.unavailable = False

    def rotate(self) -> None:
        """Give the session a new token when it is saved; the old one stops working."""
        self.rotate_requested = True
        self.modified = True


class DatabaseSessionInterface(SessionInterface):
    def __init__(
        self,
        db: Database,
        now: Callable[[], datetime],
        *,
        idle: timedelta,
        lifetime: timedelta,
        secure: bool,
    ) -> None:
        self.db = db
        self.now = now
        self.idle = idle
        self.lifetime = lifetime
        self.secure = secure
        # The __Host- prefix pins the cookie to this host, over HTTPS, on path /.
        self.cookie_name = "__Host-liaison" if secure else "liaison_session"

    def open_session(self, app: Flask, request: Request) -> ServerSession:
        token = request.cookies.get(self.cookie_name)
        if not token or len(token) > 100:
            return ServerSession()
        try:
            return self._open(token)
        except SQLAlchemyError as exc:
            # Raised here, the error would escape Flask's error pages (no session yet).
            log.error("session store unavailable: %s", type(exc).__name__)
            unavailable = ServerSession()
            unavailable.unavailable = True
            return unavailable

    def _open(self, token: str) -> ServerSession:
        # Every request opens its session: a reading, and a unit of work only on the rare
        # requests that end the session or move its last-seen time.
        now = self.now()
        digest = token_hash(token)
        with self.db.reading() as s:
            row = s.scalar(select(WebSession).where(WebSession.token_hash == digest))
            if row is None or row.revoked_at is not None:
                return ServerSession()
            ended = now >= row.expires_at or now - row.last_seen_at >= self.idle
            touch = now - row.last_seen_at >= TOUCH_EVERY
            raw = row.data
        if ended or touch:
            with self.db.unit_of_work() as s:
                s.execute(update(WebSession)
                          .where(WebSession.token_hash == digest,
                                 WebSession.revoked_at.is_(None))
                          .values({"revoked_at" if ended else "last_seen_at": now}))
        if ended:
            return ServerSession()
        try:
            data = json.loads(raw)
        except ValueError:
            data = {}
        return ServerSession(data if isinstance(data, dict) else {}, token=token)

    def save_session(
        self, app: Flask, session: SessionMixin, response: Response
    ) -> None:
        assert isinstance(session, ServerSession)
        if session.unavailable:
            return
        if (session.token is None and not session) or (session.token is not None and session
                                                       and not session.modified):
            return  # nothing to store nor revoke: most requests open no unit of work here
        now = self.now()
        with self.db.unit_of_work() as s:
            if session.token is not None and (session.rotate_requested or not session):
                s.execute(
                    update(WebSession)
                    .where(WebSession.token_hash == token_hash(session.token))
                    .values(revoked_at=now)
                )
                session.token = None
            if not session:
                if not session.new:
                    response.delete_cookie(self.cookie_name, path="/", secure=self.secure,
                                           httponly=True, samesite="Strict")
                return
            user_id = _user_id(session)
            if session.token is None:
                session.token = secrets.token_urlsafe(32)
                s.add(WebSession(
                    token_hash=token_hash(session.token),
                    user_id=user_id,
                    data=json.dumps(dict(session)),
                    created_at=now,
                    last_seen_at=now,
                    expires_at=now + self.lifetime,
                ))
            elif session.modified:
                s.execute(
                    update(WebSession)
                    .where(WebSession.token_hash == token_hash(session.token),
                           WebSession.revoked_at.is_(None))
                    .values(data=json.dumps(dict(session)), user_id=user_id, last_seen_at=now)
                )
            else:
                return
        response.set_cookie(
            self.cookie_name, session.token, path="/", secure=self.secure, httponly=True,
            samesite="Strict",
        )


def _user_id(session: ServerSession) -> int | None:
    value = session.get("_user_id")
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
