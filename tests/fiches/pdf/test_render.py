"""The rendered fiche: A4, every field in the text layer (read back by poppler's pdftotext),
markup printed literally, long texts across pages, header and page x/y on every page, metadata
without the person's name, a bookmark outline, byte-identical output for the same input."""

from __future__ import annotations

import dataclasses
import subprocess
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils.generic import IndirectObject
from pyhanko.pdf_utils.reader import PdfFileReader

from exchange.fiches.pdf import HEADER_TEXT, FicheDocument, PersonBlock, render_fiche_pdf
from exchange.fiches.pdf_sample import sample_fiche
from tests.fiches.pdf.support import page_count, pdftotext, words

A4_POINTS = (595.2756, 841.8898)  # 210 mm x 297 mm
MARKUP = "<b>x</b> & <script>"


def _fiche_with_specials() -> FicheDocument:
    doc = sample_fiche()
    return dataclasses.replace(
        doc,
        person=dataclasses.replace(doc.person, last_name="Œuvrard-Łukasiewicz"),
        sections=(
            *doc.sections,
            ("Observations", f"{MARKUP} « entre guillemets » – cœur, sœur’s &amp; <br/>"),
            ("Autres freins", ["Mobilité : pas de véhicule", "<i>Langue</i> & numérique"]),
        ),
    )


def _all_strings(doc: FicheDocument) -> list[str]:
    person = doc.person
    values = [
        doc.reference, doc.kind_label, doc.convention_title, doc.sender_institution,
        doc.sender_unit, doc.sender_user, doc.recipient_institution, doc.recipient_unit,
        doc.created_on, doc.signed_on,
        person.last_name, person.birth_name, person.first_names, person.birth_date,
        person.france_travail_id, person.address, person.phone, person.email,
        doc.consent.notice_version, doc.consent.method, doc.consent.collected_by,
        doc.consent.collected_on, doc.consent.purpose,
    ]
    for label, value in doc.sections:
        values.append(label)
        values += [value] if isinstance(value, str) else list(value)
    values += [a.file_name for a in doc.attachments]
    return values


def test_every_page_is_a4(sample_pdf: bytes) -> None:
    reader = PdfFileReader(BytesIO(sample_pdf), strict=False)
    count = page_count(sample_pdf)
    assert count == 2
    for index in range(count):
        page = reader.find_page_for_modification(index)[0].get_object()
        left, bottom, right, top = (float(v) for v in page["/MediaBox"])
        assert (left, bottom) == (0, 0)
        assert abs(right - A4_POINTS[0]) < 0.01 and abs(top - A4_POINTS[1]) < 0.01


def test_text_layer_has_every_field_accents_and_markup_literally(tmp_path: Path) -> None:
    doc = _fiche_with_specials()
    text = words(pdftotext(render_fiche_pdf(doc), tmp_path, body_only=True))
    for value in _all_strings(doc):
        assert words(value) in text, value
    for word in ("Œuvrard-Łukasiewicz", "Lefèvre", "Dubœuf", "l’Œuvre-Saint-Jacques",
                 "« Les Acacias »", "– cœur, sœur’s", "Bénéficiaire du RSA Oui", "(1,2 Mo)"):
        assert word in text, word
    assert f"{MARKUP} « entre guillemets »" in text
    assert "&amp; <br/>" in text and "<i>Langue</i> & numérique" in text


def test_consent_statement_and_signature_block(tmp_path: Path) -> None:
    text = words(pdftotext(render_fiche_pdf(sample_fiche()), tmp_path))
    assert (
        "La personne a été informée de la transmission de ses données à caractère personnel et "
        "y a consenti pour la finalité « orientation vers l'accompagnement global (axe 2) », à "
        "destination de France Travail Occitanie (Agence France Travail de Montauban Albasud)."
    ) in text
    assert (
        "Signé électroniquement par Élodie Lefèvre, assistante de service social, pour le "
        "compte de Département de Tarn-et-Garonne, le 23 novembre 2026."
    ) in text
    assert "Sous couvert de Karine Dubœuf (responsable de structure)." in text


def test_no_countersignature_line_without_a_countersigner(tmp_path: Path) -> None:
    doc = dataclasses.replace(sample_fiche(), countersigned_by=None)
    text = words(pdftotext(render_fiche_pdf(doc), tmp_path))
    assert "Signé électroniquement par" in text
    assert "Sous couvert de" not in text


def test_missing_values_and_empty_lists_are_said_not_left_blank(tmp_path: Path) -> None:
    doc = dataclasses.replace(
        sample_fiche(),
        person=PersonBlock(last_name="Martin", first_names="Paul", birth_date="2 mai 1990",
                           rsa_beneficiary=False),
        sections=(("Freins sociaux", []), ("Attentes de la personne", "  ")),
        attachments=(),
    )
    text = words(pdftotext(render_fiche_pdf(doc), tmp_path))
    assert "Nom de naissance Non renseigné" in text
    assert "Bénéficiaire du RSA Non" in text
    assert "Freins sociaux Non renseigné" in text
    assert "Attentes de la personne Non renseigné" in text
    assert "Aucune pièce jointe." in text


def test_long_text_runs_over_several_pages_in_order(tmp_path: Path) -> None:
    sentences = [f"Phrase numéro {n} de l’évaluation sociale." for n in range(1, 601)]
    doc = dataclasses.replace(
        sample_fiche(), sections=(("Motif de l'orientation", " ".join(sentences)),)
    )
    pdf = render_fiche_pdf(doc)
    count = page_count(pdf)
    assert count >= 4
    text = words(pdftotext(pdf, tmp_path, body_only=True))
    assert " ".join(sentences) in text  # nothing lost, nothing reordered
    assert HEADER_TEXT not in text  # the crop did remove the page furniture
    first_page = words(pdftotext(pdf, tmp_path, page=1))
    assert sentences[0] in first_page and sentences[-1] not in first_page
    later = [words(pdftotext(pdf, tmp_path, page=n)) for n in range(2, count + 1)]
    assert any(sentences[-1] in page for page in later)


def test_one_unbreakable_word_longer_than_a_line_is_split_not_lost(tmp_path: Path) -> None:
    token = "https://exemple.fr/" + "a" * 300
    doc = dataclasses.replace(sample_fiche(), sections=(("Lien", token),))
    text = pdftotext(render_fiche_pdf(doc), tmp_path)
    assert "".join(text.split()).count(token) == 1


def test_a_very_long_address_crosses_a_page_inside_its_table_cell(tmp_path: Path) -> None:
    lines = [f"Ligne d’adresse {n}" for n in range(1, 151)]
    doc = sample_fiche()
    doc = dataclasses.replace(doc, person=dataclasses.replace(doc.person, address="\n".join(lines)))
    pdf = render_fiche_pdf(doc)
    assert page_count(pdf) >= 4
    assert " ".join(lines) in words(pdftotext(pdf, tmp_path, body_only=True))


def test_every_page_has_the_header_and_page_x_of_y(tmp_path: Path) -> None:
    sentences = " ".join(f"Phrase {n}." for n in range(1, 1500))
    pdf = render_fiche_pdf(dataclasses.replace(sample_fiche(), sections=(("Motif", sentences),)))
    count = page_count(pdf)
    assert count >= 3
    for number in range(1, count + 1):
        page = words(pdftotext(pdf, tmp_path, page=number))
        assert HEADER_TEXT in page
        assert "Réf. FL-2026-000417" in page
        assert f"Page {number}/{count}" in page


def test_metadata_names_the_fiche_not_the_person(tmp_path: Path) -> None:
    path = tmp_path / "fiche.pdf"
    path.write_bytes(render_fiche_pdf(sample_fiche()))
    info = subprocess.run(
        ["pdfinfo", "-enc", "UTF-8", str(path)], check=True, capture_output=True
    ).stdout.decode("utf-8")
    fields = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition(":") for line in info.splitlines())
    )
    assert fields["Title"] == (
        "Fiche de liaison FL-2026-000417 — Orientation vers l'accompagnement global (axe 2)"
    )
    assert fields["Author"] == (
        "Élodie Lefèvre, assistante de service social (Département de Tarn-et-Garonne)"
    )
    assert "France Travail Occitanie" in fields["Subject"]
    assert fields["Page size"].endswith("(A4)")
    metadata = " ".join(fields.values())
    assert "Lefèvre-Morin" not in metadata and "Anaïs" not in metadata
    catalog = PdfFileReader(BytesIO(path.read_bytes()), strict=False).root
    assert str(catalog["/Lang"]) == "fr-FR"


def test_outline_lists_the_sections_on_their_pages() -> None:
    pdf = render_fiche_pdf(sample_fiche())
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    page_ids = [reader.find_page_for_modification(i)[0].idnum for i in range(page_count(pdf))]
    entries: dict[str, int] = {}

    def walk(node: object) -> None:
        item = node.get("/First")  # type: ignore[attr-defined]
        while item is not None:
            item = item.get_object() if isinstance(item, IndirectObject) else item
            dest = item["/Dest"]
            entries[str(item["/Title"])] = page_ids.index(dest.raw_get(0).idnum) + 1
            if "/First" in item:
                walk(item)
            item = item.get("/Next")

    walk(reader.root["/Outlines"])
    assert entries["Personne concernée"] == 1
    assert entries["Motif de l'orientation"] == 1
    assert entries["Consentement de la personne"] == 2
    assert entries["Signature"] == 2
    assert str(reader.root["/PageMode"]) == "/UseOutlines"


def test_same_input_gives_the_same_bytes() -> None:
    first = render_fiche_pdf(sample_fiche())
    render_fiche_pdf(_fiche_with_specials())  # other glyphs in between: no shared font state
    assert render_fiche_pdf(sample_fiche()) == first


def test_a_different_input_gives_different_bytes() -> None:
    other = dataclasses.replace(sample_fiche(), reference="FL-2026-000418")
    assert render_fiche_pdf(other) != render_fiche_pdf(sample_fiche())


def test_the_document_is_frozen_and_hashable() -> None:
    doc = FicheDocument(**{
        **{f.name: getattr(sample_fiche(), f.name) for f in dataclasses.fields(FicheDocument)},
        "sections": [("Freins sociaux", ["Santé", "Logement"])],
    })
    assert doc.sections == (("Freins sociaux", ("Santé", "Logement")),)
    hash(doc)
