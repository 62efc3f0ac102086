"""What the fiche and accompaniment pages share: the acting context, the form generated from
``FORM_FIELDS``, the reasons offered in selects, and French formatting of dates.

The forms here are plain HTML fields read from ``request.form``: the domain validates them
(``ValidationFailed.errors`` gives the message to show next to each field), and CSRFProtect
checks the token of every POST before a view runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import abort, flash, request
from werkzeug.datastructures import MultiDict

from exchange.acting import Context
from exchange.domain import fiches as rules
from exchange.domain.clock import PARIS
from exchange.domain.dates import french_date
from exchange.domain.errors import ValidationFailed
from exchange.domain.fields import TEXT_MAX_LENGTH, parse_iso_date
from exchange.domain.vocabulary import (
    Axis,
    CancelReason,
    DeclineReason,
    ExitReason,
    FicheKind,
    FicheState,
    RecallReason,
    SocialBarrier,
    choices,
)

PUBLIC_ID = re.compile(r"\A[0-9a-f]{32}\Z")

REASONS = {
    "decline": choices(DeclineReason),
    "recall": choices(RecallReason),
    "cancel": choices(CancelReason),
    "exit": choices(ExitReason),
}

# Labels of the small forms' fields, for the messages shown when one comes back with errors.
FIELD_LABELS = {
    "reason": "Motif", "text": "Précisions", "entry_date": "Date d'entrée",
    "exit_date": "Date de sortie", "exit_reason": "Motif de sortie", "exit_text": "Précisions",
    "midterm_date": "Date du bilan à mi-parcours", "kind": "Type de fiche",
    "unit": "Destinataire", "accompaniment": "Accompagnement", "file": "Fichier",
}



def public_id(value: str) -> str:
    """A public id from the URL or a form; anything else is a page that does not exist."""
    if not PUBLIC_ID.match(value or ""):
        abort(404)
    return value


def refuse(ctx: Context, message: str | None, *, action: str, object_type: str,
           object_id: str) -> None:
    """Undo what the refused action wrote, record the refusal (one event, outcome "refused"),
    and flash why, when there is something to say beyond the page itself."""
    ctx.session.rollback()
    ctx.record(action, object_type=object_type, object_id=object_id, outcome="refused")
    if message:
        flash(message, "error")


def flash_errors(exc: ValidationFailed) -> None:
    """The messages of a small form (one reason, one date) as one flash."""
    parts = [f"{FIELD_LABELS.get(name, name)} : {text}" for name, text in exc.errors.items()]
    flash(" ".join(parts) or exc.message, "error")


# -- the fiche's own form -----------------------------------------------------------------------


@dataclass(frozen=True)
class FieldView:
    """One field of the fiche's form, ready for the template."""

    name: str
    label: str
    type: str
    required: bool
    value: Any
    error: str | None = None
    options: list[tuple[str, str]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"champ-{self.name}"


def _options(kind: str) -> list[tuple[str, str]]:
    if kind == "barriers":
        return choices(SocialBarrier)
    if kind == "exit_reason":
        return choices(ExitReason)
    return []


def content_fields(kind: FicheKind, values: Mapping[str, Any],
                   errors: Mapping[str, str] | None = None) -> list[FieldView]:
    errors = errors or {}
    views = []
    for f in rules.FORM_FIELDS[kind]:
        value = values.get(f.name)
        if f.type == "barriers":
            value = [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
        elif not isinstance(value, str):
            value = ""
        views.append(FieldView(f.name, f.label, f.type, f.required, value,
                               errors.get(f.name), _options(f.type)))
    return views


def posted_content(kind: FicheKind, form: MultiDict[str, str]) -> dict[str, str | list[str]]:
    """The fiche's fields as posted: lists for the barriers, strings otherwise (the domain
    checks lengths and values; the browser's limits are a convenience only)."""
    values: dict[str, str | list[str]] = {}
    for f in rules.FORM_FIELDS[kind]:
        if f.type == "barriers":
            values[f.name] = form.getlist(f.name)
        else:
            values[f.name] = form.get(f.name, "")
    return values


def posted_day(name: str) -> date | None:
    return parse_iso_date(request.form.get(name, ""))


# -- formatting ---------------------------------------------------------------------------------


def day(value: date | None) -> str:
    return french_date(value) if value else "—"


def when(value: datetime | None) -> str:
    if value is None:
        return "—"
    local = value.astimezone(PARIS)
    return f"{french_date(local.date())} à {local:%H:%M}"


def when_iso(value: str | None) -> str:
    try:
        return when(datetime.fromisoformat(value)) if value else "—"
    except ValueError:
        return "—"


def day_iso(value: str | None) -> str:
    parsed = parse_iso_date(value)
    return french_date(parsed) if parsed else (value or "—")


def _label(enum: Any, value: Any) -> str:
    try:
        return str(enum(value).label)
    except (ValueError, KeyError):
        return str(value) if value is not None else "—"


def reference(public: str) -> str:
    """The short reference printed on the PDF and shown on the pages."""
    return public[:8].upper()


FORMAT = {
    "day": day, "when": when, "when_iso": when_iso, "day_iso": day_iso, "reference": reference,
    "kind_label": lambda v: _label(FicheKind, v),
    "state_label": lambda v: _label(FicheState, v),
    "axis_label": lambda v: _label(Axis, int(v) if v is not None else v),
    "barrier_label": lambda v: _label(SocialBarrier, v),
    "exit_label": lambda v: _label(ExitReason, v),
    "decline_label": lambda v: _label(DeclineReason, v),
    "recall_label": lambda v: _label(RecallReason, v),
    "cancel_label": lambda v: _label(CancelReason, v),
    "reasons": REASONS, "text_max": TEXT_MAX_LENGTH,
}
