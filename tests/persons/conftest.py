"""Helpers of the person and consent tests: real files (a reportlab PDF, a Pillow JPEG, a PNG
built by hand), a person created through the web, and the audit events an action left."""

from __future__ import annotations

import io
import re
import struct
import zlib
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from exchange.audit.models import AuditEvent
from tests.conftest import post_form

ELODIE = {"last_name": "Dupont-Martin", "first_names": "Élodie", "birth_date": "1985-04-12"}
_PERSON_URL = re.compile(r"^/personnes/([0-9a-f]{32})$")


def make_pdf(text: str = "Formulaire de consentement signé") -> bytes:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=A4)
    page.drawString(72, 760, text)
    page.showPage()
    page.save()
    return buffer.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def make_png(width: int = 2, height: int = 2) -> bytes:
    """A valid greyscale PNG, built with the standard library."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"IEND", b""))


def make_jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 30, 30)).save(buffer, "JPEG")
    return buffer.getvalue()


def make_zip() -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return buffer.getvalue()


def create_person(client: FlaskClient, **fields: Any) -> str:
    """Create a person through the form (no duplicate expected); their public id."""
    response = post_form(client, "/personnes/nouvelle", {**ELODIE, **fields})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    match = _PERSON_URL.match(response.location)
    assert match, response.location
    return match.group(1)


def search(client: FlaskClient, **fields: str) -> str:
    response = post_form(client, "/personnes/", fields)
    assert response.status_code == 200, response.get_data(as_text=True)[-2000:]
    return response.get_data(as_text=True)


def audit_seq(app: Flask) -> int:
    with app.extensions["liaison"].db.unit_of_work() as s:
        return int(s.scalar(select(func.coalesce(func.max(AuditEvent.seq), 0))))


def events_since(app: Flask, seq: int) -> list[AuditEvent]:
    with app.extensions["liaison"].db.unit_of_work() as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.seq > seq)
                              .order_by(AuditEvent.seq)))


def only_event(app: Flask, seq: int) -> AuditEvent:
    events = events_since(app, seq)
    assert len(events) == 1, [(e.action, e.outcome) for e in events]
    return events[0]
