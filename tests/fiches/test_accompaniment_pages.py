"""The accompaniment screens: the caseload with its alerts and the advisor's count against the
target, and the forms of one accompaniment (entry, renewal, mid-term review, exit)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.fiches.models import Accompaniment
from tests.fiches.support import accepted, audit_events, flashed, post, services_of, signed_in


def _text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True).replace("&#39;", "'")


def _row(app: Flask, pid: str) -> Accompaniment:
    with services_of(app).db.unit_of_work() as s:
        row = s.scalar(select(Accompaniment).where(Accompaniment.public_id == pid))
        assert row is not None
        return row


def test_entry_overdue_alert_and_the_active_count(app: Flask, clock: FixedClock) -> None:
    _, accompaniment = accepted(app)
    clock.advance(timedelta(days=22))
    advisor = signed_in(app, "cft.montauban", clock)
    caseload = _text(advisor.get("/accompagnements/"))
    assert "Entrée non réalisée dans les 21 jours" in caseload
    assert "<strong>0</strong> personne accompagnée pour un objectif de 70" in caseload
    assert "à réaliser avant le 14/12/2026" in caseload
    page = f"/accompagnements/{accompaniment}"
    before_proposal = post(advisor, f"{page}/entree", {"entry_date": "2026-11-01"},
                           form_page=page)
    assert before_proposal.status_code == 422
    assert "La date ne peut pas être antérieure au 23/11/2026." in _text(before_proposal)
    assert _row(app, accompaniment).entry_date is None
    assert audit_events(app, "accompaniment.refused", accompaniment)
    done = post(advisor, f"{page}/entree", {"entry_date": "2026-12-10"}, form_page=page,
                follow_redirects=True)
    assert "La date d'entrée en accompagnement est enregistrée." in flashed(done).replace(
        "&#39;", "'")
    caseload = _text(advisor.get("/accompagnements/"))
    assert "Entrée non réalisée" not in caseload
    assert "<strong>1</strong> personne accompagnée" in caseload
    # The social worker of the pair sees it in the unit's caseload too, without a count.
    worker = signed_in(app, "ts.montauban", clock)
    theirs = _text(worker.get("/accompagnements/"))
    assert accompaniment[:8].upper() in theirs and "objectif de 70" not in theirs


def test_renewal_midterm_and_exit(app: Flask, clock: FixedClock) -> None:
    _, accompaniment = accepted(app)
    advisor = signed_in(app, "cft.montauban", clock)
    page = f"/accompagnements/{accompaniment}"
    post(advisor, f"{page}/entree", {"entry_date": "2026-11-23"}, form_page=page)
    clock.advance(timedelta(days=170))  # 12 May 2027: the mid-term review is due on 23 May
    advisor = signed_in(app, "cft.montauban", clock)
    assert "Bilan à mi-parcours à faire" in _text(advisor.get("/accompagnements/"))
    renewed = post(advisor, f"{page}/renouveler", form_page=page, follow_redirects=True)
    assert "renouvelé pour 6 mois" in flashed(renewed)
    assert _row(app, accompaniment).planned_end == date(2028, 5, 23)
    assert "Renouveler pour 6 mois" not in _text(advisor.get(page))
    again = post(advisor, f"{page}/renouveler", form_page=page, follow_redirects=True)
    assert "déjà été renouvelé une fois" in flashed(again)
    post(advisor, f"{page}/mi-parcours", {"midterm_date": "2027-05-10"}, form_page=page)
    assert _row(app, accompaniment).midterm_done_on == date(2027, 5, 10)
    assert "Bilan à mi-parcours à faire" not in _text(advisor.get("/accompagnements/"))
    missing = post(advisor, f"{page}/cloture", {"exit_date": "", "exit_reason": "other",
                                                "exit_text": ""}, form_page=page)
    assert missing.status_code == 422
    html = _text(missing)
    assert 'id="acc-exit_date-error">Ce champ est obligatoire.' in html
    assert "Précisez le motif lorsque vous choisissez « Autre motif »." in html
    closed = post(advisor, f"{page}/cloture", {"exit_date": "2027-05-11", "exit_reason": "cdi",
                                               "exit_text": "CDI chez un transporteur."},
                  form_page=page, follow_redirects=True)
    assert "L'accompagnement est clos." in flashed(closed).replace("&#39;", "'")
    row = _row(app, accompaniment)
    assert row.exit_date == date(2027, 5, 11) and row.exit_reason == "cdi"
    assert "Emploi en CDI" in _text(advisor.get(page))
    assert "CDI chez un transporteur" not in _text(advisor.get(page))  # sealed, not shown


PAIR_CHANGES = [
    ("entree", {"entry_date": "2026-11-23"}, False),
    ("renouveler", {}, True),
    ("mi-parcours", {"midterm_date": "2026-11-23"}, True),
    ("cloture", {"exit_date": "2026-11-23", "exit_reason": "cdi", "exit_text": ""}, False),
]
_ENDPOINTS = {"entree": "entry", "renouveler": "renew", "mi-parcours": "midterm",
              "cloture": "close"}


def _state(app: Flask, pid: str) -> tuple[object, ...]:
    row = _row(app, pid)
    return (row.entry_date, row.planned_end, row.renewed, row.midterm_done_on, row.exit_date,
            row.exit_reason)


def _changes_recorded(app: Flask, pid: str) -> list[str]:
    from exchange.audit.models import AuditEvent

    with services_of(app).db.unit_of_work() as s:
        return list(s.scalars(select(AuditEvent.action).where(
            AuditEvent.object_id == pid, AuditEvent.action.like("accompaniment.%"),
            AuditEvent.outcome == "success")))


@pytest.mark.parametrize(("step", "form", "entered"), PAIR_CHANGES,
                         ids=[step for step, _, _ in PAIR_CHANGES])
def test_unit_manager_cannot_record_the_pair_s_changes(
        app: Flask, clock: FixedClock, step: str, form: dict[str, str], entered: bool) -> None:
    """rmds.montauban manages the social worker's unit: they read the accompaniment, and a
    POST of a valid form is refused (403, ``access.refused``) with nothing changed."""
    _, accompaniment = accepted(app)
    page = f"/accompagnements/{accompaniment}"
    if entered:
        advisor = signed_in(app, "cft.montauban", clock)
        post(advisor, f"{page}/entree", {"entry_date": "2026-11-23"}, form_page=page)
    before, recorded = _state(app, accompaniment), _changes_recorded(app, accompaniment)
    manager = signed_in(app, "rmds.montauban", clock)
    shown = _text(manager.get(page))
    assert "Seul le binôme de l'accompagnement" in shown
    assert f'action="{page}/' not in shown  # no form offered
    answer = post(manager, f"{page}/{step}", form, form_page=page)
    assert answer.status_code == 403
    assert _state(app, accompaniment) == before
    assert _changes_recorded(app, accompaniment) == recorded
    refusals = audit_events(app, "access.refused")
    assert refusals and refusals[-1].object_id == f"accompaniments.{_ENDPOINTS[step]}"
    assert refusals[-1].outcome == "refused"



def test_a_colleague_outside_the_pair_cannot_record_the_entry(app: Flask,
                                                              clock: FixedClock) -> None:
    from tests.security.support import add_user

    _, accompaniment = accepted(app)
    add_user(app, "ts2.montauban", "MDS de Montauban", "social_worker")
    colleague = signed_in(app, "ts2.montauban", clock)
    page = f"/accompagnements/{accompaniment}"
    assert "Seul le binôme de l'accompagnement" in _text(colleague.get(page))
    answer = post(colleague, f"{page}/entree", {"entry_date": "2026-11-23"}, form_page=page,
                  follow_redirects=True)
    assert "Seul le binôme de l'accompagnement" in flashed(answer).replace("&#39;", "'")
    assert _row(app, accompaniment).entry_date is None
    assert not audit_events(app, "accompaniment.entry_recorded", accompaniment)
    assert audit_events(app, "accompaniment.refused", accompaniment)
