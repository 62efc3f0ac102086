"""The steering indicators on screen: the coordinator's space (their institution, and each
convention it is party to) and the unit manager's page for their unit.

The figures are de-identified (`exchange.indicators.facts`); nothing here reads a person, a fiche or
an accompaniment. The filters are GET parameters naming a period and an axis only (``annee``,
``trimestre``, ``mois``, ``axe``). Each page, CSV export and annual report writes one audit
event. A convention's page shows the same figures to both of its parties.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session

from exchange.domain.dates import french_date
from exchange.domain.indicators import (
    STATUS_LABELS,
    Indicators,
    Period,
    Scope,
    month_label,
    number_fr,
    percent_fr,
)
from exchange.domain.vocabulary import Axis
from exchange.indicators import annual_report
from exchange.indicators import facts as statistics
from exchange.indicators.exports import Heading, axis_label, to_csv
from exchange.indicators.facts import Names
from exchange.org.models import Convention, Institution, Unit
from exchange.platform.current import services
from exchange.web.helpers import record, unit_of_work

coordinator = Blueprint("coordinator", __name__, url_prefix="/pilotage")
# The unit manager's indicators, under the manager's space.
unit = Blueprint("unit_indicators", __name__, url_prefix="/responsable/indicateurs")

QUARTERS = [(1, "1er trimestre"), (2, "2e trimestre"), (3, "3e trimestre"),
            (4, "4e trimestre")]


@dataclass(frozen=True)
class Filters:
    period: Period
    axis: int | None

    def args(self) -> dict[str, str]:
        """The same filters as query parameters, for the export link."""
        args = {"annee": str(self.period.year)}
        if self.period.quarter is not None:
            args["trimestre"] = str(self.period.quarter)
        if self.period.month is not None:
            args["mois"] = str(self.period.month)
        if self.axis is not None:
            args["axe"] = str(self.axis)
        return args

    @property
    def slug(self) -> str:
        return self.period.slug + (f"-axe{self.axis}" if self.axis is not None else "")


def _filters() -> Filters:
    """The period and axis asked for; 400 when a parameter is not one of the offered values."""
    today = services().clock.today()
    args = request.args
    try:
        period = Period.parse(args.get("annee"), args.get("trimestre"), args.get("mois"),
                              today.year)
        axe = (args.get("axe") or "").strip()
        axis = int(Axis(int(axe))) if axe else None
    except ValueError:
        abort(400)
    if period.year > today.year:
        abort(400)
    return Filters(period, axis)


def _today() -> date:
    return services().clock.today()


def _years(conventions: list[Convention]) -> list[int]:
    today = _today()
    first = min((c.start_date.year for c in conventions), default=today.year)
    return list(range(today.year, min(first, today.year) - 1, -1))


def _report_years(convention: Convention) -> list[int]:
    """The years the convention ran in, up to this one."""
    today = _today()
    last = min(convention.effective_end_date.year, today.year)
    return list(range(last, convention.start_date.year - 1, -1))


def _visible_convention(s: Session, public_id: str) -> Convention:
    """A convention the coordinator's institution is party to; 404 for any other."""
    for convention in statistics.institution_conventions(s, current_user.institution.id):
        if convention.public_id == public_id:
            return convention
    abort(404)


@dataclass(frozen=True)
class Subject:
    """Whose figures a page shows: the audit object, the scope, its label and the conventions
    that give the years on offer."""

    kind: str  # institution, convention or unit: the audit event's object type
    public_id: str
    scope: Scope
    label: str
    conventions: list[Convention]

    @property
    def file_stem(self) -> str:
        names = {"institution": "institution", "convention": "convention", "unit": "structure"}
        return f"indicateurs-{names[self.kind]}-{self.public_id[:8]}"


def _institution(s: Session) -> Subject:
    institution = s.get(Institution, current_user.institution.id)
    assert institution is not None
    return Subject("institution", institution.public_id, Scope(institution=institution.id),
                   f"Institution : {institution.name}",
                   statistics.institution_conventions(s, institution.id))


def _convention(s: Session, pid: str) -> Subject:
    found = _visible_convention(s, pid)
    return Subject("convention", found.public_id, Scope(convention=found.id),
                   f"Convention : {found.title}", [found])


def _unit(s: Session) -> Subject:
    unit = s.get(Unit, current_user.unit_id)
    assert unit is not None
    return Subject("unit", unit.public_id, Scope(unit=unit.id), f"Structure : {unit.name}",
                   statistics.institution_conventions(s, unit.institution_id))


def _figures(s: Session, subject: Subject, filters: Filters,
             action: str) -> tuple[Indicators, Names]:
    """The subject's indicators, with the one audit event of the view or export."""
    result = statistics.indicators(s, subject.scope, filters.period, _today(), filters.axis)
    record(s, action, object_type=subject.kind, object_id=subject.public_id)
    return result, Names.load(s)


def _page(s: Session, subject: Subject, heading: str, export: str, **extra: Any) -> str:
    filters = _filters()
    result, names = _figures(s, subject, filters, "indicators.viewed")
    return render_template(
        "indicators/page.html", heading=heading, scope_label=subject.label, result=result,
        names=names, filters=filters,
        export_url=url_for(export, **extra.pop("export_args", {}), **filters.args()),
        years=_years(subject.conventions), quarters=QUARTERS,
        months=[(m, month_label(date(2000, m, 1)).split()[0]) for m in range(1, 13)],
        axes=[(int(a), a.label) for a in Axis], axis_label=axis_label, day=french_date,
        month_label=month_label, number=number_fr, percent=percent_fr,
        status_labels=STATUS_LABELS, **extra)


def _csv(find: Callable[[Session], Subject]) -> Response:
    filters = _filters()
    with unit_of_work() as s:
        subject = find(s)
        result, names = _figures(s, subject, filters, "indicators.exported")
    heading = Heading(scope=subject.label, indicators=result, generated_on=_today(),
                      threshold=services().settings.stats_mask_threshold)
    name = f"{subject.file_stem}-{filters.slug}.csv"
    return Response(to_csv(heading, names), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- the coordinator -------------------------------------------------------------------------


@coordinator.route("/")
def index() -> str:
    with unit_of_work() as s:
        subject = _institution(s)
        return _page(s, subject, "Indicateurs de pilotage", "coordinator.export",
                     conventions=subject.conventions)


@coordinator.route("/export.csv")
def export() -> Response:
    return _csv(_institution)


@coordinator.route("/conventions/<pid>")
def convention(pid: str) -> str:
    with unit_of_work() as s:
        subject = _convention(s, pid)
        found = subject.conventions[0]
        return _page(s, subject, "Indicateurs de la convention", "coordinator.convention_export",
                     export_args={"pid": pid}, convention=found,
                     report_years=_report_years(found))


@coordinator.route("/conventions/<pid>/export.csv")
def convention_export(pid: str) -> Response:
    return _csv(lambda s: _convention(s, pid))


@coordinator.route("/conventions/<pid>/bilan-annuel-<int:year>.pdf")
def annual(pid: str, year: int) -> Response:
    with unit_of_work() as s:
        found = _visible_convention(s, pid)
        if year not in _report_years(found):
            abort(404)
        result = statistics.indicators(s, Scope(convention=found.id), Period(year), _today())
        names = Names.load(s)
        subject = annual_report.ReportSubject(
            title=found.title, parties=(found.institution_a.name, found.institution_b.name),
            year=year, generated_on=_today(),
            threshold=services().settings.stats_mask_threshold)
        record(s, "report.downloaded", object_type="convention", object_id=found.public_id)
    pdf = annual_report.render(subject, result, names)
    name = f"bilan-annuel-{year}-convention-{found.public_id[:8]}.pdf"
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- the unit manager ------------------------------------------------------------------------


@unit.route("/")
def unit_indicators() -> str:
    with unit_of_work() as s:
        return _page(s, _unit(s), "Indicateurs de la structure", "unit_indicators.unit_export")


@unit.route("/export.csv")
def unit_export() -> Response:
    return _csv(_unit)


