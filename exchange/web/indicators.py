"""The steering indicators on screen: the coordinator's space (their institution, and each
convention it is party to) and the unit manager's page for their unit.

The figures are de-identified (`exchange.statistics`); nothing here reads a person, a fiche or
an accompaniment. The filters are GET parameters naming a period and an axis only (``annee``,
``trimestre``, ``mois``, ``axe``). Each page, CSV export and annual report writes one audit
event. A convention's page shows the same figures to both of its parties.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from exchange import annual_report, statistics
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
from exchange.indicator_exports import Heading, axis_label, to_csv
from exchange.models.org import Convention, Institution, Unit
from exchange.statistics import Names
from exchange.web.helpers import record, services, unit_of_work

coordinator = Blueprint("coordinator", __name__, url_prefix="/pilotage")

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


def _conventions(s: Session, institution_id: int) -> list[Convention]:
    return list(s.scalars(select(Convention).where(
        Convention.id.in_([c.id for c in statistics.institution_conventions(s, institution_id)]))
        .options(selectinload(Convention.amendments), selectinload(Convention.institution_a),
                 selectinload(Convention.institution_b))
        .order_by(Convention.start_date, Convention.id)))


def _visible_convention(s: Session, public_id: str) -> Convention:
    """A convention the coordinator's institution is party to; 404 for any other."""
    for convention in _conventions(s, current_user.institution.id):
        if convention.public_id == public_id:
            return convention
    abort(404)


def _page(*, heading: str, scope_label: str, result: Indicators, names: Names,
          filters: Filters, export_url: str, years: list[int], **extra: Any) -> str:
    return render_template(
        "indicators/page.html", heading=heading, scope_label=scope_label, result=result,
        names=names, filters=filters, export_url=export_url, years=years, quarters=QUARTERS,
        months=[(m, month_label(date(2000, m, 1)).split()[0]) for m in range(1, 13)],
        axes=[(int(a), a.label) for a in Axis], axis_label=axis_label, day=french_date,
        month_label=month_label, number=number_fr, percent=percent_fr,
        status_labels=STATUS_LABELS, **extra)


def _csv(scope_label: str, result: Indicators, names: Names, name: str) -> Response:
    heading = Heading(scope=scope_label, indicators=result, generated_on=_today(),
                      threshold=services().settings.stats_mask_threshold)
    return Response(to_csv(heading, names), mimetype="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


# -- the coordinator -------------------------------------------------------------------------


def _institution_figures(s: Session, filters: Filters) -> tuple[Institution, Indicators]:
    institution = s.get(Institution, current_user.institution.id)
    assert institution is not None
    scope = Scope(institution=institution.id)
    return institution, statistics.indicators(s, scope, filters.period, _today(), filters.axis)


@coordinator.route("/")
def index() -> str:
    filters = _filters()
    with unit_of_work() as s:
        institution, result = _institution_figures(s, filters)
        conventions = _conventions(s, institution.id)
        names = Names.load(s)
        record(s, "indicators.viewed", object_type="institution",
               object_id=institution.public_id)
        return _page(heading="Indicateurs de pilotage",
                     scope_label=f"Institution : {institution.name}", result=result,
                     names=names, filters=filters,
                     export_url=url_for("coordinator.export", **filters.args()),
                     years=_years(conventions), conventions=conventions)


@coordinator.route("/export.csv")
def export() -> Response:
    filters = _filters()
    with unit_of_work() as s:
        institution, result = _institution_figures(s, filters)
        names = Names.load(s)
        record(s, "indicators.exported", object_type="institution",
               object_id=institution.public_id)
    return _csv(f"Institution : {institution.name}", result, names,
                f"indicateurs-institution-{institution.public_id[:8]}-{filters.slug}.csv")


def _convention_figures(s: Session, convention: Convention, period: Period,
                        axis: int | None) -> Indicators:
    return statistics.indicators(s, Scope(convention=convention.id), period, _today(), axis)


@coordinator.route("/conventions/<pid>")
def convention(pid: str) -> str:
    filters = _filters()
    with unit_of_work() as s:
        found = _visible_convention(s, pid)
        result = _convention_figures(s, found, filters.period, filters.axis)
        names = Names.load(s)
        record(s, "indicators.viewed", object_type="convention", object_id=found.public_id)
        return _page(heading="Indicateurs de la convention",
                     scope_label=f"Convention : {found.title}", result=result, names=names,
                     filters=filters,
                     export_url=url_for("coordinator.convention_export", pid=found.public_id,
                                        **filters.args()),
                     years=_years([found]), convention=found,
                     report_years=_report_years(found))


@coordinator.route("/conventions/<pid>/export.csv")
def convention_export(pid: str) -> Response:
    filters = _filters()
    with unit_of_work() as s:
        found = _visible_convention(s, pid)
        result = _convention_figures(s, found, filters.period, filters.axis)
        names = Names.load(s)
        record(s, "indicators.exported", object_type="convention", object_id=found.public_id)
    return _csv(f"Convention : {found.title}", result, names,
                f"indicateurs-convention-{found.public_id[:8]}-{filters.slug}.csv")


@coordinator.route("/conventions/<pid>/bilan-annuel-<int:year>.pdf")
def annual(pid: str, year: int) -> Response:
    with unit_of_work() as s:
        found = _visible_convention(s, pid)
        if year not in _report_years(found):
            abort(404)
        result = _convention_figures(s, found, Period(year), None)
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


def _unit_figures(s: Session, filters: Filters) -> tuple[Unit, Indicators, list[Convention]]:
    unit = s.get(Unit, current_user.unit_id)
    assert unit is not None
    result = statistics.indicators(s, Scope(unit=unit.id), filters.period, _today(),
                                   filters.axis)
    return unit, result, _conventions(s, unit.institution_id)


def unit_indicators() -> str:
    filters = _filters()
    with unit_of_work() as s:
        unit, result, conventions = _unit_figures(s, filters)
        names = Names.load(s)
        record(s, "indicators.viewed", object_type="unit", object_id=unit.public_id)
        return _page(heading="Indicateurs de la structure",
                     scope_label=f"Structure : {unit.name}", result=result, names=names,
                     filters=filters,
                     export_url=url_for("manager.indicators_export", **filters.args()),
                     years=_years(conventions))


def unit_export() -> Response:
    filters = _filters()
    with unit_of_work() as s:
        unit, result, _ = _unit_figures(s, filters)
        names = Names.load(s)
        record(s, "indicators.exported", object_type="unit", object_id=unit.public_id)
    return _csv(f"Structure : {unit.name}", result, names,
                f"indicateurs-structure-{unit.public_id[:8]}-{filters.slug}.csv")


def register_unit_views(manager: Blueprint) -> None:
    """The unit manager's page lives in their space (the guard reserves it to the role)."""
    manager.add_url_rule("/indicateurs/", "indicators", unit_indicators)
    manager.add_url_rule("/indicateurs/export.csv", "indicators_export", unit_export)
