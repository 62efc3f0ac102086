"""The retention rules, with the conventions' examples, on dates alone."""

from datetime import date, timedelta

import pytest

from exchange.domain.dates import add_months
from exchange.domain.vocabulary import Axis, FicheState
from retention.policy import (
    RetentionRule,
    due,
    epoch_of,
    fiche_no_longer_needed,
    horizon,
    notice_window,
    person_horizon,
)

DAY = timedelta(days=1)
DEFAULT = RetentionRule(grace_days=30)
CIAS = RetentionRule(grace_days=15, axis_period_months={Axis.AXE2: 2, Axis.AXE3: 2})


def exists_on(horizon_day: date | None, day: date) -> bool:
    return not due(horizon_day, day)


@pytest.mark.parametrize(
    "convention_end",
    [date(2024, 12, 31), date(2025, 12, 31), date(2024, 6, 15), date(2023, 12, 31)],
)
def test_axe3_data_lives_until_two_months_after_the_convention(convention_end: date) -> None:
    h = horizon(convention_end, Axis.AXE3, DEFAULT)
    two_months = add_months(convention_end, 2)
    assert h == two_months
    assert exists_on(h, two_months - DAY)
    assert exists_on(h, two_months)
    assert not exists_on(h, two_months + DAY)


def test_axe3_examples_written_out() -> None:
    assert horizon(date(2024, 12, 31), Axis.AXE3, DEFAULT) == date(2025, 2, 28)
    assert horizon(date(2023, 12, 31), Axis.AXE3, DEFAULT) == date(2024, 2, 29)


def test_axe2_data_lives_ten_years() -> None:
    end = date(2024, 12, 31)  # Tarn-et-Garonne convention (001 art. 6)
    h = horizon(end, Axis.AXE2, DEFAULT)
    assert h == date(2034, 12, 31)
    assert exists_on(h, date(2034, 12, 30))
    assert exists_on(h, date(2034, 12, 31))
    assert not exists_on(h, date(2035, 1, 1))
    assert horizon(date(2024, 2, 29), Axis.AXE2, DEFAULT) == date(2034, 2, 28)


def test_cias_convention_keeps_axe2_two_months() -> None:
    assert horizon(date(2025, 12, 31), Axis.AXE2, CIAS) == date(2026, 2, 28)


def test_a_declined_orientation_goes_after_its_grace() -> None:
    decided = date(2025, 3, 10)
    no_longer_needed = fiche_no_longer_needed(FicheState.DECLINED, decided, None)
    assert no_longer_needed == decided
    h = horizon(date(2025, 12, 31), Axis.AXE2, DEFAULT, no_longer_needed)
    assert h == date(2025, 4, 9)
    assert exists_on(h, date(2025, 4, 9))
    assert not exists_on(h, date(2025, 4, 10))


def test_the_convention_limit_wins_over_a_later_grace() -> None:
    end = date(2025, 12, 31)
    h = horizon(end, Axis.AXE3, RetentionRule(grace_days=90), date(2025, 12, 20))
    assert h == date(2026, 2, 28)
    assert horizon(end, Axis.AXE3, RetentionRule(grace_days=0), date(2025, 12, 20)) == date(
        2025, 12, 20
    )


def test_an_amendment_extending_the_convention_keeps_the_data() -> None:
    original_end, amended_end = date(2024, 12, 31), date(2025, 12, 31)
    before = horizon(original_end, Axis.AXE3, DEFAULT)
    after = horizon(amended_end, Axis.AXE3, DEFAULT)
    day = date(2025, 3, 15)
    assert due(before, day)
    assert not due(after, day)


def test_a_legal_hold_keeps_everything_until_lifted() -> None:
    end = date(2024, 12, 31)
    held = horizon(end, Axis.AXE3, DEFAULT, date(2025, 1, 1), held=True)
    assert held is None
    assert not due(held, date(2100, 1, 1))
    assert not notice_window(held, date(2025, 2, 28))
    lifted = horizon(end, Axis.AXE3, DEFAULT, date(2025, 1, 1), held=False)
    assert lifted == date(2025, 1, 31)
    assert due(lifted, date(2100, 1, 1))


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (FicheState.DECLINED, date(2025, 3, 1)),
        (FicheState.CANCELLED, date(2025, 3, 1)),
        (FicheState.RECALLED, date(2025, 3, 1)),
        (FicheState.ACCEPTED, date(2025, 9, 30)),
        (FicheState.ACKNOWLEDGED, date(2025, 9, 30)),
        (FicheState.SENT, date(2025, 9, 30)),
        (FicheState.DRAFT, date(2025, 9, 30)),
    ],
)
def test_fiche_no_longer_needed(state: FicheState, expected: date) -> None:
    assert fiche_no_longer_needed(state, date(2025, 3, 1), date(2025, 9, 30)) == expected


def test_a_fiche_of_an_open_accompaniment_is_still_needed() -> None:
    assert fiche_no_longer_needed(FicheState.ACCEPTED, None, None) is None
    assert fiche_no_longer_needed(FicheState.READ, None, None) is None


def test_a_decision_needs_its_date() -> None:
    with pytest.raises(ValueError):
        fiche_no_longer_needed(FicheState.DECLINED, None, date(2025, 1, 1))


def test_person_lives_as_long_as_the_longest_record() -> None:
    dates = [date(2025, 2, 28), date(2034, 12, 31), date(2025, 4, 9)]
    assert person_horizon(dates) == date(2034, 12, 31)
    assert person_horizon(iter(dates)) == date(2034, 12, 31)
    assert person_horizon([*dates, None]) is None
    with pytest.raises(ValueError):
        person_horizon([])


@pytest.mark.parametrize("offset", range(-3, 4))
def test_due_the_day_after_the_horizon(offset: int) -> None:
    h = date(2025, 2, 28)
    assert due(h, h + timedelta(days=offset)) is (offset > 0)


def test_notice_window() -> None:
    h = date(2025, 2, 28)
    assert not notice_window(h, h - timedelta(days=31))
    assert notice_window(h, h - timedelta(days=30))
    assert notice_window(h, h)
    assert not notice_window(h, h + DAY)
    assert notice_window(h, h - timedelta(days=7), days=7)
    assert not notice_window(h, h - timedelta(days=8), days=7)


def test_epoch_of() -> None:
    assert epoch_of(date(2034, 2, 28)) == "2034-02"
    assert epoch_of(date(2025, 12, 1)) == "2025-12"
    assert epoch_of(date(999, 1, 1)) == "0999-01"


def test_rule_defaults_and_checks() -> None:
    assert dict(DEFAULT.axis_period_months) == {Axis.AXE2: 120, Axis.AXE3: 2}
    assert DEFAULT.period_months(Axis(2)) == 120
    assert RetentionRule(grace_days=1).axis_period_months is not DEFAULT.axis_period_months
    with pytest.raises(ValueError):
        RetentionRule(grace_days=-1)
    with pytest.raises(ValueError):
        RetentionRule(grace_days=0, axis_period_months={Axis.AXE2: 120})
    with pytest.raises(ValueError):
        RetentionRule(grace_days=0, axis_period_months={Axis.AXE2: 120, Axis.AXE3: -1})
