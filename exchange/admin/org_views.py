"""Administration of institutions and their units (structures)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response

from exchange.accounts.models import User
from exchange.admin.page_views import one, page, prefilled, save_changes
from exchange.org.keysetup import ensure_institution_keys
from exchange.org.models import Convention, Institution, Unit
from exchange.platform.current import services
from exchange.web.forms import InstitutionForm, UnitForm, refuse
from exchange.web.helpers import reading, record, unit_of_work
from keys.errors import KeyNotFound
from keys.records import ENCRYPTION, INSTITUTION_PURPOSES, PDF_SIGNING, SIGNING

KEY_PURPOSES = {
    ENCRYPTION: "Chiffrement (HPKE ML-KEM-768 + X25519)",
    SIGNING: "Signature des fiches (Ed25519)",
    PDF_SIGNING: "Signature PAdES des PDF (certificat ECDSA P-256)",
}
NAME_TAKEN = "Une institution porte déjà ce nom."
UNIT_NAME_TAKEN = "Cette institution a déjà une structure de ce nom."


def institutions() -> str:
    with reading() as s:
        rows = s.scalars(select(Institution).options(selectinload(Institution.units))
                         .order_by(Institution.name)).all()
        return render_template("admin/institutions.html", institutions=rows)


def institution(pid: str) -> str:
    with reading() as s:
        inst = one(s, Institution, pid)
        conventions = s.scalars(
            select(Convention)
            .where(or_(Convention.institution_a_id == inst.id,
                       Convention.institution_b_id == inst.id))
            .options(selectinload(Convention.amendments),
                     selectinload(Convention.institution_a),
                     selectinload(Convention.institution_b))
            .order_by(Convention.start_date)).all()
        users = {unit_id: n for unit_id, n in s.execute(
            select(User.unit_id, func.count()).join(Unit, User.unit_id == Unit.id)
            .where(Unit.institution_id == inst.id, User.active.is_(True))
            .group_by(User.unit_id))}
        return render_template("admin/institution.html", institution=inst,
                               conventions=conventions, users=users,
                               keys=_keys(s, inst), today=services().clock.today())


def _keys(s: Session, inst: Institution) -> list[tuple[str, Any]]:
    """The current version of each of the institution's keys (None where one is missing)."""
    records = services().keystore(s).records
    found: list[tuple[str, Any]] = []
    for purpose in INSTITUTION_PURPOSES:
        try:
            found.append((KEY_PURPOSES.get(purpose, purpose),
                          records.current(inst.key_owner, purpose)))
        except KeyNotFound:
            found.append((KEY_PURPOSES.get(purpose, purpose), None))
    return found


def _name_taken(s: Session, name: str, but: int | None = None) -> bool:
    query = select(Institution.id).where(func.lower(Institution.name) == name.lower())
    if but is not None:
        query = query.where(Institution.id != but)
    return s.scalar(query) is not None


def _institution_values(form: InstitutionForm) -> dict[str, Any]:
    return {name: getattr(form, name).data
            for name in ("kind", "name", "siret", "dpo_name", "dpo_email", "dpo_address")}


def institution_new() -> Response | tuple[str, int]:
    form = InstitutionForm()
    if form.validate_on_submit():
        with unit_of_work() as s:
            if _name_taken(s, form.name.data):
                refuse(form.name, NAME_TAKEN)
            else:
                inst = Institution(**_institution_values(form), created_at=services().clock.now())
                s.add(inst)
                s.flush()
                record(s, "institution.created", object_type="institution",
                       object_id=inst.public_id)
                ensure_institution_keys(services(), s, inst)
                flash("Institution créée, avec ses clés de chiffrement et de signature.",
                      "success")
                return redirect(url_for("admin.institution", pid=inst.public_id))
    return page("admin/institution_form.html", form, institution=None)


def institution_edit(pid: str) -> Response | tuple[str, int]:
    with unit_of_work() as s:
        inst = one(s, Institution, pid)
        form = prefilled(InstitutionForm, {
            "kind": inst.kind, "name": inst.name, "siret": inst.siret,
            "dpo_name": inst.dpo_name, "dpo_email": inst.dpo_email,
            "dpo_address": inst.dpo_address})
        if form.validate_on_submit():
            if _name_taken(s, form.name.data, but=inst.id):
                refuse(form.name, NAME_TAKEN)
            else:
                save_changes(s, inst, _institution_values(form), "institution.updated",
                             "Institution modifiée.")
                return redirect(url_for("admin.institution", pid=inst.public_id))
        return page("admin/institution_form.html", form, institution=inst)


def _unit_name_taken(s: Session, institution_id: int, name: str, but: int | None = None) -> bool:
    query = select(Unit.id).where(Unit.institution_id == institution_id,
                                  func.lower(Unit.name) == name.lower())
    if but is not None:
        query = query.where(Unit.id != but)
    return s.scalar(query) is not None


def _unit_values(form: UnitForm) -> dict[str, Any]:
    return {"kind": form.kind.data, "name": form.name.data, "email": form.email.data or ""}


def unit_new(pid: str) -> Response | tuple[str, int]:
    with unit_of_work() as s:
        inst = one(s, Institution, pid)
        form = UnitForm()
        if form.validate_on_submit():
            if _unit_name_taken(s, inst.id, form.name.data):
                refuse(form.name, UNIT_NAME_TAKEN)
            else:
                unit = Unit(institution_id=inst.id, **_unit_values(form),
                            created_at=services().clock.now())
                s.add(unit)
                s.flush()
                record(s, "unit.created", object_type="unit", object_id=unit.public_id)
                flash("Structure créée.", "success")
                return redirect(url_for("admin.institution", pid=inst.public_id))
        return page("admin/unit_form.html", form, institution=inst, unit=None)


def unit_edit(pid: str) -> Response | tuple[str, int]:
    with unit_of_work() as s:
        unit = one(s, Unit, pid)
        form = prefilled(UnitForm, {"kind": unit.kind, "name": unit.name, "email": unit.email})
        if form.validate_on_submit():
            if _unit_name_taken(s, unit.institution_id, form.name.data, but=unit.id):
                refuse(form.name, UNIT_NAME_TAKEN)
            else:
                save_changes(s, unit, _unit_values(form), "unit.updated", "Structure modifiée.")
                return redirect(url_for("admin.institution", pid=unit.institution.public_id))
        return page("admin/unit_form.html", form, institution=unit.institution, unit=unit)
