"""The arithmetic and the definitions of exchange.domain.indicators, without a database."""

from __future__ import annotations

from datetime import date

import pytest

from exchange.domain.indicators import (
    CaseloadBand,
    Period,
    delay,
    delay_distribution,
    last_day,
    mask,
    masked_ratio,
    median,
    midterm_on_time,
    month_of,
    percent_fr,
    within_entry_target,
)


def test_periods_and_the_months_they_hold() -> None:
    year, quarter, month = Period(2026), Period(2026, quarter=2), Period(2026, month=3)
    assert (year.first, year.last, len(year.months)) == (date(2026, 1, 1), date(2026, 12, 1), 12)
    assert quarter.months == (date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1))
    assert month.months == (date(2026, 3, 1),)
    assert [p.label for p in (year, Period(2026, quarter=1), quarter, month)] == [
        "année 2026", "1er trimestre 2026", "2e trimestre 2026", "mars 2026"]
    assert [p.slug for p in (year, quarter, month)] == ["2026", "2026-T2", "2026-03"]
    assert quarter.contains(date(2026, 6, 30)) and not quarter.contains(date(2026, 7, 1))


def test_the_caseload_is_taken_on_the_last_day_of_the_period_or_of_this_month() -> None:
    assert Period(2025).caseload_month(date(2026, 11, 23)) == date(2025, 12, 1)
    assert Period(2026).caseload_month(date(2026, 11, 23)) == date(2026, 11, 1)
    assert last_day(date(2028, 2, 1)) == date(2028, 2, 29)


@pytest.mark.parametrize(("year", "quarter", "month"), [
    ("2026", "5", ""), ("2026", "", "13"), ("2026", "1", "2"), ("deux", "", ""),
    ("2026", "-1", ""), ("1999", "", ""), ("20261", "", "")])
def test_invalid_filters_are_refused(year: str, quarter: str, month: str) -> None:
    with pytest.raises(ValueError):
        Period.parse(year, quarter, month, 2026)


def test_empty_filters_mean_the_current_year() -> None:
    assert Period.parse("", None, " ", 2026) == Period(2026)


def test_median_of_a_histogram() -> None:
    assert median({}) is None
    assert median({7: 1}) == 7
    assert median({1: 1, 3: 1}) == 2
    assert median({0: 2, 10: 1, 40: 1}) == 5  # 0 [0 10] 40
    assert median({5: 3, 9: 1}) == 5


def test_delay_summary_and_the_21_day_boundary() -> None:
    assert within_entry_target(21) and not within_entry_target(22)
    summary = delay({0: 1, 21: 1, 22: 2}, within_target=2)
    assert (summary.entries, summary.mean, summary.median, summary.share_within) == (
        4, 65 / 4, 21.5, 0.5)
    assert delay({}, 0).mean is None and delay({}, 0).share_within is None
    assert delay_distribution({7: 1, 8: 1, 21: 2, 22: 1, 60: 1, 61: 3}) == (
        ("0 à 7 j", 1), ("8 à 14 j", 1), ("15 à 21 j", 2), ("22 à 30 j", 1), ("31 à 45 j", 0),
        ("46 à 60 j", 1), ("plus de 60 j", 3))


def test_midterm_is_on_time_up_to_15_days_after_it_fell_due() -> None:
    due = date(2027, 6, 5)
    assert midterm_on_time(due, date(2027, 5, 1))
    assert midterm_on_time(due, date(2027, 6, 20))
    assert not midterm_on_time(due, date(2027, 6, 21))


def test_caseload_band() -> None:
    assert CaseloadBand.for_target(None) == CaseloadBand(70, 70)
    assert CaseloadBand.for_target(100) == CaseloadBand(70, 100)
    assert CaseloadBand.for_target(50) == CaseloadBand(50, 50)
    band = CaseloadBand(70, 100)
    assert [band.status(n) for n in (69, 70, 100, 101)] == ["below", "within", "within",
                                                            "above"]
    assert (band.label, CaseloadBand(70, 70).label) == ("70 à 100", "70")


def test_small_counts_are_masked() -> None:
    assert [mask(n) for n in (0, 1, 4, 5, 12)] == ["0", "< 5", "< 5", "5", "12"]
    assert mask(9, threshold=10) == "< 10"
    assert masked_ratio("50,0 %", 4, 5) == "n.d."
    assert masked_ratio("50,0 %", 5, 5) == "50,0 %"
    assert masked_ratio("—", 0, 5) == "—"
    assert masked_ratio("50,0 %", 1, None) == "50,0 %"


def test_french_numbers() -> None:
    assert percent_fr(6 / 9) == "66,7\u00a0%"
    assert percent_fr(None) == "—"
    assert month_of(date(2026, 2, 28)) == date(2026, 2, 1)
