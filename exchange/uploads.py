"""Uploaded files, checked by their content: PDF, JPEG or PNG only, never judged by the name.

What the browser says (name, declared type) decides nothing: the bytes are read, their format
recognised, and the file refused when it is empty, too large, not one of the accepted formats,
damaged, or when it could also be read as something else (a "polyglot": a PDF that is also a
ZIP archive, an image followed by hidden data, a file that a browser would sniff as HTML).
PDFs carrying active content (JavaScript, launch actions, embedded files) are refused too.

The file's name is only checked (no control characters, path separators or ``..``) and reduced
to a safe name with the extension of the detected format. Callers that store the file should
not keep even that name in clear: it often carries the person's name.

Reused for consent forms and fiche attachments: ``check_upload(name, data, max_bytes=...)`` or
``check_file(storage, max_bytes=...)`` with a Werkzeug ``FileStorage``.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import BinaryIO, Protocol

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
ACCEPTED_TYPES: frozenset[str] = frozenset({PDF, JPEG, PNG})
EXTENSIONS = {PDF: ".pdf", JPEG: ".jpg", PNG: ".png"}
LABELS = {PDF: "un PDF", JPEG: "une image JPEG", PNG: "une image PNG"}
DEFAULT_STEM = "document"
STEM_MAX = 80
NAME_MAX = 255

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_START = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"
_PDF_START = re.compile(rb"%PDF-[12]\.[0-9]")
_PDF_EOF_WINDOW = 1024
_SNIFF_WINDOW = 1024
# What a browser's MIME sniffing (WHATWG "mimesniff", HTML and XML patterns) would take for a
# page, looked for at the start of the file; long enough not to occur in binary data by chance.
_MARKUP = re.compile(
    rb"<(?:!doctype\s+html|html|head|body|script|iframe|svg|object|embed|meta|style|title)"
    rb"[\s>/]", re.IGNORECASE)
# PDF names that run code, open other programs or hide files inside the document. Names may
# be written with #xx escapes (/J#61vaScript), which are decoded before looking.
_PDF_ACTIVE = re.compile(
    rb"/(?:JavaScript|JS|Launch|EmbeddedFiles?|RichMedia|XFA)(?=[\s/<>\[\]()%{}]|$)")
_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
# Stream bodies (images, compressed content) are binary: a short name like /JS turns up in them
# by chance, so only the objects' dictionaries, outside the streams, are searched.
_PDF_STREAM = re.compile(rb">>\s*stream\r?\n.*?endstream", re.DOTALL)
_UNSAFE_IN_STEM = re.compile(r"[^A-Za-z0-9._-]+")


class UploadRefused(ValueError):
    """The upload is refused; ``message`` says why, in French, to show next to the field."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CheckedUpload:
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
    """The checked file, or UploadRefused with the French reason."""
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
    _STRUCTURE_CHECKS[content_type](data)
    return CheckedUpload(safe_name(filename, content_type), content_type, data)


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


def _check_pdf(data: bytes) -> None:
    tail = data[-_PDF_EOF_WINDOW:]
    if b"%%EOF" not in tail:
        raise UploadRefused("Le PDF est incomplet ou endommagé (fin de fichier absente) : "
                            "enregistrez-le de nouveau.")
    structure = _PDF_STREAM.sub(b">> stream endstream", data)
    decoded = _PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), structure)
    if _PDF_ACTIVE.search(decoded):
        raise UploadRefused(
            "Ce PDF contient du contenu actif (JavaScript, formulaire dynamique, lancement "
            "d'application ou fichier joint) : il est refusé par sécurité. Enregistrez-le de "
            "nouveau en PDF simple (par exemple avec « Imprimer en PDF »).")


def _check_jpeg(data: bytes) -> None:
    # Some scanners pad the file with zero bytes after the end marker; nothing else may follow.
    if not data.rstrip(b"\x00").endswith(_JPEG_END) or len(data) < 4:
        raise UploadRefused(
            "L'image JPEG est incomplète, endommagée ou suivie de données cachées : "
            "numérisez de nouveau le document.")


def _check_png(data: bytes) -> None:
    damaged = UploadRefused("L'image PNG est endommagée : numérisez de nouveau le document.")
    position = len(_PNG_SIGNATURE)
    first = True
    while True:
        if position + 12 > len(data):
            raise damaged
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        end = position + 12 + length
        if end > len(data) or not kind.isalpha():
            raise damaged
        body = data[position + 8:end - 4]
        (crc,) = struct.unpack(">I", data[end - 4:end])
        if zlib.crc32(kind + body) != crc:
            raise damaged
        if first:
            if kind != b"IHDR" or length != 13:
                raise damaged
            width, height = struct.unpack(">II", body[:8])
            if width == 0 or height == 0:
                raise damaged
            first = False
        position = end
        if kind == b"IEND":
            break
    if position != len(data):
        raise UploadRefused(
            "L'image PNG est suivie de données cachées après sa fin : elle est refusée par "
            "sécurité. Numérisez de nouveau le document.")


_STRUCTURE_CHECKS = {PDF: _check_pdf, JPEG: _check_jpeg, PNG: _check_png}
