"""exchange.platform.uploads: files are judged by their content, never by their name; what is
kept is a copy rebuilt from what a real parser read (PDF by qpdf, images by Pillow)."""

from __future__ import annotations

import io
import struct
import zlib

import pikepdf
import pytest
from PIL import Image

from exchange.platform.uploads import (
    JPEG,
    MAX_PDF_PACKED_BYTES,
    MAX_PDF_PAGES,
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
from .pdf_files import one_page, pdf_file, stream

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
    assert _pixels(png.data) == _pixels(make_png())  # PNG stays lossless
    with pikepdf.open(io.BytesIO(pdf.data)) as rebuilt:
        assert len(rebuilt.pages) == 1


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


def test_jpeg_with_an_archive_appended_is_refused() -> None:
    assert "archive" in _refused("f.jpg", make_jpeg() + make_zip())


def test_jpeg_padded_with_zero_bytes_is_accepted() -> None:
    assert check_upload("f.jpg", make_jpeg() + b"\x00" * 16, max_bytes=MAX).content_type == JPEG


@pytest.mark.parametrize("markup", [b"<html><body>", b"<script>alert(1)</script>",
                                    b"<!DOCTYPE html>", b"<SVG onload=alert(1)>"])
def test_html_at_the_start_of_an_accepted_type_is_refused(markup: bytes) -> None:
    pdf = make_pdf()
    polyglot = pdf[:9] + b"%" + markup + b"\n" + pdf[9:]
    assert "page web" in _refused("f.pdf", polyglot)


# -- PDF: active content, wherever and however it is written ----------------------------------

JS_ACTION = b"<< /S /JavaScript /JS (app.alert\\(document.cookie\\)) >>"


def _packed(objects: list[bytes]) -> set[int]:
    """Every object that can go into an object stream (all but streams)."""
    return {n for n, body in enumerate(objects, start=1) if b"\nstream\n" not in body}


def test_pdf_javascript_in_object_stream_is_refused() -> None:
    # The catalog and its /OpenAction are compressed inside an object stream: nothing of them
    # shows in the file's bytes.
    objects = one_page(b"/OpenAction " + JS_ACTION)
    data = pdf_file(objects, packed=_packed(objects))
    assert b"JavaScript" not in data and b"OpenAction" not in data
    assert "du JavaScript" in _refused("f.pdf", data)


def test_pdf_javascript_hidden_between_string_delimiters_is_refused() -> None:
    # Two strings that look like the start and the end of a stream's data: a scan of the raw
    # bytes that skips stream data skips the action written between them.
    data = pdf_file(one_page(b"/Lang ( >> stream\n) /OpenAction " + JS_ACTION
                             + b" /PageLabels << /Nums [0 << /P (endstream) >>] >>"))
    assert "du JavaScript" in _refused("f.pdf", data)


def test_pdf_hex_escaped_javascript_name_is_refused() -> None:
    # /J#61vaScript is /JavaScript and /#4A#53 is /JS once the #xx escapes are decoded; here
    # in a compressed object stream, where no scan of the raw bytes can decode them.
    objects = one_page(b"/OpenAction << /S /J#61vaScript /#4A#53 (app.alert\\(1\\)) >>")
    data = pdf_file(objects, packed=_packed(objects))
    assert "du JavaScript" in _refused("f.pdf", data)


@pytest.mark.parametrize("name", [b"/JavaScript", b"/JS", b"/J#61vaScript", b"/Launch",
                                  b"/EmbeddedFiles"])
def test_pdf_with_active_content_is_refused(name: bytes) -> None:
    data = pdf_file(one_page(b"/OpenAction << /S " + name + b" (app.alert\\(1\\)) >>"))
    assert "contenu actif" in _refused("f.pdf", data)


# (id, catalog entries, page entries, further objects from 4 on, words of the refusal)
ACTIVE_OBJECTS = [
    ("uri", b"", b"/Annots [4 0 R]",
     [b"<< /Type /Annot /Subtype /Link /Rect [0 0 200 20] "
      b"/A << /S /URI /URI (https://collecte.example/?dossier=) >> >>"],
     "un lien vers un site web"),
    ("submit-form", b"/AcroForm << /Fields [4 0 R] >>", b"/Annots [4 0 R]",
     [b"<< /Type /Annot /Subtype /Widget /FT /Btn /Ff 65536 /T (envoyer) /P 3 0 R "
      b"/Rect [0 0 100 20] /A << /S /SubmitForm /F << /FS /URL /F (https://collecte.example/) "
      b">> /Flags 4 >> >>"],
     "un formulaire qui envoie ou importe des données"),
    ("launch", b"/OpenAction << /S /Launch /Win << /F (cmd.exe) /P (/c calc) >> >>", b"", [],
     "le lancement d'un programme"),
    ("gotor", b"", b"/Annots [4 0 R]",
     [b"<< /Type /Annot /Subtype /Link /Rect [0 0 200 20] "
      b"/A << /S /GoToR /F (//serveur/partage/piege.pdf) /D [0 /Fit] >> >>"],
     "vers un autre fichier"),
    ("import-data", b"/OpenAction << /S /ImportData /F (donnees.fdf) >>", b"", [],
     "un formulaire qui envoie ou importe des données"),
    ("additional-actions", b"", b"/AA << /O << /S /GoTo /D [3 0 R /Fit] >> >>", [],
     "une action déclenchée automatiquement"),
    ("embedded-file", b"", b"/Annots [4 0 R]",
     [b"<< /Type /Annot /Subtype /FileAttachment /Rect [0 0 20 20] "
      b"/FS << /Type /Filespec /F (facture.pdf.exe) /EF << /F 5 0 R >> >> >>",
      stream(b"MZ\x90\x00 not a real program")],
     "un fichier joint"),
    ("xfa", b"/AcroForm << /Fields [] /XFA 4 0 R >>", b"",
     [stream(b'<xdp:xdp xmlns:xdp="http://ns.adobe.com/xdp/"></xdp:xdp>')],
     "un formulaire dynamique (XFA)"),
    ("rich-media", b"", b"/Annots [4 0 R]",
     [b"<< /Type /Annot /Subtype /RichMedia /Rect [0 0 200 200] "
      b"/RichMediaContent << /Assets << /Names [] >> /Configurations [] >> >>"],
     "du contenu multimédia"),
    ("javascript-name-tree",
     b"/Names << /JavaScript << /Names [(ouverture) 4 0 R] >> >>", b"", [JS_ACTION],
     "du JavaScript"),
    ("named-action", b"/OpenAction << /S /Named /N /Print >>", b"", [],
     "une action déclenchée automatiquement"),
]


@pytest.mark.parametrize("layout", ["plain", "object-stream"])
@pytest.mark.parametrize(("catalog", "page", "more", "words"),
                         [case[1:] for case in ACTIVE_OBJECTS],
                         ids=[case[0] for case in ACTIVE_OBJECTS])
def test_pdf_action_or_active_object_is_refused(catalog: bytes, page: bytes, more: list[bytes],
                                                words: str, layout: str) -> None:
    objects = one_page(catalog, page, *more)
    data = pdf_file(objects, packed=_packed(objects) if layout == "object-stream" else ())
    assert words in _refused("f.pdf", data)


def test_pdf_action_type_given_by_reference_is_refused() -> None:
    # /S 5 0 R: the action's type is a name object of its own, known once resolved.
    objects = one_page(b"", b"/Annots [4 0 R]",
                       b"<< /Type /Annot /Subtype /Link /Rect [0 0 200 20] "
                       b"/A << /S 5 0 R /N /Print >> >>", b"/Named")
    assert "une action interactive" in _refused("f.pdf", pdf_file(objects))


@pytest.mark.parametrize("layout", ["plain", "object-stream"])
def test_pdf_jumps_within_the_document_are_accepted(layout: str) -> None:
    # Bookmarks, table-of-contents links and "open at this page" are plain /GoTo actions or
    # destinations: they open nothing and run nothing.
    objects = one_page(
        b"/OpenAction [3 0 R /Fit] /Outlines 5 0 R", b"/Annots [4 0 R]",
        b"<< /Type /Annot /Subtype /Link /Rect [0 0 200 20] "
        b"/A << /S /GoTo /D [3 0 R /XYZ 0 842 0] >> >>",
        b"<< /Type /Outlines /First 6 0 R /Last 6 0 R /Count 1 >>",
        b"<< /Title (Page 1) /Parent 5 0 R /A << /Type /Action /S /GoTo /D [3 0 R /Fit] >> >>")
    data = pdf_file(objects, packed=_packed(objects) if layout == "object-stream" else ())
    assert check_upload("f.pdf", data, max_bytes=MAX).content_type == PDF


def test_active_names_inside_a_binary_stream_are_not_mistaken_for_actions() -> None:
    content = stream(b"BT /JS 12 Tf 72 760 Td (/JavaScript /URI /Launch) Tj ET")
    data = pdf_file(one_page(b"", b"/Contents 4 0 R", content))
    assert check_upload("f.pdf", data, max_bytes=MAX).content_type == PDF


def test_pdf_javascript_in_an_object_nothing_refers_to_is_refused() -> None:
    # A viewer that rebuilds a damaged file's table from the "n 0 obj" it finds would see it.
    assert "du JavaScript" in _refused("f.pdf", pdf_file(one_page(b"", b"", JS_ACTION)))


def test_rebuilt_pdf_keeps_only_the_objects_it_checked() -> None:
    data = pdf_file(one_page(b"", b"", b"<< /Note (objet-orphelin) >>"),
                    after_eof=b"%donnees-cachees-apres-la-fin\n")
    rebuilt = check_upload("f.pdf", data, max_bytes=MAX).data
    assert b"objet-orphelin" not in rebuilt and b"donnees-cachees" not in rebuilt
    assert rebuilt.rstrip().endswith(b"%%EOF")
    assert check_upload("f.pdf", data, max_bytes=MAX).data == rebuilt  # the same every time


@pytest.mark.parametrize("user_password", ["", "secret"])
def test_encrypted_pdf_is_refused(user_password: str) -> None:
    with pikepdf.open(io.BytesIO(make_pdf())) as pdf:
        encrypted = io.BytesIO()
        pdf.save(encrypted, encryption=pikepdf.Encryption(owner="proprietaire",
                                                          user=user_password))
    assert "protégé par un mot de passe ou chiffré" in _refused("f.pdf", encrypted.getvalue())


def test_pdf_that_only_parses_once_repaired_is_refused() -> None:
    # A comment added after the header moves every object away from where the table says.
    data = pdf_file(one_page())
    shifted = data.replace(b"%\xe2\xe3\xcf\xd3\n", b"%\xe2\xe3\xcf\xd3\n% --------\n", 1)
    assert "Le PDF est endommagé" in _refused("f.pdf", shifted)
    assert "Le PDF est endommagé" in _refused("f.pdf", b"%PDF-1.7\n%%EOF\n")


def test_pdf_object_stream_bomb_is_refused() -> None:
    # 80 MB of spaces compress to 80 KB; qpdf stops decompressing at its limit.
    objects = one_page()
    data = pdf_file(objects, packed=_packed(objects), padding=80 * 1024 * 1024)
    assert len(data) < 200 * 1024
    assert "Le PDF est endommagé" in _refused("f.pdf", data)


def test_pdf_whose_object_streams_hold_too_much_is_refused() -> None:
    # Under qpdf's limit for one stream, over what all of them may hold together: a file can
    # repeat such streams hundreds of times.
    objects = one_page(b"", b"", b"<< /Note (dans le flux) >>")
    data = pdf_file(objects, packed={4}, padding=MAX_PDF_PACKED_BYTES)
    assert len(data) < 100 * 1024
    assert "trop complexe" in _refused("f.pdf", data)


def test_pdf_with_too_many_pages_is_refused() -> None:
    pdf = pikepdf.new()
    for _ in range(MAX_PDF_PAGES + 1):
        pdf.add_blank_page()
    data = io.BytesIO()
    pdf.save(data)
    assert f"plus de {MAX_PDF_PAGES} pages" in _refused("f.pdf", data.getvalue())


# -- JPEG and PNG: decoded, then encoded again ------------------------------------------------


def _pixels(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


def _jpeg(size: tuple[int, int] = (8, 4), **save: object) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, "JPEG", **save)
    return buffer.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_jpeg_gps_exif_is_stripped() -> None:
    exif = Image.Exif()
    exif[0x010F] = "Fabricant du téléphone"
    exif[0x0132] = "2026:11:20 09:15:00"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (43.0, 36.0, 17.0), 3: "E", 4: (1.0, 26.0, 40.0)})
    data = _jpeg(exif=exif, comment=b"Dupont", icc_profile=b"profil ICC", dpi=(300, 300))
    with Image.open(io.BytesIO(data)) as original:
        assert original.getexif().get_ifd(0x8825)  # the position is there to begin with
        assert {"comment", "icc_profile"} <= set(original.info)
    cleaned = check_upload("photo.jpg", data, max_bytes=MAX).data
    assert b"Exif" not in cleaned and b"Dupont" not in cleaned and b"ICC" not in cleaned
    with Image.open(io.BytesIO(cleaned)) as image:
        assert not image.getexif() and image.size == (8, 4)
        assert not {"exif", "comment", "icc_profile"} & set(image.info)
        assert image.info["dpi"] == (300, 300)  # the scan's print size is kept


def test_jpeg_taken_sideways_is_turned_upright_before_its_exif_goes() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was turned: show the image rotated a quarter turn
    cleaned = check_upload("photo.jpg", _jpeg((8, 4), exif=exif), max_bytes=MAX).data
    with Image.open(io.BytesIO(cleaned)) as image:
        assert image.size == (4, 8) and not image.getexif()


def test_jpeg_with_data_after_its_end_is_cut_at_the_end() -> None:
    cleaned = check_upload("f.jpg", make_jpeg() + b"trailing <?php ?>", max_bytes=MAX).data
    assert b"trailing" not in cleaned and cleaned.endswith(b"\xff\xd9")


def test_png_trailing_data_is_dropped() -> None:
    from PIL.PngImagePlugin import PngInfo

    text = PngInfo()
    text.add_text("Author", "Élodie Dupont-Martin")
    buffer = io.BytesIO()
    Image.new("L", (3, 2), 90).save(buffer, "PNG", pnginfo=text)
    data = buffer.getvalue() + b"<?php system($_GET['c']); ?>"
    cleaned = check_upload("f.png", data, max_bytes=MAX).data
    assert b"<?php" not in cleaned and b"Author" not in cleaned and b"Dupont" not in cleaned
    assert cleaned.endswith(_png_chunk(b"IEND", b""))
    assert _pixels(cleaned) == _pixels(data)


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that says it is width x height, with next to no pixel data: the size alone would
    make a decoder allocate it."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 1024)) + _png_chunk(b"IEND", b""))


def _jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(_jpeg((8, 8)))
    frame = data.index(b"\xff\xc0")  # start of frame: length, precision, height, width
    data[frame + 5:frame + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.parametrize(("name", "data"), [
    # Above our limit but below Pillow's own warning threshold (89 million pixels).
    ("f.png", _png_header_only(8000, 8000)),
    # Far above Pillow's hard limit: refused by our check before Pillow's error or warning.
    ("f.png", _png_header_only(100_000, 100_000)),
    ("f.jpg", _jpeg_claiming(60_000, 60_000)),
], ids=["png-64-megapixels", "png-10-gigapixels", "jpeg-3-gigapixels"])
def test_decompression_bomb_is_refused(name: str, data: bytes) -> None:
    assert len(data) < 2048
    message = _refused(name, data)
    assert "est trop grande" in message and "50 millions de pixels au plus" in message


def test_progressive_jpeg_with_hundreds_of_scans_is_refused() -> None:
    data = _jpeg((64, 64), progressive=True)
    scans = [i for i in range(len(data) - 1) if data[i:i + 2] == b"\xff\xda"]
    repeated = data[:scans[1]] + data[scans[1]:scans[2]] * 500 + data[scans[2]:]
    assert "trop de passes" in _refused("f.jpg", repeated)

def test_damaged_files_are_refused() -> None:
    assert "incomplet" in _refused("f.pdf", make_pdf()[:-200])
    png = bytearray(make_png())
    png[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    assert "endommagée" in _refused("f.png", bytes(png))
    assert "endommagée" in _refused("f.png", make_png()[:40])  # cut inside the image data
    jpeg = _jpeg(size=(64, 64))
    assert "incomplète ou endommagée" in _refused("f.jpg", jpeg[:len(jpeg) // 2])


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
