"""The indicators as they leave the portal: a CSV table for a spreadsheet.

Small counts are masked and means or shares over few items withheld (docs/indicators.md,
§ masking); every cell that a spreadsheet could read as a formula is neutralised. The rows are
also what the annual report prints, so both exports say the same thing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from exchange.domain.dates import french_date
from exchange.domain.indicators import (
    STATUS_LABELS,
    Indicators,
    mask,
    masked_ratio,
    month_label,
    number_fr,
    percent_fr,
)
from exchange.domain.vocabulary import Axis
from exchange.indicators.facts import Names

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """The cell's text, with an apostrophe before a leading formula character."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def axis_label(axis: int | None) -> str:
    return "Tous les axes" if axis is None else Axis(axis).label


@dataclass(frozen=True)
class Heading:
    """What the export is about: whose figures, for which period and axis, when."""

    scope: str
    indicators: Indicators
    generated_on: date
    threshold: int | None


class Figures:
    """Counts and ratios as an export shows them: masked under the threshold."""

    def __init__(self, threshold: int | None) -> None:
        self.threshold = threshold

    def count(self, value: int) -> str:
        return str(value) if self.threshold is None else mask(value, self.threshold)

    def ratio(self, text: str, denominator: int) -> str:
        return masked_ratio(text, denominator, self.threshold)

    def share(self, value: float | None, denominator: int) -> str:
        return self.ratio(percent_fr(value), denominator)

    def days(self, value: float | None, denominator: int) -> str:
        return self.ratio(number_fr(value), denominator)


def rows(heading: Heading, names: Names) -> Iterator[tuple[str, str, str]]:
    """(indicator, detail, value) for every indicator of docs/indicators.md."""
    i = heading.indicators
    f = Figures(heading.threshold)
    o = i.orientations
    yield "Orientations envoyées", "Total", f.count(o.sent)
    yield "Orientations acceptées", "Total", f.count(o.accepted)
    yield "Orientations refusées", "Total", f.count(o.declined)
    yield "Orientations retirées par l'expéditeur", "Total", f.count(o.recalled)
    for d in o.directions:
        way = f"{names.institution(d.sender_institution_id)} → " \
              f"{names.institution(d.receiving_institution_id)}"
        yield "Orientations par sens", f"{way} : envoyées", f.count(d.sent)
        yield "Orientations par sens", f"{way} : acceptées", f.count(d.accepted)
        yield "Orientations par sens", f"{way} : refusées", f.count(d.declined)
        yield "Orientations par sens", f"{way} : retirées", f.count(d.recalled)
    for u in o.units:
        unit = f"{names.unit(u.unit_id)} ({names.institution(u.institution_id)})"
        yield "Orientations par structure", f"{unit} : envoyées", f.count(u.sent)
        yield "Orientations par structure", f"{unit} : reçues", f.count(u.received)
        yield "Orientations par structure", f"{unit} : acceptées", f.count(u.accepted)
        yield "Orientations par structure", f"{unit} : refusées", f.count(u.declined)
    for reason, n in o.decline_reasons:
        yield "Refus par motif", reason.label, f.count(n)
    e = i.entries
    yield "Entrées en accompagnement", "Total", f.count(e.total)
    if len(e.by_month) > 1:
        for month, n in e.by_month:
            yield "Entrées par mois", month_label(month), f.count(n)
    if len(e.by_quarter) > 1:
        for quarter, n in e.by_quarter:
            yield "Entrées par trimestre", f"T{quarter}", f.count(n)
    d = i.delay
    yield "Délai proposition → entrée", "Moyenne (jours)", f.days(d.mean, d.entries)
    yield "Délai proposition → entrée", "Médiane (jours)", f.days(d.median, d.entries)
    yield "Délai proposition → entrée", "Entrées dans les 21 jours", f.count(d.within_target)
    yield "Délai proposition → entrée", "Part des entrées dans les 21 jours", \
        f.share(d.share_within, d.entries)
    for band, n in i.delay_distribution:
        yield "Répartition des délais", band, f.count(n)
    c = i.caseload
    when = french_date(c.as_of)
    yield f"File active au {when}", "Personnes en accompagnement", f.count(c.total_active)
    yield f"File active au {when}", "Moyenne par conseiller", \
        f.ratio(number_fr(c.mean_active), c.total_active)
    yield f"File active au {when}", "Cible par conseiller", c.band.label
    for load in c.advisors:
        yield f"File active au {when}", load.label, \
            f"{f.count(load.active)} ({STATUS_LABELS[load.status]})"
        yield "Entrées de la période par conseiller", load.label, f.count(load.entries)
    x = i.exits
    yield "Sorties", "Total", f.count(x.total)
    for reason, n in x.by_reason:
        yield "Sorties par motif", reason.label, f.count(n)
    yield "Sorties positives (emploi ou formation qualifiante)", "Effectif", f.count(x.positive)
    yield "Sorties positives (emploi ou formation qualifiante)", "Part des sorties", \
        f.share(x.share_positive, x.total)
    yield "Renouvellements", "Total", f.count(i.renewals)
    m = i.midterm
    yield "Bilans à mi-parcours", "Réalisés", f.count(m.done)
    yield "Bilans à mi-parcours", "Réalisés à temps", f.count(m.on_time)
    yield "Bilans à mi-parcours", "Part réalisée à temps", f.share(m.share_on_time, m.done)
    r = i.rsa
    yield "Bénéficiaires du RSA parmi les entrées", "Effectif", f.count(r.beneficiaries)
    yield "Bénéficiaires du RSA parmi les entrées", "Statut inconnu", f.count(r.unknown)
    yield "Bénéficiaires du RSA parmi les entrées", "Part (statut connu)", \
        f.share(r.share, r.beneficiaries + r.not_beneficiaries)


def to_csv(heading: Heading, names: Names) -> bytes:
    """Semicolon-separated UTF-8 with a byte-order mark, as French spreadsheets open it."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    i = heading.indicators
    preamble = [
        ("Indicateurs de pilotage — Liaison", ""),
        ("Périmètre", heading.scope),
        ("Période", i.period.label),
        ("Axe", axis_label(i.axis)),
        ("Édité le", french_date(heading.generated_on)),
        ("Définitions", "docs/indicators.md"),
    ]
    if heading.threshold is not None:
        preamble.append(("Secret statistique", f"effectifs de 1 à {heading.threshold - 1} "
                         f"affichés « < {heading.threshold} »; moyennes et parts sur moins de "
                         f"{heading.threshold} éléments non diffusées (n.d.)"))
    for row in preamble:
        writer.writerow([safe_cell(cell) for cell in row])
    writer.writerow([])
    writer.writerow(["Indicateur", "Détail", "Valeur"])
    for row in rows(heading, names):
        writer.writerow([safe_cell(cell) for cell in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")
