"""The PDF of a fiche de liaison: A4, French, real text in an embedded font, with title, author,
subject and language metadata, a bookmark outline, a confidentiality header and a ``page x/y``
footer on every page.

:func:`render_fiche_pdf` draws what the caller put in a :class:`FicheDocument` (plain strings,
already worded in French) and nothing else. The same document gives byte-identical PDFs
(reportlab's ``invariant`` mode fixes the dates and the document id), which is what lets a
test or an auditor re-render a fiche and compare.

Every string goes through :func:`_text` before it reaches reportlab's Paragraph markup, so a
value such as ``<b>x</b> & <script>`` prints as typed. The person's name is deliberately kept
out of the metadata (title, subject, keywords) and of the page headers: file managers, viewers
and indexers show those without opening the document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from typing import Any

# Only escapes text for reportlab's paragraph markup; nothing is parsed.
from xml.sax.saxutils import escape  # nosec B406

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    Frame,
    KeepTogether,
    ListFlowable,
    ListItem,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from exchange.platform.pdf import fonts
from exchange.platform.pdf.french import file_size

HEADER_TEXT = "Fiche de liaison — confidentiel — secret professionnel"
NOT_PROVIDED = "Non renseigné"
PAGE_SIZE = A4
_MARGIN_X = 20 * mm
_MARGIN_TOP = 22 * mm
_MARGIN_BOTTOM = 20 * mm
_LABEL_WIDTH = 52 * mm
_INK = colors.HexColor("#1b1b1b")
_GREY = colors.HexColor("#5c5c5c")
_RULE = colors.HexColor("#9a9a9a")
_BLUE = colors.HexColor("#000091")  # the French State's "bleu France", for headings

SectionValue = str | Sequence[str]


@dataclass(frozen=True)
class PersonBlock:
    """The person the fiche is about. Empty strings print as « Non renseigné »; ``address``
    may hold several lines; ``rsa_beneficiary`` is ``None`` when unknown."""

    last_name: str
    first_names: str
    birth_date: str
    birth_name: str = ""
    france_travail_id: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""
    rsa_beneficiary: bool | None = None


@dataclass(frozen=True)
class ConsentStatement:
    """The consent the fiche is sent under: ``purpose`` is what the person agreed to (for
    instance « orientation vers l'accompagnement global (axe 2) »); the recipient is the
    fiche's recipient institution, which the domain has checked is the consent's."""

    notice_version: str
    method: str
    collected_by: str
    collected_on: str
    purpose: str


@dataclass(frozen=True)
class AttachmentLine:
    file_name: str
    size: int  # bytes


@dataclass(frozen=True)
class FicheDocument:
    """Everything the PDF shows, as the caller worded it. Dates are already in French
    (:func:`exchange.platform.pdf.french.long_date`). ``sections`` is the content of the
    form in order:
    ``(label, value)`` where a list value prints as a bullet list (the barriers) and a string
    value as paragraphs (blank lines separate paragraphs, single newlines are kept).
    ``countersigned_by`` is the unit manager when the fiche goes « sous couvert » of them.
    ``rectifies_signed_on`` is, for a version that rectifies the previous one (RGPD art. 16),
    the French date that previous version was signed; it prints under the title."""

    reference: str
    kind_label: str
    convention_title: str
    sender_institution: str
    sender_unit: str
    sender_user: str
    recipient_institution: str
    recipient_unit: str
    created_on: str
    signed_on: str
    person: PersonBlock
    consent: ConsentStatement
    sections: Sequence[tuple[str, SectionValue]] = ()
    attachments: Sequence[AttachmentLine] = ()
    countersigned_by: str | None = None
    version: int = 1
    rectifies_signed_on: str = ""

    def __post_init__(self) -> None:
        # Tuples, so that a frozen document is really immutable (and hashable).
        sections = tuple(
            (label, value if isinstance(value, str) else tuple(value))
            for label, value in self.sections
        )
        object.__setattr__(self, "sections", sections)
        object.__setattr__(self, "attachments", tuple(self.attachments))


# -- text and styles ---------------------------------------------------------------------------


def _text(value: str) -> str:
    """``value`` as Paragraph markup that prints literally: unprintable characters replaced
    (see :mod:`exchange.platform.pdf.fonts`), ``& < >`` escaped, newlines kept as line breaks."""
    return escape(fonts.printable(value)).replace("\t", " ").replace("\n", "<br/>")


def _or_missing(value: str, styles: _Styles) -> Paragraph:
    if value.strip():
        return Paragraph(_text(value.strip()), styles.value)
    return Paragraph(NOT_PROVIDED, styles.missing)


@dataclass(frozen=True)
class _Styles:
    title: ParagraphStyle
    subtitle: ParagraphStyle
    heading: ParagraphStyle
    subheading: ParagraphStyle
    body: ParagraphStyle
    value: ParagraphStyle
    label: ParagraphStyle
    missing: ParagraphStyle
    small: ParagraphStyle

    @classmethod
    def make(cls) -> _Styles:
        body = ParagraphStyle(
            "body", fontName=fonts.REGULAR, fontSize=10, leading=13.5, textColor=_INK,
            spaceAfter=4,
        )
        return cls(
            title=ParagraphStyle(
                "title", parent=body, fontName=fonts.BOLD, fontSize=16, leading=20,
                textColor=_BLUE, spaceAfter=2,
            ),
            subtitle=ParagraphStyle(
                "subtitle", parent=body, fontSize=10.5, textColor=_GREY, spaceAfter=10,
            ),
            heading=ParagraphStyle(
                "heading", parent=body, fontName=fonts.BOLD, fontSize=12.5, leading=16,
                textColor=_BLUE, spaceBefore=12, spaceAfter=5,
            ),
            subheading=ParagraphStyle(
                "subheading", parent=body, fontName=fonts.BOLD, fontSize=10.5, leading=14,
                spaceBefore=6, spaceAfter=2,
            ),
            body=body,
            value=ParagraphStyle("value", parent=body, spaceAfter=0),
            label=ParagraphStyle("label", parent=body, textColor=_GREY, spaceAfter=0),
            missing=ParagraphStyle(
                "missing", parent=body, fontName=fonts.ITALIC, textColor=_GREY, spaceAfter=0,
            ),
            small=ParagraphStyle(
                "small", parent=body, fontSize=8.5, leading=11, textColor=_GREY,
            ),
        )


class _Heading(Paragraph):
    """A paragraph that also becomes an entry of the PDF outline (bookmarks)."""

    def __init__(self, text: str, style: ParagraphStyle, *, outline: str, level: int) -> None:
        super().__init__(text, style)
        self.outline_title = outline
        self.outline_level = level


# -- page furniture: header, footer, deferred outline -----------------------------------------


class _FicheCanvas(Canvas):
    """Holds every page back until the end so the footer can say ``page x/y``, then draws the
    header, the footer and the outline entries of each page as it emits it (outline entries
    must be added while their page is the current one, or they would point at page 1)."""

    def __init__(self, *args: Any, reference: str, kind_label: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reference = reference
        self._kind_label = kind_label
        self._pages: list[dict[str, Any]] = []
        self._outline_pending: list[tuple[str, int, float]] = []

    def add_outline(self, title: str, level: int, top: float) -> None:
        self._outline_pending.append((title, level, top))

    def showPage(self) -> None:  # reportlab's camelCase hook
        self._pages.append(dict(self.__dict__))
        self._outline_pending = []
        self._startPage()

    def save(self) -> None:
        total = len(self._pages)
        for number, state in enumerate(self._pages, start=1):
            self.__dict__.update(state)
            self._furniture(number, total)
            for index, (title, level, top) in enumerate(self._outline_pending):
                key = f"p{number}h{index}"
                self.bookmarkPage(key, fit="XYZ", left=0, top=top)
                self.addOutlineEntry(title, key, level=level)
            Canvas.showPage(self)
        Canvas.save(self)

    def _furniture(self, number: int, total: int) -> None:
        width, height = PAGE_SIZE
        self.saveState()
        self.setFillColor(_GREY)
        self.setStrokeColor(_RULE)
        self.setLineWidth(0.5)
        self.setFont(fonts.BOLD, 8.5)
        self.drawString(_MARGIN_X, height - 13 * mm, HEADER_TEXT)
        self.setFont(fonts.REGULAR, 8.5)
        self.drawRightString(
            width - _MARGIN_X, height - 13 * mm, fonts.printable(f"Réf. {self._reference}")
        )
        self.line(_MARGIN_X, height - 15 * mm, width - _MARGIN_X, height - 15 * mm)
        self.line(_MARGIN_X, 13 * mm, width - _MARGIN_X, 13 * mm)
        self.drawString(_MARGIN_X, 9 * mm, fonts.printable(self._kind_label))
        self.drawRightString(width - _MARGIN_X, 9 * mm, f"Page {number}/{total}")
        self.restoreState()


class _FicheDocTemplate(BaseDocTemplate):
    def afterFlowable(self, flowable: Flowable) -> None:  # reportlab's camelCase hook
        if isinstance(flowable, _Heading):
            # The frame's _y is the bottom of what was just drawn; aim the bookmark at its top.
            top = self.frame._y + flowable.height + flowable.getSpaceAfter()
            self.canv.add_outline(flowable.outline_title, flowable.outline_level, top)


# -- the story ---------------------------------------------------------------------------------


def _pairs_table(rows: Sequence[tuple[str, Flowable]], styles: _Styles) -> Table:
    width = PAGE_SIZE[0] - 2 * _MARGIN_X
    table = Table(
        [[Paragraph(_text(label), styles.label), value] for label, value in rows],
        colWidths=[_LABEL_WIDTH, width - _LABEL_WIDTH],
        hAlign="LEFT",
        splitByRow=1,
        splitInRow=1,  # a very long address may still cross a page
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                ("TOPPADDING", (0, 0), (-1, -1), 2.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
                ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#d9d9d9")),
            ]
        )
    )
    return table


def _heading(text: str, styles: _Styles, level: int = 0) -> list[Flowable]:
    style = styles.heading if level == 0 else styles.subheading
    # CondPageBreak: never leave a heading alone at the bottom of a page.
    return [CondPageBreak(30 * mm if level == 0 else 18 * mm),
            _Heading(_text(text), style, outline=fonts.printable(text), level=level)]


def _paragraphs(value: str, styles: _Styles) -> list[Flowable]:
    blocks = [block.strip() for block in value.replace("\r\n", "\n").split("\n\n")]
    blocks = [block for block in blocks if block]
    if not blocks:
        return [Paragraph(NOT_PROVIDED, styles.missing)]
    return [Paragraph(_text(block), styles.body) for block in blocks]


def _bullets(values: Sequence[str], styles: _Styles) -> Flowable:
    items = [v.strip() for v in values if v.strip()]
    if not items:
        return Paragraph(NOT_PROVIDED, styles.missing)
    return ListFlowable(
        [ListItem(Paragraph(_text(item), styles.value), leftIndent=14) for item in items],
        bulletType="bullet",
        start="•",
        bulletFontName=fonts.REGULAR,
        bulletFontSize=10,
        bulletOffsetY=-1,
        leftIndent=14,
        spaceAfter=4,
    )


def _person(person: PersonBlock, styles: _Styles) -> list[Flowable]:
    rsa = {True: "Oui", False: "Non", None: ""}[person.rsa_beneficiary]
    rows = [
        ("Nom d'usage", person.last_name),
        ("Nom de naissance", person.birth_name),
        ("Prénoms", person.first_names),
        ("Date de naissance", person.birth_date),
        ("Identifiant France Travail", person.france_travail_id),
        ("Adresse", person.address),
        ("Téléphone", person.phone),
        ("Courriel", person.email),
        ("Bénéficiaire du RSA", rsa),
    ]
    return [_pairs_table([(label, _or_missing(value, styles)) for label, value in rows], styles)]


def _consent(doc: FicheDocument, styles: _Styles) -> list[Flowable]:
    consent = doc.consent
    nbsp = "\u00a0"  # French guillemets hold their content with no-break spaces
    statement = (
        "La personne a été informée de la transmission de ses données à caractère personnel "
        f"et y a consenti pour la finalité «{nbsp}{consent.purpose.strip()}{nbsp}», "
        f"à destination de {doc.recipient_institution.strip()} "
        f"({doc.recipient_unit.strip()})."
    )
    rows = [
        ("Version de la notice d'information", consent.notice_version),
        ("Mode de recueil", consent.method),
        ("Recueilli par", consent.collected_by),
        ("Date du recueil", consent.collected_on),
    ]
    return [
        Paragraph(_text(statement), styles.body),
        _pairs_table([(label, _or_missing(value, styles)) for label, value in rows], styles),
    ]


def _attachments(attachments: Sequence[AttachmentLine], styles: _Styles) -> list[Flowable]:
    if not attachments:
        return [Paragraph("Aucune pièce jointe.", styles.body)]
    return [
        _bullets([f"{a.file_name} ({file_size(a.size)})" for a in attachments], styles),
        Paragraph(
            "Les pièces jointes sont transmises avec la fiche, chiffrées, dans le portail.",
            styles.small,
        ),
    ]


def _signature(doc: FicheDocument, styles: _Styles) -> list[Flowable]:
    lines = [
        f"Signé électroniquement par {doc.sender_user.strip()}, pour le compte de "
        f"{doc.sender_institution.strip()}, le {doc.signed_on.strip()}."
    ]
    if doc.countersigned_by and doc.countersigned_by.strip():
        lines.append(f"Sous couvert de {doc.countersigned_by.strip()} (responsable de structure).")
    flowables: list[Flowable] = [Paragraph(_text(line), styles.body) for line in lines]
    flowables.append(
        Paragraph(
            "La signature électronique (PAdES) de l'institution est intégrée au fichier ; "
            "votre lecteur PDF en affiche la validité dans son panneau des signatures.",
            styles.small,
        )
    )
    return flowables


def _story(doc: FicheDocument, styles: _Styles) -> list[Flowable]:
    story: list[Flowable] = [
        _Heading(_text(doc.kind_label), styles.title, outline=fonts.printable(doc.kind_label),
                 level=0),
        Paragraph(
            _text(f"Fiche de liaison n° {doc.reference} — version {doc.version}"), styles.subtitle
        ),
    ]
    if doc.version > 1 and doc.rectifies_signed_on.strip():
        story.append(Paragraph(_text(
            f"Version {doc.version} — rectifie la version {doc.version - 1} du "
            f"{doc.rectifies_signed_on.strip()}"), styles.subheading))
    story += _heading("Transmission", styles)
    story.append(
        _pairs_table(
            [
                ("Convention", _or_missing(doc.convention_title, styles)),
                ("Émetteur", _or_missing(
                    f"{doc.sender_institution}\n{doc.sender_unit}\n{doc.sender_user}", styles)),
                ("Destinataire", _or_missing(
                    f"{doc.recipient_institution}\n{doc.recipient_unit}", styles)),
                ("Fiche créée le", _or_missing(doc.created_on, styles)),
                ("Fiche signée le", _or_missing(doc.signed_on, styles)),
            ],
            styles,
        )
    )
    story += _heading("Personne concernée", styles)
    story += _person(doc.person, styles)
    story += _heading("Contenu de la fiche", styles)
    if not doc.sections:
        story.append(Paragraph(NOT_PROVIDED, styles.missing))
    for label, value in doc.sections:
        story += _heading(label, styles, level=1)
        story += _paragraphs(value, styles) if isinstance(value, str) else [
            _bullets(value, styles)
        ]
    story += _heading("Consentement de la personne", styles)
    story += _consent(doc, styles)
    story += _heading("Pièces jointes", styles)
    story += _attachments(doc.attachments, styles)
    story += _heading("Signature", styles)
    story.append(KeepTogether(_signature(doc, styles)))
    story += [
        Spacer(1, 6 * mm),
        Paragraph(
            "Document couvert par le secret professionnel, contenant des données à caractère "
            "personnel transmises pour la seule finalité indiquée ci-dessus dans le cadre de la "
            "convention citée. Il ne peut être ni utilisé à d'autres fins ni communiqué à des "
            "tiers non autorisés, et doit être détruit dès qu'il n'est plus nécessaire.",
            styles.small,
        ),
    ]
    return story


def render_fiche_pdf(doc: FicheDocument) -> bytes:
    """The fiche as an A4 PDF (bytes). Deterministic: the same ``doc`` gives the same bytes."""
    fonts.register()
    styles = _Styles.make()
    buffer = BytesIO()
    width, height = PAGE_SIZE
    template = _FicheDocTemplate(
        buffer,
        pagesize=PAGE_SIZE,
        leftMargin=_MARGIN_X,
        rightMargin=_MARGIN_X,
        topMargin=_MARGIN_TOP,
        bottomMargin=_MARGIN_BOTTOM,
        title=fonts.printable(f"Fiche de liaison {doc.reference} — {doc.kind_label}"),
        author=fonts.printable(f"{doc.sender_user} ({doc.sender_institution})"),
        subject=fonts.printable(
            f"{doc.kind_label} — de {doc.sender_institution} à {doc.recipient_institution} — "
            f"{doc.convention_title}"
        ),
        keywords=["fiche de liaison", "accompagnement global", "confidentiel"],
        creator="Liaison",
        producer="Liaison (reportlab)",
        lang="fr-FR",
        displayDocTitle=1,
        invariant=1,
        initialFontName=fonts.REGULAR,
    )
    frame = Frame(
        _MARGIN_X, _MARGIN_BOTTOM, width - 2 * _MARGIN_X, height - _MARGIN_TOP - _MARGIN_BOTTOM,
        leftPadding=0, rightPadding=0, topPadding=0, bottomPadding=0, id="body",
    )
    template.addPageTemplates([PageTemplate(id="fiche", frames=[frame])])

    def canvas_maker(*args: Any, **kwargs: Any) -> _FicheCanvas:
        canvas = _FicheCanvas(
            *args, reference=doc.reference, kind_label=doc.kind_label, **kwargs
        )
        canvas.showOutline()
        return canvas

    template.build(_story(doc, styles), canvasmaker=canvas_maker)
    return buffer.getvalue()
