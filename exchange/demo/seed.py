"""Demo data modelled on the conventions in shared/reference: the Département de
Tarn-et-Garonne with its five Maisons des solidarités and the France Travail agencies of the
department; the CIAS Lodévois et Larzac with the agency of Clermont-l'Hérault.

Demo accounts share one password and have a second factor already enrolled, with a secret
derived from the account name so that the README can list it. This exists only in demo mode.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import date

from sqlalchemy import func, select

from exchange.accounts import totp
from exchange.accounts.models import User, UserRole
from exchange.audit import trail as audit
from exchange.org.keysetup import initialise_platform
from exchange.org.models import Convention, ConventionAmendment, Institution, Unit
from exchange.platform.services import Services

DEMO_PASSWORD = "Demo-Liaison-2026!"  # noqa: S105 - demo, README  # nosec B105
TOTP_BOX = "totp-secret"

INSTITUTIONS = [
    {
        "key": "cd82", "kind": "departement", "name": "Département de Tarn-et-Garonne",
        "siret": "22820001000012", "dpo_name": "Délégué à la protection des données",
        "dpo_email": "dpo@ledepartement82.fr",
        "dpo_address": "100 boulevard Hubert Gouze, BP 783, 82013 Montauban Cedex",
        "units": [
            ("mds", "MDS de Montauban"), ("mds", "MDS de Castelsarrasin"),
            ("mds", "MDS de Moissac"), ("mds", "MDS de Caussade"),
            ("mds", "MDS de Valence d'Agen"),
            ("other", "Direction de la cohésion sociale"),
        ],
    },
    {
        "key": "ft", "kind": "france_travail", "name": "France Travail Occitanie",
        "siret": "13000548100010", "dpo_name": "Délégué à la protection des données",
        "dpo_email": "dpd@francetravail.fr",
        "dpo_address": "33/43 avenue Georges Pompidou, BP 93136, 31131 Balma Cedex",
        "units": [
            ("agence", "Agence France Travail Montauban Albasud"),
            ("agence", "Agence France Travail Montauban Sapiac"),
            ("agence", "Agence France Travail Castelsarrasin"),
            ("agence", "Agence France Travail Clermont-l'Hérault"),
            ("other", "Direction territoriale Lot – Tarn-et-Garonne"),
        ],
    },
    {
        "key": "cias", "kind": "ccas_cias", "name": "CIAS Lodévois et Larzac",
        "siret": "20003400700019", "dpo_name": "Déléguée à la protection des données du CIAS",
        "dpo_email": "dpo@lodevoisetlarzac.fr",
        "dpo_address": "1 place Francis Morand, 34700 Lodève",
        "units": [("cias", "CIAS Lodévois et Larzac — Lodève")],
    },
]

USERS = [
    ("admin", "Administrateur de la plateforme", "Direction de la cohésion sociale", ["admin"]),
    ("ts.montauban", "Camille Travailleuse-Sociale", "MDS de Montauban", ["social_worker"]),
    ("rmds.montauban", "Dominique Responsable-MDS", "MDS de Montauban", ["unit_manager"]),
    ("cft.montauban", "Alex Conseiller-Global", "Agence France Travail Montauban Albasud",
     ["advisor"]),
    ("ts.lodeve", "Sacha Travailleur-Social", "CIAS Lodévois et Larzac — Lodève",
     ["social_worker"]),
    ("cft.clermont", "Patricia Conseillère-Globale", "Agence France Travail Clermont-l'Hérault",
     ["advisor"]),
    ("dpo.departement", "Délégué à la protection des données", "Direction de la cohésion sociale",
     ["dpo"]),
    ("cm.francetravail", "Claude Chargée-de-Mission",
     "Direction territoriale Lot – Tarn-et-Garonne",
     ["coordinator"]),
]


def demo_totp_secret(username: str) -> str:
    """Derived from the name so the README can list it; demo accounts only."""
    digest = hashlib.sha256(b"liaison-demo:" + username.encode()).digest()[:20]
    return base64.b32encode(digest).decode()


def seed(svc: Services, *, only_if_empty: bool) -> bool:
    """Conventions are dated from the current year, so that a demo created any year has
    conventions in force, shaped like the reference ones (a three-year framework convention;
    a local convention extended by an amendment)."""
    now = svc.clock.now()
    year = svc.clock.today().year
    with svc.db.unit_of_work() as s:
        if only_if_empty and s.scalar(select(func.count()).select_from(Institution)):
            return False
        institutions: dict[str, Institution] = {}
        units: dict[str, Unit] = {}
        for spec in INSTITUTIONS:
            institution = Institution(
                kind=spec["kind"], name=spec["name"], siret=spec["siret"],
                dpo_name=spec["dpo_name"], dpo_email=spec["dpo_email"],
                dpo_address=spec["dpo_address"], created_at=now,
            )
            s.add(institution)
            s.flush()
            institutions[str(spec["key"])] = institution
            for kind, name in spec["units"]:
                unit = Unit(institution_id=institution.id, kind=kind, name=name, created_at=now)
                s.add(unit)
                units[name] = unit
        s.flush()
        tg = Convention(
            title="Convention cadre — approche globale de l'accompagnement, Tarn-et-Garonne",
            institution_a_id=institutions["cd82"].id, institution_b_id=institutions["ft"].id,
            start_date=date(year - 1, 1, 1), end_date=date(year + 1, 12, 31), axis2=True,
            axis3=True, retention_axis2_months=120, retention_axis3_months=2, grace_days=30,
            countersign_required=True, caseload_target=70, created_at=now,
        )
        lodeve = Convention(
            title="Convention locale de coopération — CIAS Lodévois et Larzac et agence de "
                  "Clermont-l'Hérault",
            institution_a_id=institutions["cias"].id, institution_b_id=institutions["ft"].id,
            start_date=date(year - 2, 1, 1), end_date=date(year - 1, 12, 31), axis2=True,
            axis3=True, retention_axis2_months=2, retention_axis3_months=2, grace_days=30,
            countersign_required=False, caseload_target=70, created_at=now,
        )
        s.add_all([tg, lodeve])
        s.flush()
        s.add(ConventionAmendment(convention_id=lodeve.id, signed_on=date(year - 1, 11, 14),
                                  new_end_date=date(year, 12, 31),
                                  note="Avenant n° 1 : prolongation d'un an", created_at=now))
        box = svc.secret_box(TOTP_BOX)
        for username, name, unit_name, roles in USERS:
            user = User(
                username=username, display_name=name, email=f"{username}@demo.liaison.invalid",
                unit_id=units[unit_name].id, password_hash=svc.passwords.hash(DEMO_PASSWORD),
                must_change_password=False, created_at=now, totp_enrolled_at=now,
                totp_last_step=0,
            )
            s.add(user)
            s.flush()
            user.totp_secret = box.seal(demo_totp_secret(username).encode(),
                                        user.public_id.encode())
            s.add_all(UserRole(user_id=user.id, role=role) for role in roles)
            audit.record(s, "user.created", at=now, object_type="user", object_id=user.public_id)
    initialise_platform(svc)
    return True


def current_code(svc: Services, username: str) -> str | None:
    if username not in {row[0] for row in USERS}:
        return None
    return totp.code_at(demo_totp_secret(username), svc.clock.now())
