"""What the embedded font can show, and the French wording helpers."""

from __future__ import annotations

import dataclasses
from datetime import date
from pathlib import Path

import pytest

from exchange.fiches.pdf import render_fiche_pdf
from exchange.fiches.pdf_sample import sample_fiche
from exchange.platform.pdf.fonts import printable, unprintable
from exchange.platform.pdf.french import file_size, long_date
from tests.fiches.pdf.support import pdftotext, words

FRENCH = "àâäçéèêëîïôöùûüÿæœÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸÆŒ’‘«»“”–—…€"


def test_french_letters_and_signs_are_printable_as_they_are() -> None:
    assert printable(FRENCH) == FRENCH
    assert unprintable(FRENCH) == set()


def test_latin_extended_names_are_printable() -> None:
    assert printable("Łukasz Şahin Čapek Đorđević İnce") == "Łukasz Şahin Čapek Đorđević İnce"


def test_characters_the_font_lacks_degrade_visibly_and_are_reported() -> None:
    assert printable("Ștefan Nguyễn Dvořák Wiśniewska") == "Ştefan Nguyên Dvorák Wisniewska"
    assert printable("Олег") == "????"
    assert unprintable("Ștefan Олег") == {"Ș", "О", "л", "е", "г"}


def test_typographic_spaces_become_no_break_spaces_and_controls_vanish() -> None:
    assert printable("Oui\u202f! a\u2009b") == "Oui\u00a0! a\u00a0b"
    assert printable("a\x00b\x1bc\u200bd\nf") == "abcd\nf"


def test_french_text_survives_the_round_trip_through_the_pdf(tmp_path: Path) -> None:
    doc = dataclasses.replace(sample_fiche(), sections=(("Texte", FRENCH),))
    assert FRENCH in words(pdftotext(render_fiche_pdf(doc), tmp_path))


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2026, 11, 23), "23 novembre 2026"),
        (date(2026, 12, 1), "1er décembre 2026"),
        (date(2027, 2, 28), "28 février 2027"),
        (date(2027, 8, 15), "15 août 2027"),
    ],
)
def test_long_date(day: date, expected: str) -> None:
    assert long_date(day) == expected


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (0, "0 octet"),
        (1, "1 octet"),
        (812, "812 octets"),
        (1024, "1\u00a0Ko"),
        (184_320, "180\u00a0Ko"),
        (1_258_291, "1,2\u00a0Mo"),
        (10 * 1024 * 1024, "10\u00a0Mo"),
    ],
)
def test_file_size(size: int, expected: str) -> None:
    assert file_size(size) == expected


def test_negative_file_size_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        file_size(-1)
