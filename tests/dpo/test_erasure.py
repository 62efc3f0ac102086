"""Erasure on request: two steps (request recorded, then the DPO's approval), refused while a
legal hold applies. Each institution is its own controller: a DPO's erasure removes that
institution's share of the person (its links, its wraps, what only it could read, its share
key) and the partner keeps its copy; when the last institution erases, everything of the
person goes (rows, key wraps, ciphertexts), audited by id, the statistics rows kept. Erasure
is cryptographic too: a backup taken before it, opened with the live keys, shows nothing of
what was erased."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from exchange.domain.clock import FixedClock
from exchange.domain.identity import PersonSearch
from exchange.domain.vocabulary import FicheKind
from exchange.dpo import rights
from exchange.fiches import drafts, reading, sending, signing
from exchange.fiches.models import Accompaniment, Fiche, Receipt
from exchange.fiches.verification import receipts_of
from exchange.indicators.models import StatFact
from exchange.org.models import Institution, Unit
from exchange.persons import consents
from exchange.persons import identities as persons
from exchange.persons.models import Consent, Person, PersonUnit
from exchange.platform.backup import create, restore
from exchange.platform.models import Document, KeyWrap
from exchange.platform.services import Services
from exchange.policy import NotVisible, visible_fiche
from keys.errors import KeyDestroyed
from retention.holds import place_hold
from retention.models import DoomedShare
from retention.sweep import checkpoint
from tests.conftest import make_settings
from tests.dpo.support import (
    dpo_client,
    dpo_context,
    events,
    flashed,
    new_request,
    post,
    request_row,
)
from tests.dpo.test_access_export import OTHER
from tests.fiches.support import (
    FIELDS,
    IDENTITY,
    accepted,
    acting_as,
    prepare,
    sent,
    services_of,
    signed_in,
)
from tests.platform.backup.test_backup_restore import _copy_epoch_keys, fresh  # noqa: F401 (a fixture)
from tests.retention.support import blob_files

DEPARTEMENT = "Département de Tarn-et-Garonne"
MDS = "MDS de Montauban"
FRANCE_TRAVAIL = "France Travail Occitanie"


def _count(app: Flask, model: object, **where: object) -> int:
    with services_of(app).db.unit_of_work() as s:
        query = select(func.count()).select_from(model)  # type: ignore[arg-type]
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(s.scalar(query) or 0)


def _owner(app: Flask, name: str) -> str:
    with services_of(app).db.unit_of_work() as s:
        institution = s.scalar(select(Institution).where(Institution.name == name))
        assert institution is not None
        return institution.key_owner


def _dpo_erases(app: Flask, clock: FixedClock) -> str:
    """The Département's DPO records an erasure request and approves it (the web flow)."""
    client = dpo_client(app, clock)
    rid = new_request(client, "erasure")
    done = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                follow_redirects=True)
    assert "Effacement effectué" in flashed(done)
    return rid


def _erase_for(app: Flask, person_pid: str, institution: str) -> list[tuple[str, str]]:
    """What another institution's DPO does, through the use case: erase its share."""
    svc = services_of(app)
    with svc.db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == person_pid))
        assert person is not None
        institution_id = s.scalar(select(Institution.id).where(Institution.name == institution))
        assert institution_id is not None
        return rights.erase_person(svc, s, person, institution_id=institution_id)


def _documents_of(svc: Services, fiche_pid: str) -> list[tuple[str, list[str]]]:
    with svc.db.unit_of_work() as s:
        return [(d.public_id, [w.reader for w in d.wraps]) for d in s.scalars(
            select(Document).join(Fiche, Document.fiche_id == Fiche.id)
            .where(Fiche.public_id == fiche_pid).order_by(Document.id))]


def _open_as(svc: Services, fiche_pid: str, reader: str) -> int:
    """Open every document of the fiche that holds a wrap for ``reader``; how many."""
    opened = 0
    with svc.db.unit_of_work() as s:
        for document in s.scalars(select(Document).join(Fiche, Document.fiche_id == Fiche.id)
                                  .where(Fiche.public_id == fiche_pid).order_by(Document.id)):
            if any(w.reader == reader for w in document.wraps):
                assert svc.documents(s).open(document, reader)
                opened += 1
    return opened


def _identity_of(svc: Services, person_pid: str) -> dict[str, str]:
    with svc.db.unit_of_work() as s:
        person = s.scalar(select(Person).where(Person.public_id == person_pid))
        assert person is not None
        return svc.personal(s).decrypt(person.sealed_key, person.public_id, person.identity)


def _backup(app: Flask, instance: Path, target: Path) -> Services:
    """A copy of the SQLite file and of the blob folder, as a nightly backup takes them, and
    the portal's services on that copy with the live master key and key directories."""
    svc = services_of(app)
    checkpoint(svc.db)
    target.mkdir()
    shutil.copy2(instance / "liaison.db", target / "liaison.db")
    shutil.copytree(instance / "blobs", target / "blobs")
    return Services.build(make_settings(
        instance, database_url=f"sqlite:///{target / 'liaison.db'}", blob_dir=target / "blobs"),
        svc.clock)


# -- one institution's share --------------------------------------------------------------------


def test_erasure_by_one_institution_keeps_the_partners_copy(app: Flask,
                                                            clock: FixedClock) -> None:
    mine, accompaniment = accepted(app)
    with acting_as(app, "ts.montauban") as ctx:  # a draft about the same person, never sent
        person = ctx.session.scalar(select(Person).where(Person.public_id == mine.person))
        assert person is not None
        draft = drafts.start_draft(ctx, person, FicheKind.ORIENTATION_AXE2,
                                   _albasud(ctx)).public_id
        drafts.save_draft(ctx, visible_fiche(ctx.session, ctx.agent, draft), dict(FIELDS))
    departement, france_travail = _owner(app, DEPARTEMENT), _owner(app, FRANCE_TRAVAIL)
    facts = _count(app, StatFact)

    rid = _dpo_erases(app, clock)

    svc = services_of(app)
    # France Travail keeps its copy: the advisor still opens the fiche and the accompaniment.
    advisor = signed_in(app, "cft.montauban", clock)
    page = advisor.get(f"/fiches/{mine.fiche}")
    assert page.status_code == 200 and "LEFÈVRE" in page.get_data(as_text=True)
    assert advisor.get(f"/accompagnements/{accompaniment}").status_code == 200
    with acting_as(app, "cft.montauban") as ctx:
        fiche = visible_fiche(ctx.session, ctx.agent, mine.fiche)
        content = json.dumps(reading.check_fiche(ctx, fiche).content, ensure_ascii=False)
        assert FIELDS["motive"] in content
        assert receipts_of(ctx, fiche)  # the receipt France Travail signed stays
    assert _open_as(svc, mine.fiche, france_travail) >= 3
    assert _identity_of(svc, mine.person)["last_name"] == IDENTITY.last_name
    assert _count(app, Consent, public_id=mine.consent) == 1  # the fiche was sent under it

    # The Département no longer sees the person, the fiche or the accompaniment...
    social = signed_in(app, "ts.montauban", clock)
    assert social.get(f"/personnes/{mine.person}").status_code == 404
    assert social.get(f"/fiches/{mine.fiche}").status_code == 404
    assert social.get(f"/accompagnements/{accompaniment}").status_code == 404
    assert mine.fiche[:8].upper() not in social.get("/fiches/envoyees").get_data(as_text=True)
    with acting_as(app, "ts.montauban") as ctx:
        found = persons.search_persons(ctx, PersonSearch(
            name=IDENTITY.last_name, birth_date=IDENTITY.birth_date))
        assert found == []
        with pytest.raises(NotVisible):
            visible_fiche(ctx.session, ctx.agent, mine.fiche)
    # ...holds no wrap of it any more, its draft is gone, and its share key is destroyed.
    assert all(departement not in readers for _, readers in _documents_of(svc, mine.fiche))
    assert _count(app, KeyWrap, reader=departement) == 0
    assert _count(app, Fiche, public_id=draft) == 0
    shares = svc.share_keys
    with pytest.raises(KeyDestroyed):
        shares.key(mine.person, departement, 1)
    assert shares.live(mine.person) == [(france_travail, 1), ("platform", 1)]
    assert _count(app, StatFact) == facts

    erased = {(e.object_type, e.object_id) for e in events(app, "rights.erased")}
    assert {("person_share", mine.person), ("fiche_side", mine.fiche),
            ("accompaniment_side", accompaniment), ("share_key", mine.person),
            ("fiche", draft)} <= erased
    assert ("person", mine.person) not in erased
    assert request_row(app, rid).erased_at is not None


def _albasud(ctx: object) -> str:
    from tests.fiches.support import ALBASUD

    found = ctx.session.scalar(select(Unit.public_id).where(Unit.name == ALBASUD))  # type: ignore[attr-defined]
    assert found is not None
    return str(found)


def test_a_person_erased_by_one_institution_can_be_sent_to_it_again(
        app: Flask, clock: FixedClock) -> None:
    """After the Département erased its share, France Travail orients the person to it again
    (axe 3, under a new consent): the new fiche is sealed under a new generation of the
    Département's share key and opens; what was erased stays erased."""
    mine = sent(app)
    departement = _owner(app, DEPARTEMENT)
    _dpo_erases(app, clock)
    with acting_as(app, "cft.montauban") as ctx:
        person = ctx.session.scalar(select(Person).where(Person.public_id == mine.person))
        assert person is not None
        pctx = ctx
        consents.record_consent(
            pctx, person, axis="3", recipient=ctx.session.scalar(
                select(Institution.public_id).where(Institution.name == DEPARTEMENT)),
            notice_version="1", method="in_person_attestation", attestation=True,
            collected_on=ctx.svc.clock.today().isoformat(), paper_form=None)
        unit = ctx.session.scalar(select(Unit.public_id).where(Unit.name == MDS))
        assert unit is not None
        again = drafts.start_draft(ctx, person, FicheKind.ORIENTATION_AXE3, unit)
        drafts.save_draft(ctx, again, dict(FIELDS))
        signing.sign(ctx, again)
        again_pid = again.public_id
    with acting_as(app, "cft.montauban") as ctx:
        sending.send(ctx, visible_fiche(ctx.session, ctx.agent, again_pid))

    social = signed_in(app, "ts.montauban", clock)
    page = social.get(f"/fiches/{again_pid}")
    assert page.status_code == 200 and "LEFÈVRE" in page.get_data(as_text=True)
    assert social.get(f"/fiches/{mine.fiche}").status_code == 404
    shares = services_of(app).share_keys
    assert (departement, 2) in shares.live(mine.person)
    with pytest.raises(KeyDestroyed):
        shares.key(mine.person, departement, 1)


def test_when_the_last_institution_erases_everything_goes_but_the_statistics(
        app: Flask, clock: FixedClock) -> None:
    mine, accompaniment = accepted(app)
    other = prepare(app, identity=OTHER)
    facts = _count(app, StatFact)
    assert facts > 0
    blobs_before = blob_files(app)
    with services_of(app).db.unit_of_work() as s:
        mine_docs = {d.blob for d in s.scalars(select(Document).join(
            Fiche, Document.fiche_id == Fiche.id).where(Fiche.public_id == mine.fiche))}
    assert mine_docs and mine_docs <= blobs_before

    client = dpo_client(app, clock)
    rid = new_request(client, "erasure")
    assert _count(app, Person, public_id=mine.person) == 1  # recorded, not yet approved
    unconfirmed = post(client, f"/dpo/droits/demandes/{rid}/effacement", {},
                       follow_redirects=True)
    assert "Cochez la case" in flashed(unconfirmed)
    assert _count(app, Person, public_id=mine.person) == 1
    done = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                follow_redirects=True)
    assert "Effacement effectué" in flashed(done)
    assert _count(app, Person, public_id=mine.person) == 1  # France Travail holds them still

    gone = _erase_for(app, mine.person, FRANCE_TRAVAIL)  # the partner's DPO, in turn

    assert ("person", mine.person) in gone
    assert _count(app, Person, public_id=mine.person) == 0
    assert _count(app, Fiche, public_id=mine.fiche) == 0
    assert _count(app, Accompaniment, public_id=accompaniment) == 0
    assert _count(app, Consent) == 1 and _count(app, Fiche) == 1  # the other person's
    assert _count(app, Receipt) == 0
    assert _count(app, PersonUnit) == _count(app, PersonUnit, person_id=_other_id(app, other))
    with services_of(app).db.unit_of_work() as s:
        left = set(s.scalars(select(Document.blob)))
        wraps = set(s.scalars(select(KeyWrap.document_id)))
        assert wraps <= set(s.scalars(select(Document.id)))
    assert not mine_docs & left
    assert not mine_docs & blob_files(app)  # the ciphertexts are gone from the disk
    assert _count(app, StatFact) == facts
    shares = services_of(app).share_keys
    assert shares.is_destroyed(mine.person) and shares.live(mine.person) == []
    assert _count(app, DoomedShare, subject=mine.person) >= 1  # until the next sweep

    approved = events(app, "rights.erasure_approved")
    assert [(e.object_id, e.outcome) for e in approved] == [(rid, "success")]
    erased = {(e.object_type, e.object_id) for e in events(app, "rights.erased")}
    assert {("person_share", mine.person), ("fiche_side", mine.fiche),
            ("accompaniment_side", accompaniment)} <= erased
    assert {kind for kind, _ in gone} >= {"document", "receipt", "fiche", "accompaniment",
                                          "consent", "person"}
    row = request_row(app, rid)
    assert row.erased_at is not None and row.status == "in_progress"


def _other_id(app: Flask, other: object) -> int:
    with services_of(app).db.unit_of_work() as s:
        found = s.scalar(select(Person.id).where(Person.public_id == other.person))  # type: ignore[attr-defined]
        assert found is not None
        return found


# -- old backups ----------------------------------------------------------------------------


@pytest.mark.sqlite_file
def test_erased_person_cannot_be_read_from_an_old_backup_with_live_keys(
        app: Flask, clock: FixedClock, instance: Path, tmp_path: Path) -> None:
    mine = sent(app)
    departement, france_travail = _owner(app, DEPARTEMENT), _owner(app, FRANCE_TRAVAIL)
    restored = _backup(app, instance, tmp_path / "backup")
    # The backup opens with the live keys before the erasure...
    assert _identity_of(restored, mine.person)["last_name"] == IDENTITY.last_name
    assert _open_as(restored, mine.fiche, departement) >= 3
    assert _open_as(restored, mine.fiche, france_travail) >= 3

    _dpo_erases(app, clock)
    _erase_for(app, mine.person, FRANCE_TRAVAIL)
    assert _count(app, Person, public_id=mine.person) == 0

    # ...and after it, with the same live master key and key directories, nothing: not the
    # identity, not one document for any reader, although every epoch key is still alive.
    assert services_of(app).settings.epoch_key_dir.is_dir()
    with pytest.raises(KeyDestroyed):
        _identity_of(restored, mine.person)
    for reader in (departement, france_travail):
        with pytest.raises(KeyDestroyed):
            _open_as(restored, mine.fiche, reader)
    with restored.db.unit_of_work() as s:
        documents = list(s.scalars(select(Document).join(Fiche, Document.fiche_id == Fiche.id)
                                   .where(Fiche.public_id == mine.fiche)))
        assert len(documents) >= 3
        for document in documents:
            for wrap in list(document.wraps):
                with pytest.raises(KeyDestroyed):
                    restored.documents(s).open(document, wrap.reader)
    restored.db.dispose()


@pytest.mark.sqlite_file
def test_partner_share_from_old_backup_stays_readable_only_by_partner(
        app: Flask, clock: FixedClock, instance: Path, tmp_path: Path) -> None:
    mine = sent(app)
    departement, france_travail = _owner(app, DEPARTEMENT), _owner(app, FRANCE_TRAVAIL)
    restored = _backup(app, instance, tmp_path / "backup")
    assert _open_as(restored, mine.fiche, departement) >= 3

    _dpo_erases(app, clock)

    # The Département's copies are dead in the backup too (its wraps are still in it)...
    assert any(departement in readers for _, readers in _documents_of(restored, mine.fiche))
    with pytest.raises(KeyDestroyed):
        _open_as(restored, mine.fiche, departement)
    # ...while France Travail's copy opens, for France Travail, as it does live.
    assert _open_as(restored, mine.fiche, france_travail) >= 3
    assert _open_as(services_of(app), mine.fiche, france_travail) >= 3
    assert _identity_of(restored, mine.person)["last_name"] == IDENTITY.last_name
    restored.db.dispose()


def test_erased_person_cannot_be_read_from_a_restored_backup_archive(
        app: Flask, fresh: Flask, clock: FixedClock, tmp_path: Path) -> None:  # noqa: F811
    """The same attack on either database: `flask backup create` before the erasure, restored
    after it into an empty deployment with the master key and the key directories as they are
    now (what an operator restores)."""
    mine = sent(app)
    departement, france_travail = _owner(app, DEPARTEMENT), _owner(app, FRANCE_TRAVAIL)
    archive = tmp_path / "before-erasure.backup"
    create(services_of(app), archive)

    _dpo_erases(app, clock)
    _erase_for(app, mine.person, FRANCE_TRAVAIL)

    _copy_epoch_keys(app, fresh)
    restore(services_of(fresh), archive)
    restored = services_of(fresh)
    assert _count(fresh, Person, public_id=mine.person) == 1  # the rows are in the backup...
    with pytest.raises(KeyDestroyed):  # ...but nothing of them opens
        _identity_of(restored, mine.person)
    for reader in (departement, france_travail):
        with pytest.raises(KeyDestroyed):
            _open_as(restored, mine.fiche, reader)


# -- refusals ---------------------------------------------------------------------------------


def test_a_legal_hold_refuses_the_erasure(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app)
    client = dpo_client(app, clock)
    rid = new_request(client, "objection")
    with dpo_context(app) as ctx:
        place_hold(ctx.session, kind="fiche", public_id=prepared.fiche,
                   reason_code="litigation", note="", by_user_id=ctx.agent.id,
                   actor=ctx.agent.audit_actor,
                   at=ctx.now, box=ctx.svc.secret_box("legal-hold-note"), sealing=None)
    refused = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                   follow_redirects=True)
    assert "conservation légale" in flashed(refused)
    assert "Contentieux en cours" in flashed(refused)
    assert _count(app, Person, public_id=prepared.person) == 1
    assert _count(app, Fiche, public_id=prepared.fiche) == 1
    assert [(e.object_id, e.outcome) for e in events(app, "rights.erasure_approved")] == [
        (rid, "refused")]
    assert events(app, "rights.erased") == []
    assert services_of(app).share_keys.live(prepared.person) != []


def test_an_access_request_cannot_erase(app: Flask, clock: FixedClock) -> None:
    prepared = prepare(app, sign=False)
    client = dpo_client(app, clock)
    rid = new_request(client, "access", received_on=date(2026, 11, 20))
    refused = post(client, f"/dpo/droits/demandes/{rid}/effacement", {"confirm": "y"},
                   follow_redirects=True)
    assert "ne permet pas cette opération" in flashed(refused)
    assert _count(app, Person, public_id=prepared.person) == 1
