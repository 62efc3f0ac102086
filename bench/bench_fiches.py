"""Signing and sending one fiche end to end, and opening its page, on a real SQLite database.

Prints, measured in the same run:
- sign + send (render, PAdES, manifest, seal, store, audit, commit), median over the runs;
- the reportlab render alone and the pyHanko signature alone (bench_pdf's reference figures);
- opening the fiche page as the recipient (HTTP GET through the app): first opening (which also
  validates the PAdES signature) and later openings, median.
Targets: sending at most 1.5 x (render + sign); opening a fiche page under 50 ms median.
"""

from __future__ import annotations

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

from sqlalchemy import select  # noqa: E402

from bench.bench_pdf import reference_times  # noqa: E402
from exchange import audit, consents, create_app, persons  # noqa: E402
from exchange.demo import DEMO_PASSWORD, demo_totp_secret, seed  # noqa: E402
from exchange.domain.clock import FixedClock  # noqa: E402
from exchange.domain.identity import Identity  # noqa: E402
from exchange.domain.vocabulary import FicheKind  # noqa: E402
from exchange.fiches import drafts, sending, signing  # noqa: E402
from exchange.fiches.common import Context  # noqa: E402
from exchange.migrate import upgrade  # noqa: E402
from exchange.models.org import Institution, Unit  # noqa: E402
from exchange.policy import visible_fiche  # noqa: E402
from exchange.security import totp  # noqa: E402
from exchange.settings import Settings  # noqa: E402
from exchange.web.accounts import SignedIn, load_user_row  # noqa: E402
from exchange.web.helpers import actor_for  # noqa: E402

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


def _context(svc: Any, session: Any, username: str) -> Context:
    from exchange.models.accounts import User

    user_id = session.scalar(select(User.id).where(User.username == username))
    user = load_user_row(session, user_id)
    return Context(svc, session, user, "127.0.0.1", svc.clock.now())


def _person_and_consent(svc: Any) -> Any:
    with svc.db.unit_of_work() as s:
        ctx = _context(svc, s, "ts.lodeve")
        actor = actor_for(ctx.user)

        def record(session: Any, action: str, **fields: Any) -> None:
            audit.record(session, action, at=svc.clock.now(), actor=actor, **fields)

        pctx = persons.Context(svc, s, SignedIn(ctx.user), record)
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
    from exchange.models.people import Person

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
        fiche = visible_fiche(s, ctx.user, fiche_pid)
        signing.sign(ctx, fiche)
        sending.send(ctx, fiche)
    return time.perf_counter() - started


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
        sends, fiches = [], []
        for _ in range(RUNS):
            fiche = _draft(svc, person)
            sends.append(_sign_and_send(svc, fiche))
            fiches.append(fiche)
        with svc.db.unit_of_work() as s:
            owner = s.scalar(select(Institution).where(
                Institution.name == "CIAS Lodévois et Larzac")).key_owner
            reference = reference_times(svc.keystore(s), owner, RUNS)
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
        render_sign = reference["render"] + reference["sign"]
        print(f"sign + send one fiche (end to end) : {send_ms:8.1f} ms  (median of {RUNS})")
        print(f"reportlab render alone            : {reference['render']:8.1f} ms")
        print(f"pyHanko PAdES signature alone     : {reference['sign']:8.1f} ms")
        print(f"ratio send / (render + sign)      : {send_ms / render_sign:8.2f}  (target <= 1.5)")
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
