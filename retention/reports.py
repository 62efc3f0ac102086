"""Deletion reports: what one sweep deleted and kept, signed with the platform key.

The payload is canonical JSON (`keys.manifest.canonical`) with format
``liaison-deletion-report/1``: run time, the day the rules were applied to, the rule of each
convention concerned, counts by kind and axis, the public ids of what was deleted with the
rule that made it due, the items kept under a legal hold with the hold's reason code, the
items that failed (by id) and the retention epochs whose key was destroyed. No identity,
no free text. The stored form is `SignedManifest.to_bytes()`, which the DPO downloads and
anyone holding the platform's public key can check (`verify_report`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from keys.manifest import SignedManifest, sign_platform, verify_platform
from keys.store import KeyStore
from retention.models import DeletionReport

FORMAT = "liaison-deletion-report/1"
RULES_TEXT = (
    "Horizon = min(fin de la convention + durée de l'axe, date à laquelle les données ne sont "
    "plus nécessaires + délai de grâce) ; supprimé le lendemain de l'horizon ; jamais sous "
    "conservation légale (conventions 001 art. 6-2, 003 art. 5-2)."
)


def store_report(session: Session, keystore: KeyStore, payload: dict[str, Any], *,
                 run_at: datetime, today: date, complete: bool) -> DeletionReport:
    report = DeletionReport(run_at=run_at, today=today, complete=complete,
                            deleted_count=len(payload["deleted"]),
                            skipped_count=len(payload["skipped_hold"]),
                            error_count=len(payload["errors"]), key_id="", signed=b"")
    session.add(report)
    session.flush()
    payload = {**payload, "format": FORMAT, "report": report.public_id, "rules": RULES_TEXT,
               "run_at": run_at.isoformat(), "today": today.isoformat(), "complete": complete}
    signed = sign_platform(keystore, payload)
    report.signed = signed.to_bytes()
    report.key_id = signed.key_id
    return report


def reports(session: Session, limit: int = 200) -> list[DeletionReport]:
    return list(session.scalars(select(DeletionReport)
                                .order_by(DeletionReport.run_at.desc(), DeletionReport.id.desc())
                                .limit(limit)))


def report_by_public_id(session: Session, public_id: str) -> DeletionReport | None:
    return session.scalar(select(DeletionReport).where(DeletionReport.public_id == public_id))


def verify_report(keystore: KeyStore, signed: bytes) -> dict[str, Any]:
    """The verified payload; `SignatureInvalid` if anything was changed."""
    return verify_platform(keystore, SignedManifest.from_bytes(signed))


def download_name(report: DeletionReport) -> str:
    return f"rapport-suppression-{report.today.isoformat()}-{report.public_id[:8]}.json"
