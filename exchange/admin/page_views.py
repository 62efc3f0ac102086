"""What the administration views share: finding a row by its public id, prefilled forms, the
answer to an invalid form."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import abort, flash, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from exchange.web.forms import AdminForm
from exchange.web.helpers import record

Row = TypeVar("Row")
FormT = TypeVar("FormT", bound=AdminForm)


def one(session: Session, model: type[Row], public_id: str) -> Row:
    """The row with this public id; 404 when there is none (ids in URLs are never names)."""
    column = model.public_id  # type: ignore[attr-defined]
    row = session.scalar(select(model).where(column == public_id))
    if row is None:
        abort(404)
    return row


def prefilled(form_class: type[FormT], initial: dict[str, Any]) -> FormT:
    """The form showing the current values on GET, and only what was posted on POST."""
    if request.method == "POST":
        return form_class()
    return form_class(data=initial)


def page(template: str, form: AdminForm, **context: Any) -> tuple[str, int]:
    """A form page: 200 when first shown, 400 when it comes back with errors."""
    return render_template(template, form=form, **context), 400 if form.errors else 200


def apply_changes(row: object, values: dict[str, Any]) -> bool:
    """Set the attributes that differ; True when something changed."""
    changed = False
    for name, value in values.items():
        if getattr(row, name) != value:
            setattr(row, name, value)
            changed = True
    return changed


def save_changes(session: Session, row: Any, values: dict[str, Any], action: str, done: str, *,
                 changed: bool = False) -> None:
    """Apply an edit form; one audit event when something changed (`changed`: already did)."""
    if apply_changes(row, values) or changed:
        record(session, action, object_type=action.split(".")[0], object_id=row.public_id)
        flash(done, "success")
    else:
        flash("Aucune modification à enregistrer.", "info")
