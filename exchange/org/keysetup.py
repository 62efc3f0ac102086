"""Use cases around the key store: first initialisation, institutions' keys, rotation, export."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from exchange.audit import trail as audit
from exchange.org.models import Institution
from exchange.platform.services import Services

PLATFORM_NAME = "Plateforme Liaison"


def initialise_platform(svc: Services) -> int:
    """Create whatever key is missing: the platform's, then each institution's. Idempotent."""
    with svc.db.unit_of_work() as s:
        svc.check_master(s)
        store = svc.keystore(s)
        before = len(store.records.all())
        store.init_platform(PLATFORM_NAME)
        for institution in s.scalars(select(Institution).order_by(Institution.id)):
            store.ensure_institution(institution.key_owner, institution.name)
        created = len(store.records.all()) - before
        if created:
            audit.record(s, "keys.initialised", at=svc.clock.now(), object_type="keys",
                         object_id=str(created))
        return created


def ensure_institution_keys(svc: Services, s: Session, institution: Institution) -> None:
    """Give a new institution its keys, in the caller's transaction."""
    store = svc.keystore(s)
    store.init_platform(PLATFORM_NAME)
    store.ensure_institution(institution.key_owner, institution.name)
    audit.record(s, "keys.institution_created", at=svc.clock.now(), object_type="institution",
                 object_id=institution.public_id)


def find_institution(s: Session, name_or_id: str) -> Institution:
    institution = s.scalar(select(Institution).where(
        or_(Institution.name == name_or_id, Institution.public_id == name_or_id)))
    if institution is None:
        raise LookupError(f"Institution introuvable : {name_or_id!r}.")
    return institution


def rotate_institution(svc: Services, name_or_id: str) -> int:
    with svc.db.unit_of_work() as s:
        institution = find_institution(s, name_or_id)
        store = svc.keystore(s)
        store.rotate(institution.key_owner)
        version = store.records.current(institution.key_owner, "encryption").version
        audit.record(s, "keys.rotated", at=svc.clock.now(), object_type="institution",
                     object_id=institution.public_id)
        return version


def export_public(svc: Services, name_or_id: str) -> str:
    with svc.db.unit_of_work() as s:
        institution = find_institution(s, name_or_id)
        return svc.keystore(s).export_public(institution.key_owner)


def key_status(svc: Services) -> list[str]:
    with svc.db.unit_of_work() as s:
        names = {i.key_owner: i.name for i in s.scalars(select(Institution))}
        lines = []
        for row in svc.keystore(s).status():
            owner = names.get(str(row["owner"]), str(row["owner"]))
            current = "en service" if row["current"] else "ancienne"
            expiry = f", certificat jusqu'au {row['not_after']}" if row.get("not_after") else ""
            lines.append(f"{owner} · {row['purpose']} v{row['version']} ({current}){expiry} "
                         f"[{row['key_id']}]")
        return lines
