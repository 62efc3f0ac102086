"""The database is not trusted to route a fiche: every opening, download and transition compares
the sender's signed manifest with the fiche's row, and a row that says something else (another
recipient or sending unit, kind, version, consent, person, convention, axis or author) is
tampering — the fiche is never shown, nothing changes, and ``fiche.tampered`` is recorded for
the user who asked. Each attack edits the row with raw SQL, as someone with write access to the
database would; each opens or acts through the Flask test client with every guard on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select, text

from exchange.accounts.models import User
from exchange.domain.clock import FixedClock
from exchange.domain.vocabulary import FicheKind
from exchange.fiches import decisions, drafts, reading, routing, signing
from exchange.fiches.common import TAMPERED, FicheTampered
from exchange.fiches.models import Accompaniment, Fiche
from exchange.fiches.verification import receipts_of, verified_manifest, verified_receipt
from exchange.org.models import Convention, Institution, Unit
from exchange.persons.models import Person
from exchange.platform.models import Document
from exchange.policy import visible_fiche
from keys.errors import SignatureInvalid
from keys.manifest import SignedManifest, sign_manifest
from tests.fiches.support import (
    acting_as,
    audit_events,
    fiche_state,
    post,
    prepare,
    sent,
    services_of,
    signed_in,
    small_pdf,
)
from tests.security.support import add_user

CLERMONT = "Agence France Travail Clermont-l'Hérault"
CASTELSARRASIN = "MDS de Castelsarrasin"


def _html(response: Any) -> str:
    return str(response.get_data(as_text=True)).replace("&#39;", "'")


def _id_of(app: Flask, model: Any, **where: Any) -> int:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(model.id).filter_by(**where))
    assert found is not None, (model, where)
    return int(found)


def _tamper(app: Flask, pid: str, **columns: Any) -> None:
    """UPDATE fiches SET ... WHERE public_id = pid, in plain SQL."""
    assignments = ", ".join(f"{name} = :{name}" for name in columns)
    with services_of(app).db.unit_of_work() as s:
        changed = s.execute(text(f"UPDATE fiches SET {assignments} WHERE public_id = :pid"),  # noqa: S608 - test
                            {**columns, "pid": pid})
        assert changed.rowcount == 1  # type: ignore[attr-defined]


def _opened(app: Flask, *, acknowledge: bool = False) -> str:
    """A fiche sent to Albasud and opened there (and acknowledged)."""
    pid = sent(app).fiche
    with acting_as(app, "cft.montauban") as ctx:
        fiche = visible_fiche(ctx.session, ctx.agent, pid)
        reading.open_fiche(ctx, fiche, "party")
        if acknowledge:
            decisions.acknowledge(ctx, fiche)
    return pid


def _assert_tampering_shown(app: Flask, answer: Any, pid: str, username: str) -> None:
    """The tampering page (never the content, never a file) and one ``fiche.tampered`` event
    of ``username``."""
    assert answer.status_code == 409
    assert answer.mimetype == "text/html"
    html = _html(answer)
    assert TAMPERED in html
    assert "Élodie" not in html and "logement et mobilité" not in html
    events = audit_events(app, "fiche.tampered", pid)
    assert len(events) == 1
    assert events[0].outcome == "failure"
    with services_of(app).db.unit_of_work() as s:
        actor = s.scalar(select(User.public_id).where(User.username == username))
    assert events[0].actor_user_id == actor


# -- the recipient unit -----------------------------------------------------------------------


def test_rerouted_fiche_cannot_be_opened_by_the_new_unit(app: Flask, clock: FixedClock) -> None:
    # France Travail's keys open what was sealed for any of its agencies: only the signed
    # manifest says which agency the fiche was sent to.
    pid = sent(app).fiche
    _tamper(app, pid, recipient_unit_id=_id_of(app, Unit, name=CLERMONT))
    intruder = signed_in(app, "cft.clermont", clock)
    _assert_tampering_shown(app, intruder.get(f"/fiches/{pid}"), pid, "cft.clermont")
    assert fiche_state(app, pid) == "sent"
    assert not audit_events(app, "fiche.opened", pid)


def test_rerouted_fiche_attachments_cannot_be_downloaded_by_the_new_unit(
        app: Flask, clock: FixedClock) -> None:
    pid = _opened(app)
    with services_of(app).db.unit_of_work() as s:
        doc = s.scalar(select(Document.public_id).join(Fiche, Document.fiche_id == Fiche.id)
                       .where(Fiche.public_id == pid, Document.role == "attachment"))
    _tamper(app, pid, recipient_unit_id=_id_of(app, Unit, name=CLERMONT))
    intruder = signed_in(app, "cft.clermont", clock)
    answer = intruder.get(f"/fiches/{pid}/pieces-jointes/{doc}")
    assert "attachment" not in answer.headers.get("Content-Disposition", "")
    _assert_tampering_shown(app, answer, pid, "cft.clermont")
    assert not audit_events(app, "attachment.downloaded")


def test_rerouted_fiche_pdf_cannot_be_downloaded_by_the_new_unit(
        app: Flask, clock: FixedClock) -> None:
    pid = _opened(app)
    _tamper(app, pid, recipient_unit_id=_id_of(app, Unit, name=CLERMONT))
    intruder = signed_in(app, "cft.clermont", clock)
    answer = intruder.get(f"/fiches/{pid}/pdf")
    assert not answer.data.startswith(b"%PDF")
    _assert_tampering_shown(app, answer, pid, "cft.clermont")
    assert not audit_events(app, "fiche.pdf_downloaded", pid)


def test_rerouted_fiche_cannot_be_accepted_by_the_new_unit(app: Flask, clock: FixedClock) -> None:
    pid = _opened(app, acknowledge=True)
    _tamper(app, pid, recipient_unit_id=_id_of(app, Unit, name=CLERMONT))
    intruder = signed_in(app, "cft.clermont", clock)
    answer = post(intruder, f"/fiches/{pid}/accepter")
    _assert_tampering_shown(app, answer, pid, "cft.clermont")
    assert fiche_state(app, pid) == "acknowledged"
    assert not audit_events(app, "fiche.accepted", pid)
    with services_of(app).db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(Accompaniment)) == 0


def test_rerouted_fiche_is_found_altered_by_its_sender(
        app: Flask, clock: FixedClock) -> None:
    """Moving a fiche away from its unit is seen from both sides: the sender finds it altered
    rather than delivered elsewhere."""
    pid = _opened(app)
    _tamper(app, pid, recipient_unit_id=_id_of(app, Unit, name=CLERMONT))
    worker = signed_in(app, "ts.montauban", clock)
    _assert_tampering_shown(app, worker.get(f"/fiches/{pid}"), pid, "ts.montauban")


def test_the_use_cases_compare_the_manifest_with_the_row_too(app: Flask) -> None:
    """Behind the one lookup, each use case that reads the manifest compares it again, for
    a caller that found the fiche some other way."""
    pid = _opened(app, acknowledge=True)
    _tamper(app, pid, recipient_unit_id=_id_of(app, Unit, name=CLERMONT))
    with acting_as(app, "cft.clermont") as ctx:
        fiche = visible_fiche(ctx.session, ctx.agent, pid)
        with pytest.raises(FicheTampered):
            reading.check_fiche(ctx, fiche)
        with pytest.raises(SignatureInvalid):
            verified_manifest(ctx, fiche)
        with pytest.raises(SignatureInvalid):
            verified_receipt(ctx, fiche, receipts_of(ctx, fiche)[0])
        ctx.session.rollback()


# -- the other fields of the manifest -----------------------------------------------------------


def test_a_fiche_moved_to_another_sending_unit_is_not_opened_there(
        app: Flask, clock: FixedClock) -> None:
    pid = sent(app).fiche
    add_user(app, "ts.castelsarrasin", CASTELSARRASIN, "social_worker")
    _tamper(app, pid, sender_unit_id=_id_of(app, Unit, name=CASTELSARRASIN))
    intruder = signed_in(app, "ts.castelsarrasin", clock)
    _assert_tampering_shown(app, intruder.get(f"/fiches/{pid}"), pid, "ts.castelsarrasin")
    assert not audit_events(app, "fiche.viewed", pid)


def test_a_fiche_whose_kind_was_changed_is_not_opened(app: Flask, clock: FixedClock) -> None:
    pid = sent(app).fiche
    _tamper(app, pid, kind=FicheKind.ORIENTATION_AXE3.value)
    advisor = signed_in(app, "cft.montauban", clock)
    _assert_tampering_shown(app, advisor.get(f"/fiches/{pid}"), pid, "cft.montauban")
    assert fiche_state(app, pid) == "sent"


def test_a_fiche_whose_version_was_changed_cannot_be_acknowledged(
        app: Flask, clock: FixedClock) -> None:
    pid = _opened(app)
    _tamper(app, pid, version=2)
    advisor = signed_in(app, "cft.montauban", clock)
    _assert_tampering_shown(app, post(advisor, f"/fiches/{pid}/accuser-reception"), pid,
                            "cft.montauban")
    assert fiche_state(app, pid) == "read"
    assert not audit_events(app, "fiche.acknowledged", pid)


def test_a_fiche_pointing_at_another_consent_is_not_opened(app: Flask, clock: FixedClock) -> None:
    pid = sent(app).fiche
    other = prepare(app, countersign=False)  # another person, with their own consent
    assert other.consent is not None
    _tamper(app, pid, consent_id=_id_of(app, _consent_model(), public_id=other.consent))
    advisor = signed_in(app, "cft.montauban", clock)
    _assert_tampering_shown(app, advisor.get(f"/fiches/{pid}"), pid, "cft.montauban")


def _consent_model() -> Any:
    from exchange.persons.models import Consent

    return Consent


@pytest.mark.parametrize("column", ["person_id", "convention_id", "axis", "sender_user_id"])
def test_a_fiche_whose_person_convention_axis_or_author_changed_is_not_opened(
        app: Flask, clock: FixedClock, column: str) -> None:
    pid = sent(app).fiche
    if column == "person_id":
        value = _id_of(app, Person, public_id=prepare(app, countersign=False).person)
    elif column == "convention_id":
        with services_of(app).db.unit_of_work() as s:
            current = s.scalar(select(Fiche.convention_id).where(Fiche.public_id == pid))
            value = s.scalar(select(Convention.id).where(Convention.id != current).limit(1))
    elif column == "axis":
        value = 3
    else:
        value = _id_of(app, User, username="rmds.montauban")
    _tamper(app, pid, **{column: value})
    advisor = signed_in(app, "cft.montauban", clock)
    _assert_tampering_shown(app, advisor.get(f"/fiches/{pid}"), pid, "cft.montauban")


def test_a_fiche_sent_back_to_draft_is_not_edited(app: Flask, clock: FixedClock) -> None:
    """A signed fiche has a manifest; a row that calls it a draft again is altered."""
    pid = sent(app).fiche
    _tamper(app, pid, state="draft")
    worker = signed_in(app, "ts.montauban", clock)
    _assert_tampering_shown(app, worker.get(f"/fiches/{pid}/brouillon"), pid, "ts.montauban")


def test_a_sent_fiche_without_its_manifest_is_tampered(app: Flask, clock: FixedClock) -> None:
    pid = sent(app).fiche
    _tamper(app, pid, manifest=None)
    advisor = signed_in(app, "cft.montauban", clock)
    _assert_tampering_shown(app, advisor.get(f"/fiches/{pid}"), pid, "cft.montauban")


# -- manifests signed before the routing fields were added --------------------------------------


def _legacy(app: Flask, pid: str) -> None:
    """Re-sign the fiche's manifest as the portal signed it before its format 2: without the
    format, the sender institution, the person, the axis, the convention and the author."""
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        fiche = s.scalar(select(Fiche).where(Fiche.public_id == pid))
        assert fiche is not None and fiche.manifest is not None
        manifest = json.loads(SignedManifest.from_bytes(fiche.manifest).payload)
        for name in ("format", "sender_institution", "person", "axis", "convention", "author"):
            manifest.pop(name)
        sender = s.scalar(select(Institution).join(Unit).where(
            Unit.id == fiche.sender_unit_id))
        assert sender is not None
        fiche.manifest = sign_manifest(svc.keystore(s), sender.key_owner, manifest).to_bytes()


def test_an_older_manifest_still_opens_and_still_pins_the_recipient(
        app: Flask, clock: FixedClock) -> None:
    pid = sent(app).fiche
    _legacy(app, pid)
    advisor = signed_in(app, "cft.montauban", clock)
    opened = advisor.get(f"/fiches/{pid}")
    assert opened.status_code == 200 and "Élodie Marie" in _html(opened)
    _tamper(app, pid, recipient_unit_id=_id_of(app, Unit, name=CLERMONT))
    intruder = signed_in(app, "cft.clermont", clock)
    _assert_tampering_shown(app, intruder.get(f"/fiches/{pid}"), pid, "cft.clermont")


def test_a_new_manifest_names_every_routing_field(app: Flask) -> None:
    pid = sent(app).fiche
    with acting_as(app, "cft.montauban", read_only=True) as ctx:
        fiche = visible_fiche(ctx.session, ctx.agent, pid)
        manifest = verified_manifest(ctx, fiche)
        assert manifest["format"] == routing.MANIFEST_FORMAT
        assert manifest["recipient_unit"] == fiche.recipient_unit.public_id
        assert manifest["sender_institution"] == fiche.sender_unit.institution.public_id
        assert manifest["person"] == fiche.person.public_id
        assert manifest["convention"] == fiche.convention.public_id
        assert manifest["axis"] == fiche.axis
        assert manifest["author"] == fiche.sender_user.public_id
        assert manifest["consent"] == fiche.consent.public_id  # type: ignore[union-attr]


# -- the cost of the checks -----------------------------------------------------------------------


@contextmanager
def _statements(app: Flask) -> Iterator[list[str]]:
    engine = services_of(app).db.engine
    seen: list[str] = []

    def keep(*args: Any) -> None:
        seen.append(args[2])

    event.listen(engine, "before_cursor_execute", keep)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", keep)


def _with_attachments(app: Flask, count: int) -> str:
    """A fiche like `prepare`'s, with ``count`` attachments, signed, countersigned and sent."""
    from exchange.fiches import sending

    first = prepare(app, sign=False)
    with acting_as(app, "ts.montauban") as ctx:
        fiche = visible_fiche(ctx.session, ctx.agent, first.fiche)
        for n in range(count - 1):
            drafts.add_attachment(ctx, fiche, f"piece-{n}.pdf", "application/pdf",
                                  small_pdf(f"Pièce {n}"))
        signing.sign(ctx, fiche)
    with acting_as(app, "rmds.montauban") as ctx:
        signing.countersign(ctx, visible_fiche(ctx.session, ctx.agent, first.fiche))
    with acting_as(app, "ts.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, first.fiche))
    return first.fiche


def test_the_fiche_page_costs_the_same_statements_whatever_its_attachments(
        app: Flask, clock: FixedClock) -> None:
    advisor = signed_in(app, "cft.montauban", clock)
    counts = []
    for attachments in (1, 4):
        pid = _with_attachments(app, attachments)
        assert advisor.get(f"/fiches/{pid}").status_code == 200  # first opening: PAdES too
        with _statements(app) as seen:
            assert advisor.get(f"/fiches/{pid}").status_code == 200
        counts.append(len(seen))
    assert counts[0] == counts[1], counts
    # 41 before the row was compared with the manifest at each of the page's three
    # transactions; each comparison is one statement (plus the sender's unit and key record,
    # once per transaction).
    assert counts[0] <= 48, counts
