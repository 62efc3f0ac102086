"""The portal's main path in a real browser, as its users walk it.

ts.montauban signs in with the second factor, records Élodie Lefèvre and her consent, writes
and signs an axe 2 orientation to the Albasud agency with a scanned attestation attached;
rmds.montauban countersigns; ts.montauban sends. cft.montauban opens it from the inbox,
downloads the signed PDF, acknowledges and accepts, and records the entry date; ts.montauban
sees the signed receipt. dpo.departement finds the Département professionals' accesses in the
audit log for that person (France Travail's are its own DPO's), exports them as CSV and
verifies the chain.

Every main page is saved as a full-page screenshot under artefacts/screenshots/ and audited
with axe-core (no serious or critical violation). Any console error, uncaught exception,
failed request or HTTP error answer fails the journey.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from exchange.domain.clock import FixedClock
from exchange.fiches.pdf_signing import ValidationSummary, validate_fiche_pdf
from exchange.org.models import Institution
from tests.browser import pages
from tests.browser.pages import Desk, NewPerson
from tests.fiches.support import ALBASUD, FIELDS, FRANCE_TRAVAIL, services_of, small_pdf

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PERSON = NewPerson(last_name="Lefèvre", first_names="Élodie Marie",
                   birth_date=date(1988, 3, 14), ft_identifier="1234567A",
                   rsa_beneficiary=True)
SOCIAL_WORKER_UNIT = "MDS de Montauban"


def _reference(fiche_path: str) -> str:
    return fiche_path.rsplit("/", 1)[1][:8].upper()


def _check_signed_pdf(app: Flask, pdf: bytes) -> None:
    assert pdf.startswith(b"%PDF-"), pdf[:16]
    svc = services_of(app)

    def validate() -> ValidationSummary:
        with svc.db.unit_of_work() as s:
            sender = s.scalar(select(Institution).where(
                Institution.name == "Département de Tarn-et-Garonne"))
            assert sender is not None
            return validate_fiche_pdf(svc.keystore(s), pdf, expected_owner=sender.key_owner)

    # pyHanko runs its own asyncio loop; Playwright's sync API already has one in this thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        summary = pool.submit(validate).result(timeout=60)
    assert summary.valid, summary.problems
    assert len(summary.signatures) == 2  # the social worker's and the manager's


def _accesses(lines: list[dict[str, str]]) -> set[tuple[str, str, str]]:
    return {(line["Rôle"], line["Structure"], line["Action"]) for line in lines}


def test_orientation_journey_in_the_browser(
        app: Flask, clock: FixedClock, sign_in: Callable[..., Desk], tmp_path: Path,
        findings: dict[str, list[dict[str, object]]]) -> None:
    scan = tmp_path / "attestation-hebergement.pdf"
    scan.write_bytes(small_pdf())

    # -- the social worker: person, consent, orientation, signature ---------------------------
    worker = sign_in("ts.montauban", capture=True)
    worker.capture("03-accueil")
    pages.social_worker_creates_person(worker, PERSON)
    pages.social_worker_records_consent(worker, axis="2", recipient=FRANCE_TRAVAIL,
                                        collected_on=clock.today())
    fiche = pages.social_worker_fills_and_signs_orientation(
        worker, scan, recipient_unit=ALBASUD, fields=FIELDS)
    reference = _reference(fiche)

    # -- the manager countersigns, then the social worker sends --------------------------------
    manager = sign_in("rmds.montauban")
    pages.manager_countersigns(manager, reference)
    pages.social_worker_sends_fiche(worker, fiche, ALBASUD)

    # -- the advisor of the agency --------------------------------------------------------------
    advisor = sign_in("cft.montauban")
    advisor.capture("15-accueil-conseiller")
    pages.advisor_opens_inbox_fiche(advisor, reference)
    shown = advisor.page.locator("main").inner_text()
    assert "LEFÈVRE" in shown and "Élodie Marie" in shown and "14/03/1988" in shown
    assert "Dominique Responsable-MDS" in shown  # the countersignature, verified
    _check_signed_pdf(app, pages.advisor_downloads_pdf(advisor, tmp_path / "fiche.pdf"))
    pages.advisor_acknowledges_and_accepts(advisor)
    pages.advisor_records_entry_date(advisor, clock.today())

    # -- the social worker sees the signed receipt ----------------------------------------------
    receipt = pages.social_worker_sees_signed_receipt(worker, fiche)
    assert re.search(r"Accusé de réception signé par France Travail Occitanie "
                     r"\(Alex Conseiller-Global, Agence France Travail Montauban Albasud\) "
                     r"le 23/11/2026 à \d\d:\d\d — signature vérifiée", receipt), receipt

    # -- the DPO: the person's access history, its export, the chain -----------------------------
    dpo = sign_in("dpo.departement")
    lines = pages.dpo_searches_access_log(dpo, PERSON)
    ours = {("Travailleur social", SOCIAL_WORKER_UNIT, "Personne enregistrée"),
            ("Travailleur social", SOCIAL_WORKER_UNIT, "Fiche signée"),
            ("Responsable de structure", SOCIAL_WORKER_UNIT, "Fiche contresignée")}
    assert ours <= _accesses(lines), sorted(_accesses(lines))
    assert not {line for line in _accesses(lines) if line[1] == ALBASUD}  # a partner's
    page_text = dpo.page.locator("main").inner_text()
    for secret in ("Lefèvre", "LEFÈVRE", "Élodie", "logement et mobilité"):
        assert secret not in page_text  # metadata only

    exported = pages.dpo_exports_csv(dpo, tmp_path / "journal.csv")
    rows = list(csv.reader(io.StringIO(exported), delimiter=";"))
    header, body = rows[0], rows[1:]
    assert header[:5] == ["N°", "Date et heure (Paris)", "Rôle", "Structure", "Action"]
    assert ours <= _accesses([dict(zip(header, row, strict=True)) for row in body])
    # The same events as the page, plus the DPO's own search and export, audited before the
    # export is written.
    own = [row for row in body if row[2] == "Délégué à la protection des données"]
    assert [row[4] for row in own] == ["Journal d'audit exporté", "Journal d'audit consulté"]
    assert [row[0] for row in body if row not in own] == [line["N°"] for line in lines]
    assert "Lefèvre" not in exported

    verdict = pages.dpo_verifies_chain(dpo)
    assert verdict.startswith("Chaîne d'audit intègre"), verdict

    for desk in (worker, manager, advisor, dpo):
        desk.healthy()
    assert not findings, _describe(findings)


def test_administration_passes_the_audit(
        sign_in: Callable[..., Desk], findings: dict[str, list[dict[str, object]]]) -> None:
    admin = sign_in("admin")
    pages.admin_opens_administration(admin)
    admin.healthy()
    assert not findings, _describe(findings)


def _describe(found: dict[str, list[dict[str, object]]]) -> str:
    return "serious or critical axe violations:\n" + "\n".join(
        f"  {step}: {v['rule']} ({v['impact']}) {v['help']} at {v['targets']}"
        for step, violations in found.items() for v in violations)


def test_the_audit_reports_a_serious_violation(
        open_desk: Callable[[str], Desk],
        findings: dict[str, list[dict[str, object]]]) -> None:
    """The audit is live: a text field without a label, added to the sign-in page, is found."""
    desk = open_desk("visitor")
    desk.visit("/connexion/")
    desk.page.evaluate("""() => {
        const input = document.createElement('input');
        input.type = 'text';
        document.querySelector('main').append(input);
    }""")
    desk.capture("00-controle-de-l-audit")
    assert [v["rule"] for v in findings.pop("00-controle-de-l-audit", [])] == ["label"]
