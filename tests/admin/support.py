"""Helpers shared by the administration tests (this module holds no test)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from exchange.audit.models import AuditEvent

_ERROR = '<p class="error" id="{}-error">([^<]*)</p>'


@contextmanager
def db(app: Flask) -> Iterator[Session]:
    with app.extensions["liaison"].db.unit_of_work() as s:
        yield s


def head(app: Flask) -> int:
    """The sequence number of the last audit event."""
    with db(app) as s:
        return s.scalar(select(func.max(AuditEvent.seq))) or 0


def events_since(app: Flask, seq: int) -> list[tuple[str, str | None]]:
    """(action, object id) of every event recorded after `seq`, in order."""
    with db(app) as s:
        rows = s.execute(select(AuditEvent.action, AuditEvent.object_id)
                         .where(AuditEvent.seq > seq).order_by(AuditEvent.seq))
        return [(action, object_id) for action, object_id in rows]


def count(app: Flask, model: Any) -> int:
    with db(app) as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def public_id(app: Flask, model: Any, **where: Any) -> str:
    with db(app) as s:
        value = s.scalar(select(model.public_id).filter_by(**where))
        assert value is not None, where
        return str(value)


def field_error(response: Any, field: str) -> str:
    """The error shown next to a field (the `field` macro's <p id="...-error">)."""
    match = re.search(_ERROR.format(re.escape(field)), response.get_data(as_text=True))
    assert match, f"no error next to {field!r} (status {response.status_code})"
    return html.unescape(match.group(1))
