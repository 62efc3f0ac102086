"""Administration of conventions and their amendments (avenants)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from exchange.admin.page_views import one, page, prefilled, save_changes
from exchange.org.models import Convention, ConventionAmendment, Institution
from exchange.platform.current import services
from exchange.web.forms import BLANK_CHOICE, AmendmentForm, ConventionForm, refuse
from exchange.web.helpers import reading, record, unit_of_work

SETTINGS = ("title", "start_date", "end_date", "axis2", "axis3", "retention_axis2_months",
            "retention_axis3_months", "grace_days", "countersign_required", "caseload_target")


def _fr(day: Any) -> str:
    return f"{day:%d/%m/%Y}"


def _loaded() -> Any:
    return (selectinload(Convention.amendments), selectinload(Convention.institution_a),
            selectinload(Convention.institution_b))


def conventions() -> str:
    with reading() as s:
        rows = s.scalars(select(Convention).options(*_loaded())
                         .order_by(Convention.start_date.desc(), Convention.title)).all()
        return render_template("admin/conventions.html", conventions=rows,
                               today=services().clock.today())


def convention(pid: str) -> str:
    with reading() as s:
        row = one(s, Convention, pid)
        return render_template("admin/convention.html", convention=row,
                               today=services().clock.today())


def _parties(s: Session, form: ConventionForm) -> dict[str, Institution]:
    """Offer every institution (by public id) to both party fields."""
    rows = s.scalars(select(Institution).order_by(Institution.name)).all()
    options = [BLANK_CHOICE, *(SelectChoice(i.public_id, i.name) for i in rows)]
    form.party_a.choices = options
    form.party_b.choices = options
    return {i.public_id: i for i in rows}


def _values(form: ConventionForm, parties: dict[str, Institution]) -> dict[str, Any]:
    values = {name: getattr(form, name).data for name in SETTINGS}
    values["institution_a_id"] = parties[form.party_a.data].id
    values["institution_b_id"] = parties[form.party_b.data].id
    return values


def convention_new() -> Response | tuple[str, int]:
    with unit_of_work() as s:
        form = ConventionForm()
        parties = _parties(s, form)
        if form.validate_on_submit():
            row = Convention(**_values(form, parties), created_at=services().clock.now())
            s.add(row)
            s.flush()
            record(s, "convention.created", object_type="convention", object_id=row.public_id)
            flash("Convention créée.", "success")
            return redirect(url_for("admin.convention", pid=row.public_id))
        return page("admin/convention_form.html", form, convention=None)


def convention_edit(pid: str) -> Response | tuple[str, int]:
    with unit_of_work() as s:
        row = one(s, Convention, pid)
        initial = {name: getattr(row, name) for name in SETTINGS}
        initial.update(party_a=row.institution_a.public_id, party_b=row.institution_b.public_id)
        form = prefilled(ConventionForm, initial)
        parties = _parties(s, form)
        if form.validate_on_submit():
            earliest = min((a.new_end_date for a in row.amendments), default=None)
            if earliest is not None and form.start_date.data > earliest:
                refuse(form.start_date, "La date de début ne peut être postérieure à la date de "
                                        f"fin fixée par un avenant ({_fr(earliest)}).")
            else:
                save_changes(s, row, _values(form, parties), "convention.updated",
                             "Convention modifiée.")
                return redirect(url_for("admin.convention", pid=row.public_id))
        return page("admin/convention_form.html", form, convention=row)


def convention_amend(pid: str) -> Response | tuple[str, int]:
    with unit_of_work() as s:
        row = one(s, Convention, pid)
        form = AmendmentForm()
        if form.validate_on_submit():
            last = row.amendments[-1] if row.amendments else None
            if form.new_end_date.data < row.start_date:
                refuse(form.new_end_date, "La nouvelle date de fin doit être postérieure ou égale "
                                          f"au début de la convention ({_fr(row.start_date)}).")
            # The latest avenant by signature date sets the end date: a new one must be later.
            if last is not None and form.signed_on.data <= last.signed_on:
                refuse(form.signed_on, "L'avenant doit être signé après le précédent avenant "
                                       f"(signé le {_fr(last.signed_on)}).")
            if not form.errors:
                row.amendments.append(ConventionAmendment(
                    signed_on=form.signed_on.data, new_end_date=form.new_end_date.data,
                    note=form.note.data or "", created_at=services().clock.now()))
                s.flush()
                record(s, "convention.amended", object_type="convention",
                       object_id=row.public_id)
                flash("Avenant enregistré : la convention prend fin le "
                      f"{_fr(form.new_end_date.data)}.", "success")
                return redirect(url_for("admin.convention", pid=row.public_id))
        return page("admin/amendment_form.html", form, convention=row)
