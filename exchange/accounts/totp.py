"""TOTP second factor (RFC 6238) and recovery codes.

A code is accepted once: the time step it matched is remembered and no code of that step or an
earlier one is accepted again. The secret is stored sealed under a key derived from the master
key; the QR code is drawn by the app itself as SVG.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
import segno

ISSUER = "Liaison"
STEP = 30
WINDOW = 1  # accept the previous and next step, for clock drift
RECOVERY_CODES = 10


def new_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, username: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """An inline SVG, drawn here: no outside service sees the secret."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff",
                                                       title="QR code du second facteur"))


def matching_step(secret: str, code: str, at: datetime, last_step: int) -> int | None:
    """The time step `code` belongs to, if it is valid now and newer than `last_step`."""
    code = code.strip().replace(" ", "")
    if len(code) != 6 or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(at.timestamp()) // STEP
    for step in range(now_step - WINDOW, now_step + WINDOW + 1):
        if step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP), code):
            return step
    return None


def code_at(secret: str, at: datetime) -> str:
    return pyotp.TOTP(secret).at(at)


def new_recovery_codes() -> list[str]:
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(alphabet) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def recovery_hash(code: str) -> str:
    normalised = code.strip().lower().replace(" ", "").replace("-", "")
    return hashlib.sha256(normalised.encode("ascii", "ignore")).hexdigest()
