"""The annual report of a convention for its comité de pilotage: a printable PDF (reportlab)
with its own charts — entries per month, exits by reason, the distribution of entry delays.

001 art. 3 asks for the "bilan annuel (qualitatif et quantitatif)" of year N "au plus tard au
1er trimestre de l'année N+1": the report of a closed year is final, that of the running year
is marked provisional. Everything in it is an export: small counts are masked (§ masking of
docs/indicators.md). It names institutions and units, never a person, and advisors only by
their opaque code.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

# Only escapes text for reportlab's paragraph markup; nothing is parsed.
from xml.sax.saxutils import escape  # nosec B406

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)
from reportlab.platypus.flowables import HRFlowable

from exchange.domain.dates import french_date
from exchange.domain.indicators import STATUS_LABELS, Indicators, mask, number_fr
from exchange.indicators.exports import Figures
from exchange.indicators.facts import Names
from exchange.platform.pdf import fonts

INK = colors.HexColor("#1b1b1b")
GREY = colors.HexColor("#5c5c5c")
RULE = colors.HexColor("#9a9a9a")
BLUE = colors.HexColor("#000091")
BAR = colors.HexColor("#2f5ea8")
MONTHS_SHORT = ("janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.",
                "oct.", "nov.", "déc.")
EXIT_SHORT = {
    "cdi": "CDI", "cdd_6_months_or_more": "CDD de 6 mois ou plus",
    "cdd_under_6_months": "CDD de moins de 6 mois", "business_creation": "Création d'entreprise",
    "qualifying_training": "Formation qualifiante", "other_accompaniment": "Autre accompagnement",
    "social_difficulties_solved": "Difficultés sociales résolues",
    "loss_of_contact": "Perte de contact", "moving": "Déménagement", "other": "Autre motif",
}


@dataclass(frozen=True)
class ReportSubject:
    """The convention the report is about, as the committee names it."""

    title: str
    parties: tuple[str, str]
    year: int
    generated_on: date
    threshold: int | None

    @property
    def final(self) -> bool:
        return self.generated_on.year > self.year

    @property
    def document_title(self) -> str:
        return f"Bilan annuel {self.year}"


class _Styles:
    def __init__(self) -> None:
        fonts.register()
        base = ParagraphStyle("body", fontName=fonts.REGULAR, fontSize=9.5, leading=12.5,
                              textColor=INK)
        self.body = base
        self.small = ParagraphStyle("small", parent=base, fontSize=8, leading=10,
                                    textColor=GREY)
        self.title = ParagraphStyle("title", parent=base, fontName=fonts.BOLD, fontSize=20,
                                    leading=24, textColor=BLUE, spaceAfter=4)
        self.subtitle = ParagraphStyle("subtitle", parent=base, fontName=fonts.BOLD,
                                       fontSize=12, leading=15, spaceAfter=6)
        self.h2 = ParagraphStyle("h2", parent=base, fontName=fonts.BOLD, fontSize=13,
                                 leading=16, textColor=BLUE, spaceBefore=12, spaceAfter=6)
        self.cell = ParagraphStyle("cell", parent=base, fontSize=9, leading=11)
        self.cell_bold = ParagraphStyle("cell_bold", parent=self.cell, fontName=fonts.BOLD)


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(fonts.printable(text)), style)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], styles: _Styles,
           widths: Sequence[float]) -> Table:
    data = [[_p(h, styles.cell_bold) for h in header]]
    data += [[_p(cell, styles.cell) for cell in row] for row in rows]
    table = Table(data, colWidths=list(widths), repeatRows=1, hAlign="LEFT")
    table.setStyle(TableStyle([
        ("LINEBELOW", (0, 0), (-1, 0), 1, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.3, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("TOPPADDING", (0, 0), (-1, -1), 3),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
    ]))
    return table


def _step(top: int) -> int:
    """A round gridline step (1, 2, 5, 10, 20, 50...) giving at most five lines up to ``top``."""
    step = 1
    for factor in itertools.cycle((2, 2.5, 2)):
        if step * 5 >= top:
            break
        step = int(step * factor)
    return step


def _bars(title: str, labels: Sequence[str], values: Sequence[int], threshold: int | None, *,
          horizontal: bool = False, width: float = 170 * mm, height: float = 70 * mm,
          axis_title: str = "") -> Drawing:
    """A bar chart of counts; a masked count draws no bar and is labelled "< 5"."""
    shown = [0 if threshold is not None and 0 < v < threshold else v for v in values]
    texts = [str(v) if threshold is None else mask(v, threshold) for v in values]
    drawing = Drawing(width, height)
    chart = HorizontalBarChart() if horizontal else VerticalBarChart()
    left = 52 * mm if horizontal else 14 * mm
    chart.x, chart.y = left, 14 * mm
    chart.width, chart.height = width - left - 8 * mm, height - 24 * mm
    chart.data = [shown]
    chart.bars[0].fillColor = BAR
    chart.bars[0].strokeColor = None
    chart.categoryAxis.categoryNames = [fonts.printable(label) for label in labels]
    chart.categoryAxis.labels.fontName = fonts.REGULAR
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.labels.fontName = fonts.REGULAR
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    step = _step(max(shown, default=0))
    chart.valueAxis.valueStep = step
    chart.valueAxis.valueMax = max(4, step * (max(shown, default=0) * 23 // (20 * step) + 1))
    chart.barLabelFormat = "values"  # the texts below, masked as the table cells are
    chart.barLabelArray = [texts]
    chart.barLabels.fontName = fonts.REGULAR
    chart.barLabels.fontSize = 7
    if horizontal:
        chart.categoryAxis.reverseDirection = 1
        chart.barLabels.boxAnchor = "w"
        chart.barLabels.dx = 3
    else:
        chart.barLabels.boxAnchor = "s"
        chart.barLabels.dy = 2
    drawing.add(chart)
    drawing.add(String(0, height - 8, fonts.printable(title), fontName=fonts.BOLD,
                       fontSize=10, fillColor=INK))
    if axis_title:
        drawing.add(String(left, 2, fonts.printable(axis_title), fontName=fonts.REGULAR,
                           fontSize=7, fillColor=GREY))
    return drawing


def _story(subject: ReportSubject, i: Indicators, names: Names,
           styles: _Styles) -> list[Flowable]:
    f = Figures(subject.threshold)
    n = f.count
    story: list[Flowable] = [
        _p(subject.document_title, styles.title),
        _p(subject.title, styles.subtitle),
        _p(f"Parties : {subject.parties[0]} et {subject.parties[1]}.", styles.body),
        _p(f"Période : du 1er janvier au 31 décembre {subject.year}.", styles.body),
        _p(f"Édité le {french_date(subject.generated_on)}. " + (
            f"Rapport définitif, à présenter au comité de pilotage au plus tard au "
            f"1er trimestre {subject.year + 1}." if subject.final else
            f"Rapport provisoire : l'année {subject.year} n'est pas close."), styles.body),
    ]
    if subject.threshold is not None:
        story.append(_p(
            f"Secret statistique : les effectifs de 1 à {subject.threshold - 1} sont affichés "
            f"« < {subject.threshold} » et les moyennes ou parts calculées sur moins de "
            f"{subject.threshold} éléments ne sont pas diffusées (n.d.).", styles.small))
    story.append(HRFlowable(width="100%", thickness=0.5, color=RULE, spaceBefore=6,
                            spaceAfter=4))

    d, c, x, r, m, o = i.delay, i.caseload, i.exits, i.rsa, i.midterm, i.orientations
    key = [
        ("Entrées en accompagnement", n(i.entries.total)),
        ("Délai moyen de la proposition à l'entrée (jours)", f.days(d.mean, d.entries)),
        ("Délai médian de la proposition à l'entrée (jours)", f.days(d.median, d.entries)),
        ("Part des entrées dans les 21 jours", f.share(d.share_within, d.entries)),
        (f"Personnes en accompagnement au {french_date(c.as_of)}", n(c.total_active)),
        ("File active moyenne par conseiller",
         f.ratio(number_fr(c.mean_active), c.total_active)),
        ("Cible par conseiller", c.band.label),
        ("Sorties", n(x.total)),
        ("Part des sorties positives (emploi, formation qualifiante)",
         f.share(x.share_positive, x.total)),
        ("Renouvellements", n(i.renewals)),
        ("Bilans à mi-parcours réalisés à temps", f"{n(m.on_time)} sur {n(m.done)}"),
        ("Part des bénéficiaires du RSA parmi les entrées",
         f.share(r.share, r.beneficiaries + r.not_beneficiaries)),
        ("Orientations envoyées", n(o.sent)),
        ("Orientations acceptées", n(o.accepted)),
        ("Orientations refusées", n(o.declined)),
        ("Orientations retirées par l'expéditeur", n(o.recalled)),
    ]
    story += [_p("Chiffres clés", styles.h2),
              _table(["Indicateur", str(subject.year)], key, styles, [125 * mm, 45 * mm])]

    story += [KeepTogether([
        _p("Entrées en accompagnement", styles.h2),
        _bars(f"Entrées par mois en {subject.year}", MONTHS_SHORT,
              [v for _, v in i.entries.by_month], subject.threshold),
        _table(["Trimestre", "Entrées"], [(f"T{q}", n(v)) for q, v in i.entries.by_quarter],
               styles, [60 * mm, 30 * mm])])]

    story += [KeepTogether([
        _p("Délai d'entrée en accompagnement", styles.h2),
        _p("Jours entre la proposition (envoi de l'orientation acceptée) et l'entrée "
           "effective. Objectif : 21 jours au plus.", styles.body),
        _bars("Répartition des délais d'entrée", [b for b, _ in i.delay_distribution],
              [v for _, v in i.delay_distribution], subject.threshold,
              axis_title="délai en jours")])]

    story += [KeepTogether([
        _p("Sorties par motif", styles.h2),
        _bars("Sorties de l'accompagnement par motif",
              [EXIT_SHORT.get(reason.value, reason.label) for reason, _ in x.by_reason],
              [v for _, v in x.by_reason], subject.threshold, horizontal=True,
              height=90 * mm)]),
        _table(["Motif de sortie", "Sorties", "Positive"],
               [(reason.label, n(v), "oui" if reason.is_positive else "non")
                for reason, v in x.by_reason], styles, [115 * mm, 25 * mm, 25 * mm])]

    directions = [(f"{names.institution(w.sender_institution_id)} vers "
                   f"{names.institution(w.receiving_institution_id)}", n(w.sent),
                   n(w.accepted), n(w.declined), n(w.recalled)) for w in o.directions]
    story += [KeepTogether([
        _p("Orientations", styles.h2),
        _table(["Sens", "Envoyées", "Acceptées", "Refusées", "Retirées"],
               directions or [("Aucune orientation", "0", "0", "0", "0")], styles,
               [74 * mm, 24 * mm, 24 * mm, 24 * mm, 24 * mm])]),
        Spacer(1, 4 * mm),
        _table(["Structure", "Envoyées", "Reçues", "Acceptées", "Refusées"],
               [(f"{names.unit(u.unit_id)}", n(u.sent), n(u.received), n(u.accepted),
                 n(u.declined)) for u in o.units] or [("Aucune structure", "0", "0", "0",
                                                       "0")],
               styles, [74 * mm, 24 * mm, 24 * mm, 24 * mm, 24 * mm]),
        Spacer(1, 4 * mm),
        _table(["Motif de refus", "Refus"],
               [(reason.label, n(v)) for reason, v in o.decline_reasons], styles,
               [140 * mm, 30 * mm])]

    story += [_p(f"File active par conseiller au {french_date(c.as_of)}", styles.h2),
              _p(f"Conseillers désignés par un code opaque. Cible : {c.band.label} personnes "
                 "par conseiller.", styles.body),
              _table(["Conseiller", "En accompagnement", f"Entrées {subject.year}", "Position"],
                     [(a.label, n(a.active), n(a.entries), STATUS_LABELS[a.status])
                      for a in c.advisors] or [("Aucun conseiller", "0", "0", "—")],
                     styles, [50 * mm, 35 * mm, 30 * mm, 55 * mm])]

    story += [_p("Définitions", styles.h2)] + [_p(text, styles.small) for text in (
        "Une entrée compte dans le mois de sa date d'entrée ; une sortie dans le mois de sa date "
        "de sortie ; une orientation dans le mois de son envoi, de son acceptation, de son refus "
        "ou de son retrait.",
        "Une personne est en accompagnement de sa date d'entrée incluse à sa date de sortie "
        "exclue ; la file active est celle du dernier jour de l'année (ou d'aujourd'hui pour "
        "l'année en cours).",
        "Sortie positive : emploi (CDI, CDD, création d'entreprise) ou formation qualifiante.",
        "Bilan à mi-parcours à temps : réalisé au plus tard 15 jours après les 6 mois suivant "
        "l'entrée.",
        "Part des bénéficiaires du RSA : parmi les entrées dont le statut est connu.",
        "Chiffres calculés à partir de données statistiques dé-identifiées, conservées après "
        "la suppression des données personnelles (référentiel des indicateurs de Liaison).",
    )]
    return story


def _page(canvas: Canvas, doc: SimpleDocTemplate, label: str) -> None:
    canvas.saveState()
    canvas.setFont(fonts.REGULAR, 7.5)
    canvas.setFillColor(GREY)
    canvas.drawString(20 * mm, 12 * mm, fonts.printable(label))
    canvas.drawRightString(A4[0] - 20 * mm, 12 * mm, f"Page {doc.page}")
    canvas.restoreState()


def render(subject: ReportSubject, indicators: Indicators, names: Names) -> bytes:
    """The report's PDF bytes."""
    styles = _Styles()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer, pagesize=A4, leftMargin=20 * mm, rightMargin=20 * mm, topMargin=18 * mm,
        bottomMargin=20 * mm, title=f"{subject.document_title} — {subject.title}",
        author="Liaison", subject="Indicateurs de pilotage de la convention",
        lang="fr-FR", invariant=1)
    footer = f"Liaison — {subject.document_title} — données statistiques dé-identifiées"

    def on_page(canvas: Canvas, document: SimpleDocTemplate) -> None:
        _page(canvas, document, footer)

    doc.build(_story(subject, indicators, names, styles), onFirstPage=on_page,
              onLaterPages=on_page)
    return buffer.getvalue()
