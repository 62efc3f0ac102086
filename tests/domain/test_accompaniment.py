from datetime import date, timedelta

import pytest

from exchange.domain.accompaniment import (
    CASELOAD_RANGE,
    CASELOAD_TARGET,
    ENTRY_TARGET_DAYS,
    Closure,
    close,
    days_to_entry,
    entered_within_target,
    entry_deadline,
    entry_overdue,
    is_active,
    midterm_due,
    planned_end,
    record_entry,
    renew,
)
from exchange.domain.errors import TransitionRefused, ValidationFailed
from exchange.domain.vocabulary import ExitReason

PROPOSAL = date(2025, 1, 10)
ENTRY = date(2025, 1, 24)
TODAY = date(2025, 6, 2)


@pytest.mark.parametrize(
    ("entry", "end", "renewed_end"),
    [
        (date(2024, 1, 31), date(2025, 1, 31), date(2025, 7, 31)),
        (date(2024, 2, 29), date(2025, 2, 28), date(2025, 8, 29)),
        (date(2023, 8, 31), date(2024, 8, 31), date(2025, 2, 28)),
        (date(2025, 1, 24), date(2026, 1, 24), date(2026, 7, 24)),
    ],
)
def test_planned_end(entry: date, end: date, renewed_end: date) -> None:
    assert planned_end(entry) == end
    assert planned_end(entry, renewed=True) == renewed_end


def test_renew_once() -> None:
    assert renew(entry=ENTRY, renewed=False, exit_date=None, today=TODAY) == date(2026, 7, 24)
    # Still possible on the last day of the initial period.
    assert renew(entry=ENTRY, renewed=False, exit_date=None, today=date(2026, 1, 24))


@pytest.mark.parametrize(
    ("entry", "renewed", "exit_date", "today", "words"),
    [
        (ENTRY, True, None, TODAY, "déjà été renouvelé"),
        (ENTRY, False, date(2025, 5, 1), TODAY, "clos"),
        (ENTRY, False, None, date(2026, 1, 25), "24/01/2026"),
        (None, False, None, TODAY, "pas encore commencé"),
    ],
)
def test_renewal_refused(
    entry: date | None, renewed: bool, exit_date: date | None, today: date, words: str
) -> None:
    with pytest.raises(TransitionRefused) as refused:
        renew(entry=entry, renewed=renewed, exit_date=exit_date, today=today)
    assert refused.value.code == "renewal_refused"
    assert words in refused.value.message


def test_midterm_due() -> None:
    assert midterm_due(date(2023, 8, 31)) == date(2024, 2, 29)
    assert midterm_due(date(2024, 8, 31)) == date(2025, 2, 28)
    assert midterm_due(ENTRY) == date(2025, 7, 24)


def test_entry_target_is_21_days() -> None:
    assert ENTRY_TARGET_DAYS == 21
    deadline = entry_deadline(PROPOSAL)
    assert deadline == date(2025, 1, 31)
    assert not entry_overdue(PROPOSAL, None, deadline)
    assert entry_overdue(PROPOSAL, None, deadline + timedelta(days=1))
    assert not entry_overdue(PROPOSAL, date(2025, 3, 1), date(2025, 3, 2))
    assert not entry_overdue(PROPOSAL, None, PROPOSAL)


def test_days_to_entry() -> None:
    assert days_to_entry(PROPOSAL, PROPOSAL) == 0
    assert days_to_entry(PROPOSAL, ENTRY) == 14
    assert entered_within_target(PROPOSAL, date(2025, 1, 31))
    assert not entered_within_target(PROPOSAL, date(2025, 2, 1))
    with pytest.raises(ValueError):
        days_to_entry(PROPOSAL, PROPOSAL - timedelta(days=1))


def test_record_entry() -> None:
    assert record_entry(proposal=PROPOSAL, entry=ENTRY, today=TODAY) == ENTRY
    with pytest.raises(ValidationFailed) as failed:
        record_entry(proposal=PROPOSAL, entry=date(2025, 1, 9), today=TODAY)
    assert failed.value.errors == {
        "entry_date": "La date ne peut pas être antérieure au 10/01/2025."
    }
    with pytest.raises(ValidationFailed) as failed:
        record_entry(proposal=PROPOSAL, entry=TODAY + timedelta(days=1), today=TODAY)
    assert failed.value.errors == {"entry_date": "La date ne peut pas être dans le futur."}
    with pytest.raises(ValidationFailed) as failed:
        record_entry(proposal=PROPOSAL, entry=None, today=TODAY)
    assert failed.value.errors == {"entry_date": "Ce champ est obligatoire."}


def _close(
    exit_date: date | None = date(2025, 5, 30),
    reason: ExitReason | str | None = ExitReason.CDI,
    text: str = "",
    entry: date | None = ENTRY,
) -> Closure:
    return close(
        proposal=PROPOSAL, entry=entry, exit_date=exit_date, reason=reason, text=text, today=TODAY
    )


def test_close() -> None:
    assert _close() == Closure(date(2025, 5, 30), ExitReason.CDI, "")
    assert _close(reason="other", text="  Incarcération. ") == Closure(
        date(2025, 5, 30), ExitReason.OTHER, "Incarcération."
    )
    assert _close(exit_date=ENTRY).exit_date == ENTRY
    assert _close(exit_date=TODAY).exit_date == TODAY
    # Never entered: the exit may follow the proposal.
    assert _close(exit_date=PROPOSAL, reason="loss_of_contact", entry=None).exit_date == PROPOSAL


@pytest.mark.parametrize(
    ("kwargs", "errors"),
    [
        (
            {"exit_date": date(2025, 1, 23)},
            {"exit_date": "La date ne peut pas être antérieure au 24/01/2025."},
        ),
        (
            {"exit_date": date(2025, 1, 9), "entry": None},
            {"exit_date": "La date ne peut pas être antérieure au 10/01/2025."},
        ),
        ({"exit_date": date(2025, 6, 3)}, {"exit_date": "La date ne peut pas être dans le futur."}),
        ({"exit_date": None}, {"exit_date": "Ce champ est obligatoire."}),
        ({"reason": None}, {"exit_reason": "Choisissez une valeur dans la liste."}),
        (
            {"reason": "retired"},
            {"exit_reason": "Valeur inconnue : choisissez une valeur dans la liste."},
        ),
        (
            {"reason": ExitReason.OTHER},
            {"exit_text": "Précisez le motif lorsque vous choisissez « Autre motif »."},
        ),
        (
            {"reason": None, "exit_date": None},
            {
                "exit_reason": "Choisissez une valeur dans la liste.",
                "exit_date": "Ce champ est obligatoire.",
            },
        ),
    ],
)
def test_close_refused(kwargs: dict[str, object], errors: dict[str, str]) -> None:
    with pytest.raises(ValidationFailed) as failed:
        _close(**kwargs)  # type: ignore[arg-type]
    assert failed.value.errors == errors


def test_is_active_from_entry_to_exit_excluded() -> None:
    exit_day = date(2025, 5, 30)
    assert not is_active(None, None, TODAY)
    assert not is_active(ENTRY, None, ENTRY - timedelta(days=1))
    assert is_active(ENTRY, None, ENTRY)
    assert is_active(ENTRY, None, date(2030, 1, 1))
    assert is_active(ENTRY, exit_day, exit_day - timedelta(days=1))
    assert not is_active(ENTRY, exit_day, exit_day)


def test_caseload_targets() -> None:
    assert CASELOAD_TARGET == 70
    assert CASELOAD_RANGE == (70, 100)
