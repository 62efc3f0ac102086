"""Time to compute every steering indicator of one institution over 1,000,000 statistics facts.

Run: python bench/bench_indicators.py [--rows N] [--pure]

Builds a temporary SQLite database with the real migrations, four institutions (France Travail
and three social services, 34 units), three conventions and N facts (default 1,000,000) over ten
years: orientations sent, accepted, declined, recalled; entries with their delays; mid-term
reviews, renewals and exits, about 6 facts per accompaniment, 150 advisors. Then it times
`exchange.indicators.facts.indicators` — four GROUP BY queries and the arithmetic of
`exchange.domain.indicators.compute` — for France Travail, which is party to every convention
(so every fact is in its scope: the worst case), for a year, a quarter and a month, and for one
Département. Each case runs once to warm up, then 5 times: the figures are the median wall
time, the best one and the median CPU time (steadier on a shared machine). Target: under
1 second for the year, best of 5; the exit status is 1 if it is not met.

``--pure`` also times the other path, loading every fact into Python and reducing it with
`exchange.domain.indicators.aggregate`; it is what the SQL path is tested against, and this
figure is why the screens use SQL.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from exchange.domain.dates import add_months
from exchange.domain.indicators import (
    Fact,
    Period,
    Scope,
    aggregate,
    compute,
    midterm_on_time,
    month_of,
)
from exchange.domain.vocabulary import DeclineReason, ExitReason
from exchange.indicators.facts import band_for, indicators
from exchange.platform.db import Database
from exchange.platform.migrate import upgrade

TARGET_SECONDS = 1.0
TODAY = date(2026, 11, 23)
FIRST_DAY = date(2017, 1, 1)
COLUMNS = ("event", "axis", "convention_id", "sender_institution_id", "sender_unit_id",
           "receiving_institution_id", "receiving_unit_id", "advisor_ref", "accompaniment_ref",
           "rsa_beneficiary", "month", "proposal_month", "entry_month", "delay_days",
           "within_21_days", "decline_reason", "exit_reason", "positive_exit",
           "midterm_on_time", "created_at")


def organisation(connection: sqlite3.Connection) -> dict[str, object]:
    """France Travail (15 agencies) and three social services, one convention each."""
    now = "2026-11-23 09:00:00.000000"
    cursor = connection.cursor()
    specs = [("france_travail", "France Travail", "agence", 15),
             ("departement", "Département A", "mds", 10),
             ("departement", "Département B", "mds", 8),
             ("ccas_cias", "CIAS C", "cias", 1)]
    institutions: list[tuple[int, list[int]]] = []
    for n, (kind, name, unit_kind, units) in enumerate(specs):
        cursor.execute("INSERT INTO institutions (public_id, kind, name, siret, dpo_name, "
                       "dpo_email, dpo_address, created_at) VALUES (?, ?, ?, ?, '', '', '', ?)",
                       (f"{n:032x}", kind, name, "1" * 14, now))
        institution = int(cursor.lastrowid or 0)
        ids = []
        for u in range(units):
            cursor.execute("INSERT INTO units (public_id, institution_id, kind, name, email, "
                           "created_at) VALUES (?, ?, ?, ?, '', ?)",
                           (f"{n:016x}{u:016x}", institution, unit_kind, f"{name} {u}", now))
            ids.append(int(cursor.lastrowid or 0))
        institutions.append((institution, ids))
    conventions = []
    for n, (partner, _) in enumerate(institutions[1:]):
        cursor.execute(
            "INSERT INTO conventions (public_id, title, institution_a_id, institution_b_id, "
            "start_date, end_date, axis2, axis3, retention_axis2_months, "
            "retention_axis3_months, grace_days, countersign_required, caseload_target, "
            "created_at) VALUES (?, ?, ?, ?, '2017-01-01', '2027-12-31', 1, 1, 120, 2, 30, 0, "
            "?, ?)", (f"c{n:031x}", f"Convention {n}", partner, institutions[0][0],
                      100 if n == 1 else 70, now))
        conventions.append(int(cursor.lastrowid or 0))
    connection.commit()
    return {"ft": institutions[0], "partners": institutions[1:], "conventions": conventions}


def _row(base: tuple[object, ...], event: str, month: date, advisor: str | None = None,
         ref: str | None = None, entry: date | None = None, delay: int | None = None,
         decline: str | None = None, exit_reason: ExitReason | None = None,
         on_time: bool | None = None) -> tuple[object, ...]:
    """One row in COLUMNS order; ``base`` is (axis, convention, sender institution and unit,
    receiving institution and unit, rsa, proposal month)."""
    axis, convention, s_i, s_u, r_i, r_u, rsa, proposal = base
    return (event, axis, convention, s_i, s_u, r_i, r_u, advisor, ref, rsa, month.isoformat(),
            proposal, entry.isoformat() if entry else None, delay,
            None if delay is None else int(delay <= 21), decline,
            exit_reason.value if exit_reason else None,
            None if exit_reason is None else int(exit_reason.is_positive),
            None if on_time is None else int(on_time), f"{month.isoformat()} 00:00:00.000000")


def facts(org: dict[str, object], rows: int, seed: int = 20261123) -> Iterator[tuple[object, ...]]:
    """About ``rows`` facts: orientation paths drawn at random over ten years."""
    rng = random.Random(seed)
    ft_id, ft_units = org["ft"]  # type: ignore[misc]
    partners = org["partners"]  # type: ignore[assignment]
    conventions = org["conventions"]  # type: ignore[assignment]
    advisors = [f"{rng.getrandbits(256):064x}" for _ in range(150)]
    span = (TODAY - FIRST_DAY).days
    produced = 0
    declines, exits = [r.value for r in DeclineReason], list(ExitReason)
    while produced < rows:
        which = rng.randrange(len(partners))
        partner_id, partner_units = partners[which]
        ft_unit, partner_unit = rng.choice(ft_units), rng.choice(partner_units)
        axis = 2 if rng.random() < 0.8 else 3
        if axis == 3 or rng.random() < 0.5:  # the advisor orients
            parties = (ft_id, ft_unit, partner_id, partner_unit)
        else:
            parties = (partner_id, partner_unit, ft_id, ft_unit)
        sent = FIRST_DAY + timedelta(days=rng.randrange(span))
        base = (axis, conventions[which], *parties, int(rng.random() < 0.6),
                month_of(sent).isoformat())
        out = [_row(base, "orientation_sent", month_of(sent))]
        decided = month_of(min(sent + timedelta(days=rng.randrange(1, 10)), TODAY))
        fate = rng.random()
        if fate < 0.1:
            out.append(_row(base, "orientation_recalled", decided))
        elif fate < 0.3:
            out.append(_row(base, "orientation_declined", decided, decline=rng.choice(declines)))
        else:
            advisor, ref = rng.choice(advisors), f"{rng.getrandbits(256):064x}"
            out.append(_row(base, "orientation_accepted", decided, advisor, ref))
            day = sent + timedelta(days=int(rng.expovariate(1 / 18)))
            if day <= TODAY:
                entry = month_of(day)
                out.append(_row(base, "entry", entry, advisor, ref, entry, (day - sent).days))
                due = add_months(day, 6)
                done = due + timedelta(days=rng.randrange(-20, 40))
                if done <= TODAY and rng.random() < 0.8:
                    out.append(_row(base, "midterm_done", month_of(done), advisor, ref, entry,
                                    on_time=midterm_on_time(due, done)))
                renewal = add_months(day, 11)
                if renewal <= TODAY and rng.random() < 0.3:
                    out.append(_row(base, "renewal", month_of(renewal), advisor, ref, entry))
                leave = day + timedelta(days=rng.randrange(30, 540))
                if leave <= TODAY and rng.random() < 0.9:
                    out.append(_row(base, "exit", month_of(leave), advisor, ref, entry,
                                    exit_reason=rng.choice(exits)))
        yield from out[: rows - produced]
        produced += len(out)


def timings(action: Callable[[], object], runs: int = 5) -> tuple[float, float, float, float]:
    """(first call; median wall time, best wall time and median CPU time of the next
    ``runs``)."""
    t0 = time.perf_counter()
    action()
    first = time.perf_counter() - t0
    wall, cpu = [], []
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        action()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return first, statistics.median(wall), min(wall), statistics.median(cpu)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--pure", action="store_true",
                        help="also time the pure-Python path over every fact")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.db"
        url = f"sqlite:///{path}"
        upgrade(url)
        connection = sqlite3.connect(path)
        # A throwaway database: load it as fast as possible (the app's pragmas are for safety).
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")
        org = organisation(connection)
        t0 = time.perf_counter()
        # Bulk load without the indexes, then build them as the migration defines them.
        indexes = [row[0] for row in connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'stat_facts' "
            "AND sql IS NOT NULL")]
        for statement in indexes:
            connection.execute("DROP INDEX " + statement.split()[2])
        placeholders = ", ".join("?" for _ in COLUMNS)
        connection.executemany(
            f"INSERT INTO stat_facts ({', '.join(COLUMNS)}) VALUES ({placeholders})",  # noqa: S608
            facts(org, args.rows))
        for statement in indexes:
            connection.execute(statement)
        connection.commit()
        count = connection.execute("SELECT count(*) FROM stat_facts").fetchone()[0]
        connection.close()
        print(f"{count:,} facts written in {time.perf_counter() - t0:.1f} s "
              f"({path.stat().st_size / 1e6:.0f} MB)".replace(",", " "))

        db = Database(url)
        ft_id = org["ft"][0]  # type: ignore[index]
        partner_id = org["partners"][0][0]  # type: ignore[index]
        cases = [
            ("France Travail, année 2025 (tous les faits dans le périmètre)",
             Scope(institution=ft_id), Period(2025)),
            ("France Travail, 2e trimestre 2025", Scope(institution=ft_id), Period(2025, 2)),
            ("France Travail, mars 2025", Scope(institution=ft_id), Period(2025, None, 3)),
            ("France Travail, année 2026 en cours", Scope(institution=ft_id), Period(2026)),
            ("Département A, année 2025", Scope(institution=partner_id), Period(2025)),
        ]
        verdict = 0
        with db.sessions() as session:
            for label, scope, period in cases:
                def run(scope: Scope = scope, period: Period = period) -> object:
                    return indicators(session, scope, period, TODAY)

                first, median, best, cpu = timings(run)
                result = indicators(session, scope, period, TODAY)
                print(f"{label}: {median * 1000:.0f} ms (best {best * 1000:.0f} ms, CPU "
                      f"{cpu * 1000:.0f} ms, first call {first * 1000:.0f} ms); "
                      f"{result.entries.total} entries, {result.exits.total} exits, "
                      f"{len(result.caseload.advisors)} advisors")
                if period == Period(2025) and scope == Scope(institution=ft_id):
                    verdict = int(best >= TARGET_SECONDS)
                    headline = (median, best, cpu)
            if args.pure:
                from sqlalchemy import select

                from exchange.indicators.models import StatFact

                scope, period = Scope(institution=ft_id), Period(2025)
                t0 = time.perf_counter()
                rows = [Fact(**{c: getattr(r, c) for c in COLUMNS if c != "created_at"})
                        for r in session.scalars(select(StatFact))]
                loaded = time.perf_counter() - t0
                t0 = time.perf_counter()
                pure = compute(aggregate(rows, scope, period, TODAY),
                               band_for(session, scope))
                reduced = time.perf_counter() - t0
                same = pure == indicators(session, scope, period, TODAY)
                print(f"pure path, France Travail 2025: load {loaded:.1f} s + reduce "
                      f"{reduced:.1f} s; same indicators as SQL: {same}")
                verdict |= int(not same)
        db.dispose()
    median, best, cpu = headline
    written = f"{args.rows:,}".replace(",", " ")
    print(f"All indicators of one institution over {written} facts: {best * 1000:.0f} ms "
          f"best of 5, {median * 1000:.0f} ms median, {cpu * 1000:.0f} ms CPU "
          f"(target < {TARGET_SECONDS * 1000:.0f} ms)")
    return verdict


if __name__ == "__main__":
    sys.exit(main())
