"""Uploaded files, checked by their content: PDF, JPEG or PNG only, never judged by the name.

What the browser says (name, declared type) decides nothing: the bytes are read, their format
recognised, and the file refused when it is empty, too large, not one of the accepted formats,
damaged, or when it could also be read as something else (a "polyglot": a PDF that is also a
ZIP archive, a file that a browser would sniff as HTML).

What is stored is never the uploaded bytes but a copy rebuilt from what a real parser read:

- **PDF** files are opened with pikepdf (qpdf), which resolves every object, those packed in
  compressed object streams and cross-reference streams included, and decodes names
  (``/J#61vaScript`` is ``/JavaScript``). Every object is walked, reachable or not, and the file
  is refused when it carries active content: JavaScript, any action other than a jump to a page
  of the same document (links to web sites or other files, launching programs, submitting or
  importing form data, multimedia, hiding fields...), additional actions (``/AA``), an
  ``/OpenAction`` that is not a page destination, embedded files, XFA forms, rich media, sound,
  movie, 3D and screen annotations. Encrypted files, files that do not parse without repair,
  files with no page or too many pages, objects or packed bytes are refused (the last two
  measured on the cross-reference table, before the objects are parsed). The accepted file is
  then written anew by qpdf, stream data copied untouched: objects no page or catalog reaches,
  earlier revisions and anything after the end are dropped, so the recipient's viewer reads
  exactly the objects that were checked, however differently from qpdf it would have parsed
  the original (a digital signature inside does not survive this). (pyHanko's
  reader, already a dependency, was measured first: it resolves object streams and refuses in
  strict mode what it cannot parse, but looks each packed object up by re-reading its stream's
  table, which took 121 s for a crafted 77 KB file of 8,000 packed objects; qpdf reads the same
  file in 11 ms, is fuzzed continuously, and bounds the memory a stream may decompress to.)
- **JPEG and PNG** images are decoded with Pillow, once their size (read from the header) is
  known to be at most :data:`MAX_IMAGE_PIXELS`, turned upright when the camera recorded an
  orientation, and encoded again in the same format (PNG lossless; JPEG with its own
  quantisation tables, or at quality :data:`JPEG_QUALITY` when turned) keeping only the
  resolution and the transparency: EXIF (GPS position, camera, date), ICC profiles, comments,
  text chunks and whatever followed the end of the image are gone. Progressive JPEGs of more
  than :data:`MAX_JPEG_SCANS` scans are refused (each scan is a pass over the whole image).

The file's name is only checked (no control characters, path separators or ``..``) and reduced
to a safe name with the extension of the detected format. Callers that store the file should
not keep even that name in clear: it often carries the person's name.

Reused for consent forms and fiche attachments: ``check_upload(name, data, max_bytes=...)`` or
``check_file(storage, max_bytes=...)`` with a Werkzeug ``FileStorage``; store
``CheckedUpload.data``, the rebuilt file.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
import zipfile
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import pikepdf
from PIL import Image, ImageOps, JpegImagePlugin, PngImagePlugin

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
ACCEPTED_TYPES: frozenset[str] = frozenset({PDF, JPEG, PNG})
EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}
LABELS = {PDF: "un PDF", JPEG: "une image JPEG", PNG: "une image PNG"}
DEFAULT_STEM = "document"
STEM_MAX = 80
NAME_MAX = 255

# A 600 dpi A4 scan is 35 million pixels; above 50 million an image is no scan of a form but
# a picture that would take hundreds of megabytes to decode (a "decompression bomb").
MAX_IMAGE_PIXELS = 50_000_000
JPEG_QUALITY = 90
# A progressive JPEG is decoded once per scan: encoders write ten or so, and each costs a pass
# over the whole image (0.1 s for 36 million pixels), so a 200 KB file of a thousand tiny scans
# takes minutes. Scan markers are counted in the raw bytes, where 0xFF inside compressed data is
# always followed by 0x00: the count can be too high (a thumbnail's scans), never too low.
MAX_JPEG_SCANS = 40
MAX_PDF_PAGES = 500
# Ordinary documents have a few thousand objects and ten thousand entries in their dictionaries
# and arrays; the bounds keep a crafted file from holding a request for more than seconds.
MAX_PDF_OBJECTS = 100_000
MAX_PDF_NODES = 500_000
# qpdf's own limits, process-wide: what one stream (an object stream, a cross-reference stream)
# may decompress to, and how many warnings a damaged file may raise before qpdf gives up.
_QPDF_STREAM_MEMORY = 16 * 1024 * 1024
_QPDF_MAX_WARNINGS = 100
# What all object streams together may decompress to: each is bounded by qpdf, but a 10 MB file
# can hold hundreds of them, and every decompressed byte is parsed into objects held in memory.
# A document of 100,000 objects packs into about 8 MB.
MAX_PDF_PACKED_BYTES = 8 * 1024 * 1024

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_START = b"\xff\xd8\xff"
_JPEG_SCAN = b"\xff\xda"
_PDF_START = re.compile(rb"%PDF-[12]\.[0-9]")
_PDF_EOF_WINDOW = 1024
_SNIFF_WINDOW = 1024
# What a browser's MIME sniffing (WHATWG "mimesniff", HTML and XML patterns) would take for a
# page, looked for at the start of the file; long enough not to occur in binary data by chance.
_MARKUP = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|svg|object|embed|meta|style|title)"
    rb"[\s>/]", re.IGNORECASE)
_UNSAFE_IN_STEM = re.compile(r"[^A-Za-z0-9._-]+")

# -- what a PDF may not carry, and how the refusal names it -------------------------------------
_SCRIPT = "du JavaScript"
_LINK = "un lien vers un site web ou vers un autre fichier"
_PROGRAM = "le lancement d'un programme"
_FORM = "un formulaire qui envoie ou importe des données"
_XFA = "un formulaire dynamique (XFA)"
_ATTACHMENT = "un fichier joint"
_MEDIA = "du contenu multimédia (son, vidéo, 3D ou Flash)"
_AUTOMATIC = "une action déclenchée automatiquement"
_ACTION = "une action interactive"
# Every action type of ISO 32000-2 (12.6.4). Only /GoTo, a jump to a page of the same document,
# is let through: it opens nothing and runs nothing, and the bookmarks and table-of-contents
# links that word processors write are made of it.
_ACTION_TYPES = frozenset({
    "/GoTo", "/GoToR", "/GoToE", "/GoToDp", "/Launch", "/Thread", "/URI", "/Sound", "/Movie",
    "/Hide", "/Named", "/SubmitForm", "/ResetForm", "/ImportData", "/SetOCGState", "/Rendition",
    "/Trans", "/GoTo3DView", "/JavaScript", "/RichMediaExecute"})
_HARMLESS_ACTION = "/GoTo"
# Keys whose mere presence brings active content: scripts, the additional-actions dictionaries
# that fire on opening, closing, printing, focus or page change, embedded file streams and the
# name tree listing them, XFA forms, rich media.
_FORBIDDEN_KEYS = {
    "/JS": _SCRIPT, "/JavaScript": _SCRIPT, "/AA": _AUTOMATIC, "/EF": _ATTACHMENT,
    "/EmbeddedFiles": _ATTACHMENT, "/XFA": _XFA, "/RichMediaContent": _MEDIA,
}
# Names that, as a value anywhere (an action's /S, an annotation's /Subtype, a /Type), stand for
# the same: they are refused wherever they appear, not only where the specification puts them.
_FORBIDDEN_NAMES = {
    "/JavaScript": _SCRIPT, "/URI": _LINK, "/GoToR": _LINK, "/GoToE": _LINK, "/GoToDp": _LINK,
    "/Launch": _PROGRAM, "/SubmitForm": _FORM, "/ImportData": _FORM,
    "/EmbeddedFile": _ATTACHMENT, "/EmbeddedFiles": _ATTACHMENT, "/FileAttachment": _ATTACHMENT,
    "/RichMedia": _MEDIA, "/RichMediaExecute": _MEDIA, "/Sound": _MEDIA, "/Movie": _MEDIA,
    "/Rendition": _MEDIA, "/Screen": _MEDIA, "/3D": _MEDIA, "/GoTo3DView": _MEDIA,
}


# Every name the walk below acts on, to look for in qpdf's text of an object before walking it;
# and a type given by reference (/S 7 0 R), whose name is only known once resolved.
_SIGNIFICANT_NAMES = re.compile(b"|".join([
    *(re.escape(name.encode("ascii")) for name in sorted(
        {*_FORBIDDEN_KEYS, *_FORBIDDEN_NAMES, *_ACTION_TYPES, "/Action", "/OpenAction"},
        key=len, reverse=True)),
    rb"/(?:S|Type|Subtype) \d+ \d+ R"]))


class UploadRefused(ValueError):
    """The upload is refused; ``message`` says why, in French, to show next to the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedUpload:
    """The checked file; ``data`` is the file rebuilt by the check, the bytes to store."""

    safe_name: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:  # never the bytes, which may be a person's scanned form
        return (f"CheckedUpload(safe_name={self.safe_name!r}, "
                f"content_type={self.content_type!r}, size={len(self.data)})")


class FileLike(Protocol):
    """What a Werkzeug ``FileStorage`` offers and :func:`check_file` uses."""

    filename: str | None
    stream: BinaryIO


def size_fr(size: int) -> str:
    """``10485760`` -> ``10 Mo``; ``1536`` -> ``1,5 Ko``."""
    for unit, factor in (("Mo", 1024 * 1024), ("Ko", 1024)):
        if size >= factor:
            value = size / factor
            text = f"{value:.0f}" if value == int(value) else f"{value:.1f}".replace(".", ",")
            return f"{text} {unit}"
    return f"{size} octets"


def check_file(
    storage: FileLike, *, max_bytes: int, allowed: Collection[str] = ACCEPTED_TYPES
) -> CheckedUpload:
    """Check an uploaded file without reading more than ``max_bytes + 1`` bytes of it."""
    name = storage.filename or ""
    data = storage.stream.read(max_bytes + 1)
    return check_upload(name, data, max_bytes=max_bytes, allowed=allowed)


def check_upload(
    filename: str, data: bytes, *, max_bytes: int, allowed: Collection[str] = ACCEPTED_TYPES
) -> CheckedUpload:
    """The checked and rebuilt file, or UploadRefused with the French reason."""
    check_name(filename)
    if not data:
        raise UploadRefused("Le fichier est vide (0 octet) : choisissez le fichier numérisé.")
    if len(data) > max_bytes:
        raise UploadRefused(
            f"Le fichier dépasse la taille maximale autorisée ({size_fr(max_bytes)}).")
    content_type = detect_type(data)
    if content_type is None:
        raise UploadRefused(
            "Le contenu du fichier n'est ni un PDF, ni une image JPEG ou PNG : ce format "
            "n'est pas accepté, quel que soit le nom du fichier.")
    if content_type not in allowed:
        raise UploadRefused(
            f"Le fichier est {LABELS[content_type]} (d'après son contenu) ; seuls sont "
            f"acceptés ici : {accepted_fr(allowed)}.")
    _check_polyglot(data)
    cleaned = _pdf(data) if content_type == PDF else _image(data, content_type)
    # The rebuilt PDF copies strings and stream data of the original in a new order: what a
    # browser would sniff at its start, or an archive directory at its end, is looked for again.
    _check_polyglot(cleaned)
    return CheckedUpload(safe_name(filename, content_type), content_type, cleaned)


def accepted_fr(allowed: Collection[str]) -> str:
    labels = [LABELS[t] for t in (PDF, JPEG, PNG) if t in allowed]
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " ou " + labels[-1]


def check_name(filename: str) -> None:
    if len(filename) > NAME_MAX:
        raise UploadRefused(f"Le nom du fichier est trop long ({NAME_MAX} caractères au plus).")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in filename):
        raise UploadRefused("Le nom du fichier contient des caractères de contrôle : "
                            "renommez-le avant de l'envoyer.")
    if "/" in filename or "\\" in filename or ".." in filename:
        raise UploadRefused("Le nom du fichier ne doit contenir ni « / », ni « \\ », ni « .. » : "
                            "renommez-le avant de l'envoyer.")


def detect_type(data: bytes) -> str | None:
    """The accepted format the bytes start with, or None."""
    if data.startswith(_PNG_SIGNATURE):
        return PNG
    if data.startswith(_JPEG_START):
        return JPEG
    if _PDF_START.match(data):
        return PDF
    return None


def safe_name(filename: str, content_type: str) -> str:
    """Letters, digits, ``.``, ``-`` and ``_`` only (accents dropped, anything else replaced
    by ``_``), with the extension of the detected format in place of the one given."""
    base = filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    stem, dot, _extension = base.rpartition(".")
    if not dot:
        stem = base
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode("ascii")
    cleaned = _UNSAFE_IN_STEM.sub("_", ascii_stem)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).strip("._-")[:STEM_MAX].strip("._-")
    return (cleaned or DEFAULT_STEM) + EXTENSIONS[content_type]


def _check_polyglot(data: bytes) -> None:
    if _MARKUP.search(data[:_SNIFF_WINDOW]):
        raise UploadRefused(
            "Le fichier contient, à son début, du code de page web (HTML ou script) : il est "
            "refusé par sécurité. Numérisez de nouveau le document.")
    if zipfile.is_zipfile(io.BytesIO(data)):
        raise UploadRefused(
            "Le fichier est aussi une archive (ZIP ou format bureautique) : il est refusé par "
            "sécurité. Enregistrez-le de nouveau en PDF, JPEG ou PNG simple.")


# -- PDF ----------------------------------------------------------------------------------------

_RESAVE = "Enregistrez-le de nouveau (par exemple avec « Imprimer en PDF ») puis renvoyez-le."


@functools.cache
def _qpdf_limits() -> None:
    """Set qpdf's process-wide limits once, at the first PDF checked rather than at import."""
    pikepdf.settings.set_qpdf_limits(
        flate_max_memory=_QPDF_STREAM_MEMORY, run_length_max_memory=_QPDF_STREAM_MEMORY,
        png_max_memory=_QPDF_STREAM_MEMORY, tiff_max_memory=_QPDF_STREAM_MEMORY,
        doc_max_warnings=_QPDF_MAX_WARNINGS)


def _pdf(data: bytes) -> bytes:
    if b"%%EOF" not in data[-_PDF_EOF_WINDOW:]:
        raise UploadRefused("Le PDF est incomplet ou endommagé (fin de fichier absente) : "
                            "enregistrez-le de nouveau.")
    _qpdf_limits()
    damaged = UploadRefused(f"Le PDF est endommagé : il ne peut pas être lu. {_RESAVE}")
    try:
        # No repair: a file whose cross-reference table is wrong is read differently by each
        # viewer, and the one checked here would not be the one the recipient sees.
        with pikepdf.open(io.BytesIO(data), attempt_recovery=False) as pdf:
            return _checked_pdf(pdf)
    except pikepdf.PasswordError:
        raise _encrypted() from None
    except UploadRefused:
        raise
    # Whatever a hostile file makes qpdf or pikepdf raise (PdfError, ValueError, RuntimeError,
    # RecursionError...) is a file that cannot be read: refused, never a server error.
    except Exception:
        raise damaged from None


def _encrypted() -> UploadRefused:
    return UploadRefused(
        "Le PDF est protégé par un mot de passe ou chiffré : son contenu ne peut pas être "
        "vérifié. Enregistrez-en une copie sans protection puis renvoyez-la.")


def _checked_pdf(pdf: pikepdf.Pdf) -> bytes:
    if pdf.is_encrypted:
        raise _encrypted()
    _check_size_before_parsing(pdf)
    pages = len(pdf.pages)
    if pages == 0:
        raise UploadRefused(f"Le PDF ne contient aucune page. {_RESAVE}")
    if pages > MAX_PDF_PAGES:
        raise UploadRefused(f"Le PDF compte plus de {MAX_PDF_PAGES} pages : envoyez seulement "
                            "les pages utiles.")
    found = _active_content([pdf.trailer, *pdf.objects])
    if found is not None:
        raise UploadRefused(
            f"Ce PDF contient du contenu actif ({found}) : il est refusé par sécurité. "
            f"{_RESAVE}")
    rebuilt = io.BytesIO()
    # Stream data is copied as it came (never decompressed, so no stream can expand); the
    # metadata stream is left alone; the /ID is derived from the content, not from the clock.
    pdf.save(rebuilt, stream_decode_level=pikepdf.StreamDecodeLevel.none,
             fix_metadata_version=False, deterministic_id=True)
    return rebuilt.getvalue()


def _check_size_before_parsing(pdf: pikepdf.Pdf) -> None:
    """Refuse a file whose objects would be too many to parse, from its cross-reference table
    alone: object streams are decompressed (and measured) one at a time, before qpdf turns
    their content into objects."""
    too_complex = UploadRefused(f"Le PDF est trop complexe pour être vérifié. {_RESAVE}")
    table = pdf.get_xref_table()
    if len(table) > MAX_PDF_OBJECTS:
        raise too_complex
    packed = 0
    for number in sorted({e.obj_stream_number for e in table.values() if e.type == 2}):
        holder = pdf.get_object((number, 0))
        if not isinstance(holder, pikepdf.Stream):
            raise ValueError("an object stream that is not a stream")
        packed += len(holder.read_bytes())
        if packed > MAX_PDF_PACKED_BYTES:
            raise too_complex


def _active_content(objects: Iterable[pikepdf.Object]) -> str | None:
    """What the first piece of active content found is, in French, or None.

    Each indirect object is given once (``pdf.objects``: those in object streams included,
    those nothing refers to too); the direct objects inside it are walked here, the indirect
    ones it refers to are skipped since they are in the list themselves. Stream data is not
    looked into: a viewer runs a script only when a dictionary points at it."""
    nodes = 0
    for top in objects:
        if not _may_be_active(top):
            continue
        stack: list[Any] = [top]
        while stack:
            obj = stack.pop()
            nodes += 1
            if nodes > MAX_PDF_NODES:
                raise UploadRefused(f"Le PDF est trop complexe pour être vérifié. {_RESAVE}")
            if isinstance(obj, pikepdf.Name):
                found = _FORBIDDEN_NAMES.get(str(obj))
                if found is not None:
                    return found
            elif isinstance(obj, pikepdf.Array):
                stack.extend(_direct(obj))
            elif isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                entries = obj.stream_dict if isinstance(obj, pikepdf.Stream) else obj
                found = _active_dictionary(entries)
                if found is not None:
                    return found
                stack.extend(_direct(entries.values()))
    return None


def _may_be_active(obj: pikepdf.Object) -> bool:
    """False when the object cannot hold active content, found without walking it in Python.

    qpdf writes an object out (``unparse``, in C++) with its names in canonical form, decoded
    and re-escaped only where a character needs it, so a name such as /JavaScript, however it
    was escaped in the file, reads ``/JavaScript`` there. An object in whose text no name that
    matters occurs, even as a prefix or inside a string, holds none; the others are walked."""
    if isinstance(obj, pikepdf.Stream):
        text = obj.stream_dict.unparse()
    elif isinstance(obj, pikepdf.Object):
        text = obj.unparse(resolved=True)
    else:
        return False
    return _SIGNIFICANT_NAMES.search(text) is not None


def _direct(values: Iterable[Any]) -> list[Any]:
    return [v for v in values if not (isinstance(v, pikepdf.Object) and v.is_indirect)]


def _active_dictionary(entries: pikepdf.Dictionary) -> str | None:
    for key in entries.keys():
        if key in _FORBIDDEN_KEYS:
            return _FORBIDDEN_KEYS[key]
    kind = entries.get("/S")
    if isinstance(kind, pikepdf.Name) and str(kind) in _ACTION_TYPES \
            and str(kind) != _HARMLESS_ACTION:
        return _FORBIDDEN_NAMES.get(str(kind), _ACTION)
    if entries.get("/Type") == pikepdf.Name.Action and kind != pikepdf.Name(_HARMLESS_ACTION):
        return _ACTION
    if "/OpenAction" in entries:
        # A page to open at ([page /Fit]) is fine; an action on opening must be a plain jump.
        opening = entries.get("/OpenAction")
        if isinstance(opening, pikepdf.Dictionary):
            kind = opening.get("/S")
            if kind != pikepdf.Name(_HARMLESS_ACTION):
                named = str(kind) if isinstance(kind, pikepdf.Name) else ""
                return _FORBIDDEN_NAMES.get(named, _AUTOMATIC)
        elif not isinstance(opening, pikepdf.Array):
            return _AUTOMATIC
    return None


# -- JPEG and PNG -------------------------------------------------------------------------------

_RESCAN = "numérisez de nouveau le document."
_EXIF_ORIENTATION = 0x0112


def _image(data: bytes, content_type: str) -> bytes:
    label = "L'image JPEG" if content_type == JPEG else "L'image PNG"
    if content_type == JPEG and data.count(_JPEG_SCAN) > MAX_JPEG_SCANS:
        raise UploadRefused(f"{label} est enregistrée en trop de passes successives (JPEG "
                            f"progressif, {MAX_JPEG_SCANS} au plus) : {_RESCAN}")
    # The format's own class, not Image.open: Image.open checks the size against Pillow's
    # process-wide MAX_IMAGE_PIXELS and warns (DecompressionBombWarning) below its hard limit;
    # the size is checked here, before any pixel is decoded, with a limit of our own.
    opener = JpegImagePlugin.JpegImageFile if content_type == JPEG \
        else PngImagePlugin.PngImageFile
    try:
        with opener(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise UploadRefused(
                    f"{label} est trop grande ({width} × {height} pixels ; "
                    f"{MAX_IMAGE_PIXELS // 1_000_000} millions de pixels au plus) : "
                    "numérisez-la de nouveau à 300 points par pouce au plus.")
            image.load()
            return _reencoded(image, content_type)
    except UploadRefused:
        raise
    # Pillow reports a damaged or truncated file with OSError or SyntaxError, odd headers with
    # ValueError, EOFError or struct.error (a ValueError too).
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        damaged = "est incomplète ou endommagée" if content_type == JPEG else "est endommagée"
        raise UploadRefused(f"{label} {damaged} : {_RESCAN}") from exc


def _reencoded(image: Image.Image, content_type: str) -> bytes:
    """The pixels alone, in the same format: upright, with resolution and transparency kept
    and every other piece of metadata (EXIF, XMP, ICC profile, comments, text) left out."""
    options: dict[str, Any] = {}
    dpi = image.info.get("dpi")
    if isinstance(dpi, tuple) and len(dpi) == 2:
        options["dpi"] = (round(float(dpi[0])), round(float(dpi[1])))
    if content_type == PNG and image.info.get("transparency") is not None:
        options["transparency"] = image.info["transparency"]
    turned = image.getexif().get(_EXIF_ORIENTATION, 1) != 1
    upright = ImageOps.exif_transpose(image) if turned else image
    # Pillow writes back what it read (comment, ICC profile...) unless the image forgets it.
    upright.info.clear()
    out = io.BytesIO()
    if content_type == JPEG:
        # An image left as it was keeps its own quantisation tables: no second loss of
        # quality, and about the size it came with. A turned one is encoded afresh.
        upright.save(out, "JPEG", quality=JPEG_QUALITY if turned else "keep", **options)
    else:
        # The fastest zlib level: a 300 dpi scan is written in under a second instead of five
        # at the default level, for a file about 15 % larger.
        upright.save(out, "PNG", compress_level=1, **options)
    return out.getvalue()
