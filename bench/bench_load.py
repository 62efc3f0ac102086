"""A bounded load run on 127.0.0.1: gunicorn with 4 workers on a fresh demo instance, and 50
simulated users who sign in (password + TOTP), list their inboxes, open fiches and send them.

Setup (not timed): `flask db upgrade` and `flask demo seed` on a temporary LIAISON_INSTANCE,
then extra demo-like accounts (each TOTP code is single-use per account, so every simulated
user has its own): half social workers of the CIAS de Lodève, half advisors of the agence de
Clermont-l'Hérault (their convention asks for no countersignature), and for each social worker
a few persons with consent and an axe 2 orientation signed through the use cases, ready to send.

Run: each user signs in, then loops until the time is up: a social worker lists its sent
fiches, sends its next signed fiche (POST /fiches/<id>/envoyer, with the CSRF token of the
fiche page) and reopens it; an advisor lists its inbox and opens the fiches it finds there.

Prints requests per second, median and p99 latency, status counts; fails (exit 1) on any 5xx,
on a fiche sent twice or lost (every fiche posted for sending is sent exactly once, every other
one is still signed, no fiche appeared from nowhere).

    python bench/bench_load.py [--seconds 120] [--users 50] [--fiches 3]
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, select  # noqa: E402

from exchange import audit, consents, create_app, persons  # noqa: E402
from exchange.demo import DEMO_PASSWORD, TOTP_BOX, demo_totp_secret  # noqa: E402
from exchange.domain.identity import Identity  # noqa: E402
from exchange.domain.vocabulary import FicheKind  # noqa: E402
from exchange.fiches import drafts, signing  # noqa: E402
from exchange.fiches.common import Context  # noqa: E402
from exchange.models.accounts import User, UserRole  # noqa: E402
from exchange.models.audit import AuditEvent  # noqa: E402
from exchange.models.fiches import Fiche  # noqa: E402
from exchange.models.org import Institution, Unit  # noqa: E402
from exchange.security import totp  # noqa: E402
from exchange.settings import Settings  # noqa: E402
from exchange.web.accounts import SignedIn, load_user_row  # noqa: E402
from exchange.web.helpers import actor_for  # noqa: E402

SOCIAL_UNIT = "CIAS Lodévois et Larzac — Lodève"
ADVISOR_UNIT = "Agence France Travail Clermont-l'Hérault"
FIELDS = {
    "diagnostic_date": date.today().isoformat(),
    "barriers": ["housing", "mobility"],
    "professional_barriers": "Pas d'expérience récente.",
    "motive": "Freins sociaux à lever avant la recherche d'emploi.",
    "expectations": "Retrouver un logement stable puis une formation.",
}
CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
FICHE_LINK = re.compile(r'href="/fiches/([0-9a-f]{32})"')
SENT_STATES = ("sent", "read", "acknowledged", "accepted", "declined")


# -- setup -------------------------------------------------------------------------------------

def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", *args],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def _context(svc: Any, session: Any, username: str) -> Context:
    user_id = session.scalar(select(User.id).where(User.username == username))
    return Context(svc, session, load_user_row(session, user_id), "127.0.0.1", svc.clock.now())


def _add_user(svc: Any, session: Any, username: str, unit: int, role: str) -> None:
    now = svc.clock.now()
    user = User(username=username, display_name=username, email=f"{username}@load.invalid",
                unit_id=unit, password_hash=svc.passwords.hash(DEMO_PASSWORD),
                must_change_password=False, created_at=now, totp_enrolled_at=now,
                totp_last_step=0)
    session.add(user)
    session.flush()
    user.totp_secret = svc.secret_box(TOTP_BOX).seal(demo_totp_secret(username).encode(),
                                                     user.public_id.encode())
    session.add(UserRole(user_id=user.id, role=role))


def _signed_fiche(svc: Any, username: str, number: int) -> str:
    """A person with consent and an axe 2 orientation, signed by ``username``."""
    with svc.db.unit_of_work() as s:
        ctx = _context(svc, s, username)
        actor = actor_for(ctx.user)

        def record(session: Any, action: str, **fields: Any) -> None:
            audit.record(session, action, at=svc.clock.now(), actor=actor, **fields)

        pctx = persons.Context(svc, s, SignedIn(ctx.user), record)
        person = persons.create_person(pctx, Identity(
            last_name=f"Charge{username.replace('.', '')}", first_names=f"Personne {number}",
            birth_date=date(1980 + number % 20, 1 + number % 12, 1 + number % 28)))
        recipient = s.scalar(select(Institution.public_id).where(
            Institution.name == "France Travail Occitanie"))
        consents.record_consent(pctx, person, axis="2", recipient=recipient,
                                notice_version="1", method="in_person_attestation",
                                attestation=True, collected_on=svc.clock.today().isoformat(),
                                paper_form=None)
        unit = s.scalar(select(Unit.public_id).where(Unit.name == ADVISOR_UNIT))
        fiche = drafts.start_draft(ctx, person, FicheKind.ORIENTATION_AXE2, unit)
        drafts.save_draft(ctx, fiche, dict(FIELDS))
        signing.sign(ctx, fiche)
        return fiche.public_id


@dataclass
class Plan:
    social: dict[str, list[str]]  # username -> signed fiches to send
    advisors: list[str]


def prepare(env: dict[str, str], users: int, fiches: int) -> Plan:
    _flask(env, "db", "upgrade")
    _flask(env, "demo", "seed")
    app = create_app(Settings.from_env(env))
    svc = app.extensions["liaison"]
    social = [f"load.ts.{n:02d}" for n in range(users - users // 2)]
    advisors = [f"load.cft.{n:02d}" for n in range(users // 2)]
    with svc.db.unit_of_work() as s:
        units = {name: s.scalar(select(Unit.id).where(Unit.name == name))
                 for name in (SOCIAL_UNIT, ADVISOR_UNIT)}
        for username in social:
            _add_user(svc, s, username, units[SOCIAL_UNIT], "social_worker")
        for username in advisors:
            _add_user(svc, s, username, units[ADVISOR_UNIT], "advisor")
    plan = Plan({u: [_signed_fiche(svc, u, i) for i in range(fiches)] for u in social},
                advisors)
    svc.db.dispose()
    return plan


# -- the simulated browser ---------------------------------------------------------------------

@dataclass
class Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, seconds: float, status: int, what: str) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.statuses[status] += 1
            if status >= 500:
                self.failures.append(f"{status} {what}")


class Browser:
    """One user: one keep-alive connection (reopened when gunicorn closes it), its cookies."""

    def __init__(self, port: int, stats: Stats) -> None:
        self.port = port
        self.stats = stats
        self.cookies: dict[str, str] = {}
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, form: dict[str, Any] | None = None,
                ) -> tuple[int, str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        body = None
        if form is not None:
            body = urlencode(form, doseq=True)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (http.client.HTTPException, OSError):
            self.connection.close()  # the server closed the connection: one retry
            self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.connection.request(method, path, body=body, headers=headers)
            response = self.connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        self.stats.add(time.perf_counter() - started, response.status, f"{method} {path}")
        for header in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value:
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        if response.getheader("Connection", "").lower() == "close":
            self.connection.close()
        return response.status, response.getheader("Location", ""), text

    def token(self, path: str) -> str:
        _, _, page = self.request("GET", path)
        found = CSRF.search(page)
        if not found:
            raise RuntimeError(f"no CSRF token on {path}")
        return found.group(1)

    def sign_in(self, username: str) -> None:
        status, _, _ = self.request("POST", "/connexion/", {
            "username": username, "password": DEMO_PASSWORD,
            "csrf_token": self.token("/connexion/")})
        if status != 302:
            raise RuntimeError(f"{username}: password step answered {status}")
        token = self.token("/connexion/second-facteur")
        code = totp.code_at(demo_totp_secret(username), _now())
        status, location, _ = self.request("POST", "/connexion/second-facteur",
                                           {"code": code, "csrf_token": token})
        if status != 302 or "connexion" in location:
            raise RuntimeError(f"{username}: second factor answered {status} {location}")


def _now() -> Any:
    from datetime import UTC, datetime

    return datetime.now(UTC)


def social_worker(port: int, stats: Stats, username: str, fiches: list[str], until: float,
                  posted: list[str]) -> None:
    browser = Browser(port, stats)
    browser.sign_in(username)
    queue = list(fiches)
    while time.monotonic() < until:
        browser.request("GET", "/fiches/envoyees")
        if queue:
            fiche = queue.pop(0)
            token = browser.token(f"/fiches/{fiche}")
            posted.append(fiche)
            browser.request("POST", f"/fiches/{fiche}/envoyer", {"csrf_token": token})
            browser.request("GET", f"/fiches/{fiche}")
        else:
            browser.request("GET", "/travailleur-social/")


def advisor(port: int, stats: Stats, username: str, until: float) -> None:
    browser = Browser(port, stats)
    browser.sign_in(username)
    opened: set[str] = set()
    while time.monotonic() < until:
        _, _, inbox = browser.request("GET", "/fiches/recues")
        found = [pid for pid in FICHE_LINK.findall(inbox) if pid not in opened][:2]
        for pid in found or FICHE_LINK.findall(inbox)[:1]:
            browser.request("GET", f"/fiches/{pid}")
            opened.add(pid)
        if not found:
            browser.request("GET", "/conseiller/")


# -- the run -----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("gunicorn stopped during start-up")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/sante")
            if connection.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("gunicorn did not answer /sante within 60 s")


def check_fiches(env: dict[str, str], plan: Plan, posted: list[str]) -> list[str]:
    """Every fiche posted for sending is sent exactly once; the others are still signed; no
    other fiche exists."""
    app = create_app(Settings.from_env(env))
    svc = app.extensions["liaison"]
    problems = []
    created = {pid for fiches in plan.social.values() for pid in fiches}
    with svc.db.unit_of_work() as s:
        states = dict(s.execute(select(Fiche.public_id, Fiche.state)).all())
        sends = Counter(s.scalars(select(AuditEvent.object_id).where(
            AuditEvent.action == "fiche.sent")))
        total = s.scalar(select(func.count()).select_from(Fiche))
    svc.db.dispose()
    if set(states) != created or total != len(created):
        problems.append(f"{total} fiches in the database, {len(created)} created")
    if len(posted) != len(set(posted)):
        problems.append("a fiche was posted twice by the load itself")
    for pid in created:
        expected_sends = 1 if pid in posted else 0
        if sends.get(pid, 0) != expected_sends:
            problems.append(f"fiche {pid[:8]}: {sends.get(pid, 0)} send events")
        if (states.get(pid) in SENT_STATES) != bool(expected_sends):
            problems.append(f"fiche {pid[:8]}: state {states.get(pid)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--fiches", type=int, default=3, help="signed fiches per social worker")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="liaison-load-") as folder:
        env = {**os.environ, "LIAISON_MODE": "demo", "LIAISON_INSTANCE": folder,
               "LIAISON_SCHEDULER": "0"}
        started = time.perf_counter()
        plan = prepare(env, args.users, args.fiches)
        print(f"setup: {args.users} accounts, {sum(map(len, plan.social.values()))} signed "
              f"fiches in {time.perf_counter() - started:.0f} s", flush=True)
        port = _free_port()
        server = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "-w", str(args.workers), "-b",
             f"127.0.0.1:{port}", "--log-level", "warning", "wsgi:app"],
            cwd=ROOT, env=env, start_new_session=True)
        stats, posted, errors = Stats(), [], []
        try:
            _wait_ready(port, server)
            until = time.monotonic() + args.seconds
            threads = [threading.Thread(target=social_worker,
                                        args=(port, stats, u, f, until, posted))
                       for u, f in plan.social.items()]
            threads += [threading.Thread(target=advisor, args=(port, stats, u, until))
                        for u in plan.advisors]

            def guarded(thread: threading.Thread) -> None:
                try:
                    thread.run()
                except Exception as exc:  # a user that fails is counted, the run goes on
                    errors.append(f"{type(exc).__name__}: {exc}")

            runners = [threading.Thread(target=guarded, args=(t,)) for t in threads]
            begun = time.perf_counter()
            for runner in runners:
                runner.start()
            for runner in runners:
                runner.join()
            elapsed = time.perf_counter() - begun
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        problems = check_fiches(env, plan, posted)

    latencies = sorted(stats.latencies)
    count = len(latencies)
    p99 = latencies[min(count - 1, int(count * 0.99))] if count else 0.0
    print(f"users: {args.users} ({len(plan.social)} social workers, {len(plan.advisors)} "
          f"advisors), gunicorn workers: {args.workers}, duration: {elapsed:.1f} s")
    print(f"requests: {count}, {count / elapsed:.1f} requests/s")
    if count:
        print(f"latency: median {statistics.median(latencies) * 1000:.0f} ms, "
              f"p99 {p99 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")
    print("statuses: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats.statuses.items())))
    server_errors = sum(v for k, v in stats.statuses.items() if k >= 500)
    print(f"server errors (5xx): {server_errors}; failed users: {len(errors)}")
    print(f"fiches: {sum(map(len, plan.social.values()))} created, {len(posted)} sent, "
          f"{len(problems)} lost or duplicated")
    for line in (stats.failures[:10] + errors[:10] + problems[:10]):
        print("  " + line)
    return 1 if server_errors or errors or problems else 0


if __name__ == "__main__":
    sys.exit(main())
