"""A bounded load run on 127.0.0.1, on SQLite and on PostgreSQL: gunicorn as configured by
gunicorn.conf.py on a fresh demo instance, and 50 simulated users who sign in (password + TOTP,
argon2 at its production cost), list their inboxes, open fiches and send them.

Setup (not timed): `flask db upgrade` and `flask demo seed` on a temporary LIAISON_INSTANCE,
then extra demo-like accounts (each TOTP code is single-use per account, so every simulated
user has its own): half social workers of the CIAS de Lodève, half advisors of the agence de
Clermont-l'Hérault (their convention asks for no countersignature), and for each social worker
a few persons with consent and an axe 2 orientation signed through the use cases, ready to send.

Run: the users arrive over the first seconds (--ramp-up), each signs in once, then loops until
the time is up: a social worker lists its sent fiches, sends its next signed fiche (POST
/fiches/<id>/envoyer, with the CSRF token of the fiche page) and reopens it; an advisor lists
its inbox and opens the fiches it finds there.

Prints, for each database, requests per second, median and p99 latency (every request, sign-in
included), the same per route, the server's processor time per request (less sensitive than
latency to other work on the machine), status counts; then both side by side. Fails (exit 1)
on any 5xx, on a user that could not go on, on a fiche sent twice or lost (every fiche posted
for sending is sent exactly once, every other one is still signed, no fiche appeared from
nowhere).

The PostgreSQL run is this script again under scripts/with-postgres.sh (a throwaway cluster on
a local socket, installed from Debian's packages if missing), in a database of its own.

    python bench/bench_load.py [--seconds 120] [--users 50] [--fiches 3] [--ramp-up 10]
                               [--database both|sqlite|postgresql] [--workers N] [--threads N]
"""

from __future__ import annotations

import argparse
import http.client
import json
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
from uuid import uuid4

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import func, make_url, select

from exchange.accounts import totp
from exchange.accounts.models import User, UserRole
from exchange.acting import Context, load_agent
from exchange.app import create_app
from exchange.audit.models import AuditEvent
from exchange.demo.seed import DEMO_PASSWORD, TOTP_BOX, demo_totp_secret
from exchange.domain.identity import Identity
from exchange.domain.vocabulary import FicheKind
from exchange.fiches import drafts, signing
from exchange.fiches.models import Fiche
from exchange.org.models import Institution, Unit
from exchange.persons import consents
from exchange.persons import identities as persons
from exchange.platform.settings import Settings

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
PUBLIC_ID = re.compile(r"[0-9a-f]{32}")
SENT_STATES = ("sent", "read", "acknowledged", "accepted", "declined")


# -- setup -------------------------------------------------------------------------------------

def _flask(env: dict[str, str], *args: str) -> None:
    subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", *args],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def _context(svc: Any, session: Any, username: str) -> Context:
    user_id = session.scalar(select(User.id).where(User.username == username))
    return Context(svc, session, load_agent(session, user_id), "127.0.0.1", svc.clock.now())


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
        pctx = ctx
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
    routes: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def add(self, seconds: float, status: int, what: str) -> None:
        route = PUBLIC_ID.sub("<id>", what)
        with self.lock:
            self.latencies.append(seconds)
            self.routes.setdefault(route, []).append(seconds)
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


def _stat(pid: int | str) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _processor_seconds(server: subprocess.Popen[bytes]) -> float | None:
    """User + system time of gunicorn's workers so far, the ones running and the ones already
    replaced (max_requests), from Linux's /proc; None elsewhere."""
    try:
        master = _stat(server.pid)
        ticks = int(master[13]) + int(master[14])  # the workers that ended
        for child in Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split():
            fields = _stat(child)
            ticks += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


def check_fiches(env: dict[str, str], plan: Plan, posted: list[str]) -> list[str]:
    """Every fiche posted for sending is sent exactly once; the others are still signed; no
    other fiche exists."""
    app = create_app(Settings.from_env(env))
    svc = app.extensions["liaison"]
    problems = []
    created = {pid for fiches in plan.social.values() for pid in fiches}
    with svc.db.reading() as s:
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


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else 0.0


def _admin(url: str, sql: str) -> None:
    import psycopg

    parts = make_url(url)
    with psycopg.connect(dbname="postgres", user=parts.username, password=parts.password,
                         host=parts.query.get("host") or parts.host, port=parts.port,
                         autocommit=True) as connection:
        connection.execute(sql)  # type: ignore[arg-type]


def run(args: argparse.Namespace, server_url: str | None) -> dict[str, Any]:
    """One load run on a fresh instance: SQLite in its folder, or a new database of the
    PostgreSQL server at ``server_url``. Returns its figures."""
    database = "postgresql" if server_url else "sqlite"
    name = f"liaison_load_{uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory(prefix="liaison-load-") as folder:
        env = {**os.environ, "LIAISON_MODE": "demo", "LIAISON_INSTANCE": folder,
               "LIAISON_SCHEDULER": "0", "GUNICORN_LOG_LEVEL": "warning"}
        env.pop("LIAISON_DATABASE_URL", None)
        if server_url:
            _admin(server_url, f"CREATE DATABASE {name}")
            env["LIAISON_DATABASE_URL"] = make_url(server_url).set(database=name) \
                .render_as_string(hide_password=False)
        for option, variable in (("workers", "GUNICORN_WORKERS"), ("threads", "GUNICORN_THREADS")):
            if getattr(args, option):
                env[variable] = str(getattr(args, option))
        try:
            return _run(args, env, database, Path(folder))
        finally:
            if server_url:
                _admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run(args: argparse.Namespace, env: dict[str, str], database: str,
         folder: Path) -> dict[str, Any]:
    started = time.perf_counter()
    plan = prepare(env, args.users, args.fiches)
    print(f"[{database}] setup: {args.users} accounts, {sum(map(len, plan.social.values()))} "
          f"signed fiches in {time.perf_counter() - started:.0f} s", flush=True)
    port = _free_port()
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    log = (folder / "gunicorn.log").open("wb")
    config = json.loads(subprocess.run(
        [sys.executable, "-c", "import json, runpy; c = runpy.run_path('gunicorn.conf.py'); "
         "print(json.dumps({k: c[k] for k in ('workers', 'threads')}))"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout)
    server = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    stats, posted, errors = Stats(), [], []
    try:
        _wait_ready(port, server)
        cpu_before = _processor_seconds(server)
        begun = time.monotonic()
        until = begun + args.seconds
        users: list[tuple[Any, tuple[Any, ...]]] = [
            (social_worker, (port, stats, u, f, until, posted)) for u, f in plan.social.items()]
        users += [(advisor, (port, stats, u, until)) for u in plan.advisors]
        # Alternate the two kinds of user, so that both arrive during the ramp-up.
        social, advisors = users[:len(plan.social)], users[len(plan.social):]
        users = [u for pair in zip(social, advisors, strict=False) for u in pair]
        users += social[len(advisors):]

        def guarded(index: int, target: Any, user_args: tuple[Any, ...]) -> None:
            time.sleep(args.ramp_up * index / len(users))
            try:
                target(*user_args)
            except Exception as exc:  # a user that fails is counted, the run goes on
                errors.append(f"{type(exc).__name__}: {exc}")

        runners = [threading.Thread(target=guarded, args=(i, target, user_args))
                   for i, (target, user_args) in enumerate(users)]
        for runner in runners:
            runner.start()
        for runner in runners:
            runner.join()
        elapsed = time.monotonic() - begun
        cpu_after = _processor_seconds(server)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    problems = check_fiches(env, plan, posted)
    if stats.failures:
        print(f"[{database}] last lines of the server's log:")
        lines = (folder / "gunicorn.log").read_text(errors="replace").splitlines()
        print("\n".join("  " + line[:300] for line in lines[-20:]))
    count = len(stats.latencies)
    cpu = (cpu_after - cpu_before) if cpu_before is not None and cpu_after is not None else None
    return {
        "database": database, "users": args.users, "social": len(plan.social),
        "advisors": len(plan.advisors), "workers": int(config.get("workers", 0)),
        "threads": int(config.get("threads", 0)), "seconds": elapsed, "requests": count,
        "per_second": count / elapsed, "ramp_up": args.ramp_up,
        "median_ms": statistics.median(stats.latencies) * 1000 if count else 0.0,
        "p99_ms": _percentile(stats.latencies, 0.99) * 1000,
        "max_ms": max(stats.latencies, default=0.0) * 1000,
        "cpu_ms": cpu * 1000 / count if cpu is not None and count else None,
        "statuses": {str(k): v for k, v in sorted(stats.statuses.items())},
        "server_errors": sum(v for k, v in stats.statuses.items() if k >= 500),
        "failed_users": len(errors), "created": sum(map(len, plan.social.values())),
        "sent": len(posted), "lost_or_duplicated": len(problems),
        "routes": {route: [len(v), statistics.median(v) * 1000, _percentile(v, 0.99) * 1000]
                   for route, v in sorted(stats.routes.items())},
        "details": stats.failures[:10] + errors[:10] + problems[:10],
    }


def failed(result: dict[str, Any]) -> bool:
    return bool(result["server_errors"] or result["failed_users"]
                or result["lost_or_duplicated"])


def report(r: dict[str, Any]) -> None:
    print(f"[{r['database']}] users: {r['users']} ({r['social']} social workers, "
          f"{r['advisors']} advisors, arriving over {r['ramp_up']:g} s), gunicorn: "
          f"{r['workers']} workers x {r['threads']} threads, duration: {r['seconds']:.1f} s")
    cpu = f", server processor {r['cpu_ms']:.0f} ms/request" if r["cpu_ms"] is not None else ""
    print(f"[{r['database']}] requests: {r['requests']}, {r['per_second']:.1f} requests/s{cpu}")
    print(f"[{r['database']}] latency: median {r['median_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, "
          f"max {r['max_ms']:.0f} ms")
    for route, (n, median, p99) in r["routes"].items():
        print(f"    {route:34} {n:6d} requests, median {median:6.0f} ms, p99 {p99:6.0f} ms")
    print(f"[{r['database']}] statuses: "
          + ", ".join(f"{k}: {v}" for k, v in r["statuses"].items()))
    print(f"[{r['database']}] server errors (5xx): {r['server_errors']}; failed users: "
          f"{r['failed_users']}; fiches: {r['created']} created, {r['sent']} sent, "
          f"{r['lost_or_duplicated']} lost or duplicated")
    for line in r["details"]:
        print("  " + line)


def side_by_side(results: list[dict[str, Any]]) -> None:
    rows = [
        ("gunicorn", lambda r: f"{r['workers']} x {r['threads']} threads"),
        ("duration", lambda r: f"{r['seconds']:.0f} s"),
        ("requests/s", lambda r: f"{r['per_second']:.1f}"),
        ("median", lambda r: f"{r['median_ms']:.0f} ms"),
        ("p99", lambda r: f"{r['p99_ms']:.0f} ms"),
        ("max", lambda r: f"{r['max_ms']:.0f} ms"),
        ("server processor", lambda r: "—" if r["cpu_ms"] is None else
         f"{r['cpu_ms']:.0f} ms/request"),
        ("server errors (5xx)", lambda r: str(r["server_errors"])),
        ("failed users", lambda r: str(r["failed_users"])),
        ("fiches sent", lambda r: f"{r['sent']} of {r['created']}"),
        ("lost or duplicated", lambda r: str(r["lost_or_duplicated"])),
    ]
    print("\n" + f"{'':22}" + "".join(f"{r['database']:>20}" for r in results))
    for label, cell in rows:
        print(f"{label:22}" + "".join(f"{cell(r):>20}" for r in results))


def _postgres_leg(args: argparse.Namespace) -> dict[str, Any]:
    """This script again, under scripts/with-postgres.sh, writing its figures to a file."""
    with tempfile.TemporaryDirectory(prefix="liaison-load-pg-") as folder:
        out = Path(folder) / "figures.json"
        command = ["bash", str(ROOT / "scripts" / "with-postgres.sh"), sys.executable,
                   str(Path(__file__).resolve()), "--database", "postgresql",
                   "--json", str(out), "--seconds", str(args.seconds), "--users",
                   str(args.users), "--fiches", str(args.fiches), "--ramp-up",
                   str(args.ramp_up)]
        for option in ("workers", "threads"):
            if getattr(args, option):
                command += [f"--{option}", str(getattr(args, option))]
        subprocess.run(command, cwd=ROOT, check=False)
        if not out.exists():
            raise RuntimeError("the PostgreSQL run did not finish (see above)")
        result: dict[str, Any] = json.loads(out.read_text())
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--fiches", type=int, default=3, help="signed fiches per social worker")
    parser.add_argument("--ramp-up", type=float, default=10,
                        help="seconds over which the users arrive")
    parser.add_argument("--database", choices=("both", "sqlite", "postgresql"),
                        default="both")
    parser.add_argument("--workers", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument("--threads", type=int, help="default: gunicorn.conf.py's")
    parser.add_argument("--json", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    results = []
    if args.database in ("both", "sqlite"):
        results.append(run(args, None))
        report(results[-1])
    if args.database == "postgresql":
        url = os.environ.get("TEST_DATABASE_URL", "")
        if not url.startswith("postgresql"):
            parser.error("--database postgresql runs under scripts/with-postgres.sh "
                         "(TEST_DATABASE_URL)")
        results.append(run(args, url))
        report(results[-1])
        if args.json:
            args.json.write_text(json.dumps(results[-1]))
    if args.database == "both":
        try:
            results.append(_postgres_leg(args))
        except RuntimeError as exc:
            print(f"PostgreSQL: {exc}")
            return 1
        side_by_side(results)
    return 1 if any(failed(r) for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
