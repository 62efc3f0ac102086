"""The database does not route a fiche: its signed manifest does.

The sender institution signs, for each version, who the fiche is from and for (units and
institutions), what it is (document, version, kind, axis, convention), about whom (person) and
under which consent (`signing.manifest_for`). The institution's keys open what was sealed for
any of its units, so a row moved to another unit — `UPDATE fiches SET recipient_unit_id = …` —
would otherwise be opened there as valid. Every path to a fiche goes through `fiche_for`, which
loads it for the acting user (`exchange.policy`) and compares the row with the manifest it
verifies; the use cases that check a manifest (`verified_manifest`, the versions of
`rectification`) compare it the same way. A difference is tampering, never a reason to show.

Manifests signed before the format was named (no ``format``) carry the fields of `SIGNED`;
the sender institution is then the owner of the key that signed them, and the person, axis,
convention and author are not bound until the fiche is rectified (keys/README.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ScalarSelect, select
from sqlalchemy.orm import Session

from exchange.accounts.models import User
from exchange.acting import Context
from exchange.domain.vocabulary import FicheState
from exchange.fiches.common import TAMPERED, FicheTampered, owner_of_unit
from exchange.fiches.models import Fiche, FicheVersion
from exchange.org.models import Convention, Institution, Unit
from exchange.persons.models import Consent, Person
from exchange.policy import visible_fiche
from keys.errors import KeysError, SignatureInvalid
from keys.manifest import SignedManifest, verify_manifest

MANIFEST_FORMAT = "liaison-manifest/2"
# What every manifest has named since the first signed fiche.
SIGNED = ("document", "version", "kind", "sender_user", "sender_unit", "recipient_unit",
          "recipient_institution", "consent")
# What MANIFEST_FORMAT adds.
SIGNED_SINCE_2 = ("sender_institution", "person", "axis", "convention", "author")
# States in which a fiche has no manifest yet (a draft, or a draft cancelled before signing).
UNSIGNED_STATES = frozenset({FicheState.DRAFT.value, FicheState.CANCELLED.value})


class ManifestMismatch(SignatureInvalid):
    """A verified manifest names another fiche, version, party, person or consent than the
    row: handled wherever a bad signature is, as tampering."""


def _public_id(model: Any, key: int | None) -> ScalarSelect[Any]:
    return select(model.public_id).where(model.id == key).scalar_subquery()


def _institution(unit_id: int) -> ScalarSelect[Any]:
    return (select(Institution.public_id).join(Unit, Unit.institution_id == Institution.id)
            .where(Unit.id == unit_id).scalar_subquery())


def _signer(fiche: Fiche, version: int) -> ScalarSelect[Any]:
    """Who signed ``version``: the fiche's signer for the first, the author of the
    rectification that replaced the one before for the others."""
    if version == 1:
        return _public_id(User, fiche.signed_by_id)
    return (select(User.public_id).join(FicheVersion, FicheVersion.rectified_by_id == User.id)
            .where(FicheVersion.fiche_id == fiche.id, FicheVersion.version == version - 1)
            .scalar_subquery())


def row_routing(session: Session, fiche: Fiche, version: int) -> dict[str, Any]:
    """What the row says of version ``version``, as a manifest names it (public ids): one
    statement, kept for the transaction under the row's foreign keys (a row that changes is
    looked up again)."""
    key = (fiche.id, version, fiche.kind, fiche.axis, fiche.sender_unit_id,
           fiche.recipient_unit_id, fiche.consent_id, fiche.person_id, fiche.convention_id,
           fiche.sender_user_id, fiche.signed_by_id, fiche.countersigned_by_id)
    known: dict[tuple[Any, ...], dict[str, Any]] = session.info.setdefault(
        "liaison.routing", {})
    found = known.get(key)
    if found is None:
        row = session.execute(select(
            _public_id(Unit, fiche.sender_unit_id).label("sender_unit"),
            _institution(fiche.sender_unit_id).label("sender_institution"),
            _public_id(Unit, fiche.recipient_unit_id).label("recipient_unit"),
            _institution(fiche.recipient_unit_id).label("recipient_institution"),
            _public_id(Consent, fiche.consent_id).label("consent"),
            _public_id(Person, fiche.person_id).label("person"),
            _public_id(Convention, fiche.convention_id).label("convention"),
            _public_id(User, fiche.sender_user_id).label("author"),
            _signer(fiche, version).label("sender_user"),
            _public_id(User, fiche.countersigned_by_id).label("countersigned_by"),
        )).one()
        found = {"document": fiche.public_id, "version": version, "kind": fiche.kind,
                 "axis": fiche.axis, **row._asdict()}
        if version != 1:  # a rectification is signed anew, without a countersignature
            found["countersigned_by"] = None
        known[key] = found
    return found


def check_manifest(session: Session, fiche: Fiche, manifest: dict[str, Any],
                   version: int) -> None:
    """``manifest`` (verified) is the one of version ``version`` of this row, field by field;
    otherwise ManifestMismatch."""
    expected = row_routing(session, fiche, version)
    form = manifest.get("format")
    if form == MANIFEST_FORMAT:
        names = SIGNED + SIGNED_SINCE_2
    elif form is None:  # signed before the format was named
        names = SIGNED
    else:
        raise ManifestMismatch("unknown manifest format")
    for name in names:
        if name not in manifest or manifest[name] != expected[name]:
            raise ManifestMismatch(f"the manifest's {name} is not the row's")
    if manifest.get("countersigned_by") != expected["countersigned_by"]:
        raise ManifestMismatch("the manifest's countersigner is not the row's")


def verified(ctx: Context, fiche: Fiche, signed: bytes, version: int) -> dict[str, Any]:
    """The manifest ``signed`` of version ``version``: signed by the sender institution the row
    names, and naming what the row says. SignatureInvalid (or ManifestMismatch) otherwise."""
    manifest = verify_manifest(ctx.svc.keystore(ctx.session), SignedManifest.from_bytes(signed),
                               expected_owner=owner_of_unit(ctx.session, fiche.sender_unit_id))
    check_manifest(ctx.session, fiche, manifest, version)
    return manifest


def check_receipt(ctx: Context, fiche: Fiche, receipt: dict[str, Any]) -> None:
    """A verified receipt acknowledges this fiche, in the recipient unit the row names."""
    expected = row_routing(ctx.session, fiche, fiche.version)
    version = receipt.get("version")
    if receipt.get("receipt_for") != fiche.public_id or \
            receipt.get("recipient_unit") != expected["recipient_unit"] or \
            receipt.get("recipient_institution") != expected["recipient_institution"] or \
            not isinstance(version, int) or not 1 <= version <= fiche.version:
        raise ManifestMismatch("the receipt is not the row's")


def check_row(ctx: Context, fiche: Fiche) -> None:
    """The row agrees with its signed manifest (a draft has none, a signed fiche must).
    FicheTampered otherwise, not recorded: the caller's transaction is undone by the error,
    and the entry point records ``fiche.tampered`` in its own."""
    if fiche.manifest is None:
        if fiche.state in UNSIGNED_STATES and fiche.signed_at is None:
            return
        raise FicheTampered(TAMPERED, code="fiche_tampered")
    if fiche.state == FicheState.DRAFT.value:
        raise FicheTampered(TAMPERED, code="fiche_tampered")
    try:
        verified(ctx, fiche, fiche.manifest, fiche.version)
    except KeysError:
        raise FicheTampered(TAMPERED, code="fiche_tampered") from None


def fiche_for(ctx: Context, public_id: str) -> Fiche:
    """The fiche ``public_id`` for the acting user — the one way in for every opening,
    download and transition. NotVisible when the user may not see it (`exchange.policy`);
    FicheTampered (`check_row`) when its row and its signed manifest disagree."""
    fiche = visible_fiche(ctx.session, ctx.agent, public_id)
    check_row(ctx, fiche)
    return fiche
