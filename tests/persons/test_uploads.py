"""exchange.uploads: files are judged by their content, never by their name."""

from __future__ import annotations

import io

import pytest

from exchange.uploads import (
    JPEG,
    PDF,
    PNG,
    CheckedUpload,
    UploadRefused,
    check_file,
    check_upload,
    detect_type,
    safe_name,
)

from .conftest import make_jpeg, make_pdf, make_png, make_zip

MAX = 10 * 1024 * 1024


def _refused(name: str, data: bytes, **kwargs: object) -> str:
    with pytest.raises(UploadRefused) as refused:
        check_upload(name, data, max_bytes=kwargs.pop("max_bytes", MAX), **kwargs)  # type: ignore[arg-type]
    return refused.value.message


def test_real_pdf_jpeg_and_png_are_accepted_with_the_right_type_and_extension() -> None:
    pdf = check_upload("Formulaire signé Dupont.pdf", make_pdf(), max_bytes=MAX)
    assert (pdf.content_type, pdf.safe_name) == (PDF, "Formulaire_signe_Dupont.pdf")
    jpeg = check_upload("scan.JPEG", make_jpeg(), max_bytes=MAX)
    assert (jpeg.content_type, jpeg.safe_name) == (JPEG, "scan.jpg")
    png = check_upload("photo.png", make_png(), max_bytes=MAX)
    assert (png.content_type, png.safe_name) == (PNG, "photo.png")
    assert png.data == make_png()


def test_png_renamed_pdf_is_a_png() -> None:
    checked = check_upload("formulaire.pdf", make_png(), max_bytes=MAX)
    assert checked.content_type == PNG and checked.safe_name == "formulaire.png"
    message = _refused("formulaire.pdf", make_png(), allowed={PDF})
    assert message == ("Le fichier est une image PNG (d'après son contenu) ; seuls sont "
                       "acceptés ici : un PDF.")


def test_text_named_pdf_is_refused() -> None:
    message = _refused("formulaire.pdf", b"Je consens.\n%%EOF\n")
    assert "ni un PDF, ni une image JPEG ou PNG" in message
    assert detect_type(b"%PDX-1.4") is None


def test_empty_file_is_refused() -> None:
    assert "vide" in _refused("formulaire.pdf", b"")


def test_oversize_file_is_refused_and_not_read_beyond_the_limit() -> None:
    data = make_pdf()
    assert "taille maximale autorisée (1 Ko)" in _refused("f.pdf", data + b" " * 1024,
                                                          max_bytes=1024)

    class Upload:
        filename = "f.pdf"
        stream = io.BytesIO(b"%PDF-1.4\n" + b"x" * (3 * MAX))

    with pytest.raises(UploadRefused, match="10 Mo"):
        check_file(Upload(), max_bytes=MAX)
    assert Upload.stream.tell() == MAX + 1


def test_size_limit_is_inclusive() -> None:
    data = make_pdf()
    assert isinstance(check_upload("f.pdf", data, max_bytes=len(data)), CheckedUpload)


def test_pdf_that_is_also_a_zip_is_refused() -> None:
    assert "archive" in _refused("f.pdf", make_pdf() + make_zip())


def test_png_with_data_after_iend_is_refused() -> None:
    assert "données cachées" in _refused("f.png", make_png() + b"<?php system($_GET['c']); ?>")


def test_jpeg_with_an_archive_appended_is_refused() -> None:
    assert "archive" in _refused("f.jpg", make_jpeg() + make_zip())
    assert "données cachées" in _refused("f.jpg", make_jpeg() + b"trailing")


def test_jpeg_padded_with_zero_bytes_is_accepted() -> None:
    assert check_upload("f.jpg", make_jpeg() + b"\x00" * 16, max_bytes=MAX).content_type == JPEG


@pytest.mark.parametrize("markup", [b"<html><body>", b"<script>alert(1)</script>",
                                    b"<!DOCTYPE html>", b"<SVG onload=alert(1)>"])
def test_html_at_the_start_of_an_accepted_type_is_refused(markup: bytes) -> None:
    pdf = make_pdf()
    polyglot = pdf[:9] + b"%" + markup + b"\n" + pdf[9:]
    assert "page web" in _refused("f.pdf", polyglot)


@pytest.mark.parametrize("name", [b"/JavaScript", b"/JS", b"/J#61vaScript", b"/Launch",
                                  b"/EmbeddedFiles"])
def test_pdf_with_active_content_is_refused(name: bytes) -> None:
    pdf = make_pdf()
    active = pdf.replace(b"/Type /Catalog", b"/Type /Catalog /OpenAction << /S " + name
                         + b" (app.alert(1)) >>", 1)
    assert active != pdf
    assert "contenu actif" in _refused("f.pdf", active)


def test_active_names_inside_a_binary_stream_are_not_mistaken_for_actions() -> None:
    pdf = make_pdf()
    with_stream = pdf.replace(b"stream\n", b"stream\n/JS /JavaScript ", 1)
    assert with_stream != pdf
    assert check_upload("f.pdf", with_stream, max_bytes=MAX).content_type == PDF


def test_damaged_files_are_refused() -> None:
    assert "incomplet" in _refused("f.pdf", make_pdf()[:-200])
    png = bytearray(make_png())
    png[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    assert "endommagée" in _refused("f.png", bytes(png))
    assert "endommagée" in _refused("f.png", make_png()[:-12])


@pytest.mark.parametrize("name", ["../formulaire.pdf", "dossier/formulaire.pdf",
                                  "C:\\scans\\formulaire.pdf", "formulaire\x00.pdf",
                                  "formulaire\n.pdf", "formulaire\u202efdp.png"])
def test_names_with_paths_or_control_characters_are_refused(name: str) -> None:
    assert "nom du fichier" in _refused(name, make_pdf())


@pytest.mark.parametrize(("name", "expected"), [
    ("Consentement Mme Lefèvre (signé).PDF", "Consentement_Mme_Lefevre_signe.pdf"),
    ("%%%.pdf", "document.pdf"),
    (".pdf", "document.pdf"),
    ("", "document.pdf"),
    ("scan.v2.final.pdf", "scan.v2.final.pdf"),
    ("-_.x.pdf", "x.pdf"),
    ("a" * 200 + ".pdf", "a" * 80 + ".pdf"),
])
def test_safe_name_keeps_letters_digits_dot_dash_underscore(name: str, expected: str) -> None:
    assert safe_name(name, PDF) == expected
