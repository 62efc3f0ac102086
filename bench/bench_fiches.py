"""Signing and sending one fiche end to end, and opening its page, on a real SQLite database.

Prints, measured in the same run:
- sign + send (render, PAdES, manifest, seal, store, audit, commit), median over the runs;
- the reportlab render alone and the pyHanko signature alone, of the very content each send
  signed, with the same key, timed right after that send so that the machine's other work
  weighs on both figures alike; medians;
- opening the fiche page as the recipient (HTTP GET through the app): first opening (which also
  validates the PAdES signature) and later openings, median.
Targets: sending at most 1.5 x (render + sign); opening a fiche page under 50 ms median.
"""

from __future__ import annotations

import json
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select

from exchange.accounts import totp
from exchange.acting import Context, load_agent
from exchange.app import create_app
from exchange.demo.seed import DEMO_PASSWORD, demo_totp_secret, seed
from exchange.domain.clock import FixedClock
from exchange.domain.identity import Identity
from exchange.domain.vocabulary import FicheKind
from exchange.fiches import drafts, sending, signing
from exchange.fiches.common import CONTENT, one_document, owner_of_unit
from exchange.fiches.rendering import render_pdf, sign_pdf
from exchange.org.models import Institution, Unit
from exchange.persons import consents
from exchange.persons import identities as persons
from exchange.platform.migrate import upgrade
from exchange.platform.settings import Settings
from exchange.policy import visible_fiche

RUNS = 15
OPENS = 30
FIELDS = {
    "diagnostic_date": "2026-11-02",
    "barriers": ["housing", "mobility", "finances"],
    "professional_barriers": "Pas d'expérience récente ; permis de conduire suspendu. " * 8,
    "motive": "Freins sociaux importants qui empêchent la recherche d'emploi. " * 10,
    "expectations": "Retrouver un logement stable puis une formation qualifiante. " * 8,
}


def _settings(instance: Path) -> Settings:
    return Settings(mode="demo", instance_path=instance,
                    secret_key="benchmark-secret-key-0123456789abcdefgh",
                    database_url=f"sqlite:///{instance / 'liaison.db'}",
                    master_key_file=instance / "keys" / "master.key",
                    epoch_key_dir=instance / "keys" / "epochs", blob_dir=instance / "blobs",
                    argon2_time_cost=1, argon2_memory_kib=64, argon2_parallelism=1,
                    scheduler=False)


_USER_IDS: dict[str, int] = {}


def _context(svc: Any, session: Any, username: str) -> Context:
    """The context of a request by `username`, whose id a request reads from its session."""
    from exchange.accounts.models import User

    if username not in _USER_IDS:
        _USER_IDS[username] = session.scalar(select(User.id).where(User.username == username))
    user = load_agent(session, _USER_IDS[username])
    return Context(svc, session, user, "127.0.0.1", svc.clock.now())


def _person_and_consent(svc: Any) -> Any:
    with svc.db.unit_of_work() as s:
        ctx = _context(svc, s, "ts.lodeve")
        pctx = ctx
        person = persons.create_person(pctx, Identity(
            last_name="Benchmark", first_names="Camille", birth_date=date(1984, 3, 9),
            address="3 rue de la République, 34700 Lodève", rsa_beneficiary=True))
        france_travail = s.scalar(select(Institution.public_id).where(
            Institution.name == "France Travail Occitanie"))
        consents.record_consent(pctx, person, axis="2", recipient=france_travail,
                                notice_version="1", method="in_person_attestation",
                                attestation=True, collected_on=svc.clock.today().isoformat(),
                                paper_form=None)
        return person.public_id


def _draft(svc: Any, person_pid: str) -> str:
    from exchange.persons.models import Person

    with svc.db.unit_of_work() as s:
        ctx = _context(svc, s, "ts.lodeve")
        person = s.scalar(select(Person).where(Person.public_id == person_pid))
        unit = s.scalar(select(Unit.public_id).where(
            Unit.name == "Agence France Travail Clermont-l'Hérault"))
        fiche = drafts.start_draft(ctx, person, FicheKind.ORIENTATION_AXE2, unit)
        drafts.save_draft(ctx, fiche, dict(FIELDS))
        return fiche.public_id


def _sign_and_send(svc: Any, fiche_pid: str) -> float:
    started = time.perf_counter()
    with svc.db.unit_of_work() as s:
        ctx = _context(svc, s, "ts.lodeve")
        fiche = visible_fiche(s, ctx.agent, fiche_pid)
        signing.sign(ctx, fiche)
        sending.send(ctx, fiche)
    return time.perf_counter() - started


def _render_and_sign_alone(svc: Any, fiche_pid: str) -> tuple[float, float]:
    """Seconds to render the content the fiche was signed with, and to sign that PDF, with
    the sender institution's key: the two steps of a send that are not the portal's own."""
    with svc.db.reading() as s:
        ctx = _context(svc, s, "ts.lodeve")
        fiche = visible_fiche(s, ctx.agent, fiche_pid)
        owner = owner_of_unit(s, fiche.sender_unit_id)
        document = one_document(s, fiche, CONTENT)
        content = json.loads(ctx.documents.open(document, owner))
        keystore = svc.keystore(s)
        institution = fiche.sender_unit.institution.name
        started = time.perf_counter()
        pdf = render_pdf(content)
        rendered = time.perf_counter()
        sign_pdf(keystore, owner, pdf, signer=ctx.agent.display_name, institution=institution)
        return rendered - started, time.perf_counter() - rendered


def _sent(svc: Any, person_pid: str) -> str:
    fiche = _draft(svc, person_pid)
    _sign_and_send(svc, fiche)
    return fiche


def _signed_in_client(app: Any, clock: FixedClock, username: str) -> Any:
    client = app.test_client()
    clock.advance(timedelta(seconds=totp.STEP))

    def token(path: str) -> str:
        match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"',
                          client.get(path).get_data(as_text=True))
        assert match
        return match.group(1)

    client.post("/connexion/", data={"username": username, "password": DEMO_PASSWORD,
                                     "csrf_token": token("/connexion/")})
    code = totp.code_at(demo_totp_secret(username), clock.now())
    client.post("/connexion/second-facteur",
                data={"code": code, "csrf_token": token("/connexion/second-facteur")})
    return client


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="liaison-bench-fiches-"))
    try:
        clock = FixedClock(datetime.now(UTC).replace(microsecond=0))
        settings = _settings(work / "instance")
        upgrade(settings.database_url)
        app = create_app(settings, clock=clock)
        svc = app.extensions["liaison"]
        seed(svc, only_if_empty=False)
        person = _person_and_consent(svc)
        sends, renders, signatures, fiches = [], [], [], []
        _render_and_sign_alone(svc, _sent(svc, person))  # warm up: fonts, keys, caches
        for _ in range(RUNS):
            fiche = _draft(svc, person)
            sends.append(_sign_and_send(svc, fiche))
            render, signature = _render_and_sign_alone(svc, fiche)
            renders.append(render)
            signatures.append(signature)
            fiches.append(fiche)
        reference = {"render": statistics.median(renders) * 1000,
                     "sign": statistics.median(signatures) * 1000}
        advisor = _signed_in_client(app, clock, "cft.clermont")
        first, later = [], []
        for fiche in fiches:
            started = time.perf_counter()
            assert advisor.get(f"/fiches/{fiche}").status_code == 200
            first.append(time.perf_counter() - started)
        target = fiches[0]
        for _ in range(OPENS):
            started = time.perf_counter()
            response = advisor.get(f"/fiches/{target}")
            later.append(time.perf_counter() - started)
            assert response.status_code == 200
        send_ms = statistics.median(sends) * 1000
        # Each send against the render and signature timed right after it, then the median.
        ratio = statistics.median(send / (render + signature) for send, render, signature
                                  in zip(sends, renders, signatures, strict=True))
        print(f"sign + send one fiche (end to end) : {send_ms:8.1f} ms  (median of {RUNS})")
        print(f"reportlab render alone            : {reference['render']:8.1f} ms"
              "  (same content, median)")
        print(f"pyHanko PAdES signature alone     : {reference['sign']:8.1f} ms"
              "  (same PDF and key, median)")
        print(f"ratio send / (render + sign)      : {ratio:8.2f}  (target <= 1.5;"
              " median of the runs' ratios)")
        print(f"open fiche page, first opening    : {statistics.median(first) * 1000:8.1f} ms"
              "  (includes PAdES validation)")
        print(f"open fiche page, later openings   : {statistics.median(later) * 1000:8.1f} ms"
              f"  (median of {OPENS}; target < 50)")
        app.extensions["liaison"].db.dispose()
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
