"""What checks a fiche's signatures, for every use case that reads or acts on one: the sender's
manifest, the recipient's receipts, the PAdES signatures of the PDF. Each check also compares
the signed fields with the row (`exchange.fiches.routing`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from exchange.acting import Context
from exchange.fiches import routing
from exchange.fiches.common import FicheError, owner_of_unit
from exchange.fiches.models import Fiche, Receipt
from exchange.fiches.pdf_signing import validate_fiche_pdf
from keys.manifest import SignedManifest, verify_manifest
from keys.store import KeyStore


def verified_manifest(ctx: Context, fiche: Fiche) -> dict[str, Any]:
    """The sender's manifest of the version in force, checked against the sender institution's
    key and against the row (SignatureInvalid, ManifestMismatch: `routing`)."""
    if fiche.manifest is None:
        raise FicheError("Cette fiche n'est pas signée.")
    return routing.verified(ctx, fiche, fiche.manifest, fiche.version)


def verified_receipt(ctx: Context, fiche: Fiche, receipt: Receipt) -> dict[str, Any]:
    """A receipt, checked against the recipient institution's key and the row
    (SignatureInvalid)."""
    signed = verify_manifest(ctx.svc.keystore(ctx.session),
                             SignedManifest.from_bytes(receipt.signed),
                             expected_owner=owner_of_unit(ctx.session, fiche.recipient_unit_id))
    routing.check_receipt(ctx, fiche, signed)
    return signed


def receipts_of(ctx: Context, fiche: Fiche) -> list[Receipt]:
    return list(ctx.session.scalars(select(Receipt).where(Receipt.fiche_id == fiche.id)
                                    .order_by(Receipt.id)))


def pdf_is_valid(keystore: KeyStore, pdf: bytes, sender: str) -> bool:
    """Every PAdES signature intact, trusted, and made with a key of the sender institution."""
    return bool(validate_fiche_pdf(keystore, pdf, expected_owner=sender).valid)
