"""The fonts of the fiche PDF: Bitstream Vera, as shipped inside the reportlab package.

Why Vera rather than the standard Helvetica or a system font:

- Helvetica is one of the PDF base-14 fonts: not embedded, WinAnsi-encoded. WinAnsi has the
  French letters and signs (é, œ, Œ, Ÿ, ’, « », –, €), but of Latin Extended-A only œ/Œ, Š/š,
  Ž/ž and Ÿ, so a name such as « Łukasz Şahin » would lose letters.
- Vera is a TrueType font that reportlab embeds as a subset, so every viewer shows the same
  glyphs. Its 283 characters are WinAnsi plus part of Latin Extended-A (Ł ł Ş ş Ğ ğ İ ı Č č
  Ć ć Đ đ Ď ď), all four styles ship in ``reportlab/fonts`` with the dependency we already pin
  (no system font, so the same input gives the same bytes on every machine), and its licence
  allows embedding. It lacks the rest of Latin Extended-A (Polish ą ę ń ś ź ż, Czech ř ů,
  Hungarian ő ű, Romanian ș ț) and every non-Latin script.
- DejaVu Sans (Debian ``fonts-dejavu-core``) covers all of that, but read from the host it would
  make the PDF depend on what is installed there. Vendoring its TTFs next to this module (about
  2.7 MB for four styles, permissive licence) and pointing ``_FILES`` at them is the way to full
  coverage.

Characters Vera lacks go through :func:`printable`: typographic spaces become no-break spaces,
compatibility forms are decomposed (``№`` → ``No``), a letter whose accent is missing loses its
accents from the last until it can be shown (``ễ`` → ``ê``, ``ư`` → ``u``; ``ș`` becomes the
customary ``ş``), and anything else (Cyrillic, Arabic…) becomes ``?``. :func:`unprintable` lists
those characters so that a form can warn before signing.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from pathlib import Path

import reportlab
from reportlab.lib.fonts import addMapping
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

REGULAR = "LiaisonVera"
BOLD = "LiaisonVera-Bold"
ITALIC = "LiaisonVera-Italic"
BOLD_ITALIC = "LiaisonVera-BoldItalic"

_FILES = {REGULAR: "Vera.ttf", BOLD: "VeraBd.ttf", ITALIC: "VeraIt.ttf", BOLD_ITALIC: "VeraBI.ttf"}
# Typographic spaces of French text (fine no-break space before « ; : ! ? », thin space, figure
# space) that Vera lacks; a no-break space keeps them unbreakable.
_SPACES = {0x202F: "\u00a0", 0x2009: "\u00a0", 0x2007: "\u00a0", 0x2002: " ", 0x2003: " "}
# Romanian comma-below letters: the cedilla forms are the customary stand-ins.
_LOOKALIKES = {"ș": "ş", "Ș": "Ş", "ț": "ţ", "Ț": "Ţ"}
_KEPT_CONTROLS = {"\n", "\t"}


@cache
def register() -> None:
    """Register the Vera family with reportlab (once per process; idempotent)."""
    folder = Path(reportlab.__file__).resolve().parent / "fonts"
    for name, file_name in _FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(folder / file_name)))
    # So that <b> and <i> in Paragraph markup pick the right face.
    addMapping(REGULAR, 0, 0, REGULAR)
    addMapping(REGULAR, 1, 0, BOLD)
    addMapping(REGULAR, 0, 1, ITALIC)
    addMapping(REGULAR, 1, 1, BOLD_ITALIC)


@cache
def _coverage() -> frozenset[int]:
    register()
    font = pdfmetrics.getFont(REGULAR)
    # The four Vera faces have the same 283 characters; controls are never "covered".
    return frozenset(c for c in font.face.charToGlyph if unicodedata.category(chr(c)) != "Cc")


def _covered(text: str) -> bool:
    coverage = _coverage()
    return all(ord(ch) in coverage for ch in text)


@cache
def _substitute(ch: str) -> str:
    if ord(ch) in _SPACES:
        return _SPACES[ord(ch)]
    if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
        return ""  # controls, format characters, surrogates: nothing to print
    if _covered(ch):
        return ch
    candidates = (_LOOKALIKES.get(ch, ""), unicodedata.normalize("NFKC", ch), *_fewer_marks(ch))
    for candidate in candidates:
        if candidate and _covered(candidate):
            return candidate
    return "?"


def _fewer_marks(ch: str) -> list[str]:
    """``ch`` with its accents dropped one at a time from the last: ``ễ`` gives ``ê`` then
    ``e``."""
    decomposed = unicodedata.normalize("NFKD", ch)
    base = "".join(c for c in decomposed if not unicodedata.combining(c))
    marks = [c for c in decomposed if unicodedata.combining(c)]
    kept = range(len(marks) - 1, -1, -1)
    return [unicodedata.normalize("NFC", base + "".join(marks[:n])) for n in kept]


def printable(text: str) -> str:
    """``text`` (NFC-normalised) with every character the embedded font cannot show replaced as
    the module docstring says. Newlines and tabs are kept."""
    text = unicodedata.normalize("NFC", text)
    if _covered(text):
        return text
    return "".join(ch if ch in _KEPT_CONTROLS else _substitute(ch) for ch in text)


def unprintable(text: str) -> set[str]:
    """The characters of ``text`` that :func:`printable` would change (other than typographic
    spaces and invisible format characters)."""
    text = unicodedata.normalize("NFC", text)
    return {
        ch
        for ch in text
        if ch not in _KEPT_CONTROLS and ord(ch) not in _SPACES and _substitute(ch) not in (ch, "")
    }
