"""The production journey: the portal as DEPLOYMENT.md deploys it (conftest.py), through HTTPS,
in Debian's Chromium, which checks the certificate chain against the run's CA.

ts.montauban signs in (password, then TOTP), records a person and her consent, writes and signs
an axe 2 orientation with a PDF attached; rmds.montauban countersigns; ts.montauban sends it.
The e-mail to the Albasud agency goes out through real SMTP (`flask notify send`) with a link
to LIAISON_BASE_URL; cft.montauban follows it, signs in, opens the fiche, acknowledges and
accepts it. dpo.departement searches the access log for the person. Every form of the journey
is a POST that the production CSRF defence (token + Origin) must accept.

Then, on the same deployment: nothing personal in the logs of gunicorn and nginx; plain HTTP
redirects to the base URL; nginx refuses a flood of sign-in attempts with a French message.
Screenshots: artefacts/screenshots/production/; logs: artefacts/production/.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from email.message import Message
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from exchange.accounts import totp
from exchange.demo.seed import DEMO_PASSWORD, demo_totp_secret
from exchange.domain.clock import SystemClock
from tests import databases
from tests.browser import pages
from tests.browser.conftest import STEP_TIMEOUT_MS
from tests.browser.pages import Desk, NewPerson, SignInPage, Watch
from tests.fiches.support import ALBASUD, FIELDS, FRANCE_TRAVAIL, small_pdf
from tests.production import stack
from tests.production.conftest import PRODUCTION_SHOTS, Deployment

pytestmark = [
    pytest.mark.slow,
    pytest.mark.production,
    pytest.mark.browser,
    pytest.mark.skipif(not databases.on_postgres(),
                       reason="the production journey runs on PostgreSQL (make test-postgres)"),
]

PERSON = NewPerson(last_name="Garnier", first_names="Océane Louise",
                   birth_date=date(1991, 7, 2), ft_identifier="7654321B",
                   rsa_beneficiary=False)
PERSONAL = ("Garnier", "GARNIER", "Océane", "1991-07-02", "02/07/1991", "7654321B")


class ProductionDesk(Desk):
    """Screenshots without the accessibility audit: the pages are the demo journey's, which
    audits them; this journey proves the deployment, and keeps to its time budget."""

    def capture(self, step: str) -> None:
        self.page.wait_for_load_state("load")
        self.page.screenshot(path=self.shots / f"{step}.png", full_page=True)
        self.healthy()


def _code(username: str) -> Callable[[], str]:
    return lambda: totp.code_at(demo_totp_secret(username), datetime.now(UTC))


@pytest.fixture
def open_desk(trusting_browser: Browser,
              deployment: Deployment) -> Iterator[Callable[[str], ProductionDesk]]:
    desks: list[ProductionDesk] = []

    def open_(who: str) -> ProductionDesk:
        # No ignore_https_errors: the chain is checked against the NSS database's anchor.
        context = trusting_browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                               accept_downloads=True,
                                               viewport={"width": 1280, "height": 900})
        context.set_default_timeout(2 * STEP_TIMEOUT_MS)  # production argon2, real PostgreSQL
        watch = Watch()
        watch.attach(context)
        desk = ProductionDesk(who, context, context.new_page(), deployment.base_url, watch,
                              PRODUCTION_SHOTS, {})
        desks.append(desk)
        return desk

    yield open_
    for desk in desks:
        desk.context.close()


@pytest.fixture
def sign_in(open_desk: Callable[[str], ProductionDesk]) -> Callable[..., ProductionDesk]:
    def sign_in_(username: str, *, capture: bool = False) -> ProductionDesk:
        desk = open_desk(username)
        SignInPage(desk).sign_in(username, DEMO_PASSWORD, _code(username), capture=capture)
        return desk

    return sign_in_


def _advisor_follows_the_e_mail_link(desk: Desk, link: str) -> None:
    """The link asks for a sign-in first; signed in, it opens the fiche."""
    page = desk.page
    page.goto(link)
    expect(page.get_by_role("heading", name="Connexion")).to_be_visible()
    page.get_by_label("Identifiant", exact=True).fill(desk.who)
    page.get_by_label("Mot de passe", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    expect(page.get_by_role("heading", name="Second facteur")).to_be_visible()
    page.get_by_label("Code à 6 chiffres ou code de secours").fill(_code(desk.who)())
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    if page.url != link:
        page.goto(link)
    expect(page.get_by_role("button", name="Accuser réception")).to_be_visible()
    desk.capture("17-fiche-ouverte-depuis-le-courriel")


def _fiche_link(deployment: Deployment, fiche_path: str) -> str:
    """The link of the e-mail announcing the fiche to the advisor, checked for its content."""
    deployment.flask("notify", "send")

    def to_advisor() -> list[Message]:
        return [message for message in deployment.inbox.messages
                if "cft.montauban@" in str(message["To"])]

    # A worker's scheduler may have claimed the message first: it is then on its way.
    stack.wait_until(lambda: bool(to_advisor()), what="the e-mail to the advisor", timeout=15,
                     services=deployment.services)
    assert len(to_advisor()) == 1, [str(message["To"]) for message in deployment.inbox.messages]
    message = to_advisor()[0]
    body = message.get_payload(decode=True).decode("utf-8")
    links = re.findall(r"https://\S+", body)
    assert links == [deployment.base_url + fiche_path], body
    for secret in PERSONAL:
        assert secret not in body and secret not in str(message["Subject"])
    return links[0]


def test_production_journey_over_tls(deployment: Deployment,
                                     sign_in: Callable[..., ProductionDesk],
                                     open_desk: Callable[[str], ProductionDesk],
                                     tmp_path: Path) -> None:
    today = SystemClock().today()  # the app's day (Europe/Paris)
    scan = tmp_path / "attestation-domicile.pdf"
    scan.write_bytes(small_pdf("Attestation de domicile"))

    # -- the social worker: sign-in, person, consent, orientation with its attachment ---------
    worker = sign_in("ts.montauban", capture=True)
    worker.capture("03-accueil")
    pages.social_worker_creates_person(worker, PERSON)
    pages.social_worker_records_consent(worker, axis="2", recipient=FRANCE_TRAVAIL,
                                        collected_on=today)
    fiche = pages.social_worker_fills_and_signs_orientation(
        worker, scan, recipient_unit=ALBASUD,
        fields={**FIELDS, "diagnostic_date": today.isoformat()})
    reference = fiche.rsplit("/", 1)[1][:8].upper()

    # -- the manager countersigns (the convention asks for it); the social worker sends ---------
    manager = sign_in("rmds.montauban")
    pages.manager_countersigns(manager, reference)
    pages.social_worker_sends_fiche(worker, fiche, ALBASUD)

    # -- the advisor: the e-mail, its link, the fiche, acknowledgement and acceptance -----------
    link = _fiche_link(deployment, fiche)
    advisor = open_desk("cft.montauban")
    _advisor_follows_the_e_mail_link(advisor, link)
    shown = advisor.page.locator("main").inner_text()
    assert "GARNIER" in shown and "Océane Louise" in shown, shown[:500]
    pages.advisor_acknowledges_and_accepts(advisor)

    # -- the DPO searches the access log for the person -----------------------------------------
    dpo = sign_in("dpo.departement")
    lines = pages.dpo_searches_access_log(dpo, PERSON)
    actions = {(line["Rôle"], line["Action"]) for line in lines}
    assert ("Travailleur social", "Personne enregistrée") in actions, sorted(actions)
    assert ("Travailleur social", "Fiche signée") in actions, sorted(actions)
    page_text = dpo.page.locator("main").inner_text()
    assert "Garnier" not in page_text and "Océane" not in page_text  # metadata only

    for desk in (worker, manager, advisor, dpo):
        desk.healthy()
    deployment.healthy()

    # -- what the deployment wrote: ids, never the person ---------------------------------------
    logs = deployment.gunicorn_log.read_text(encoding="utf-8", errors="replace")
    access = deployment.access_log.read_text(encoding="utf-8", errors="replace")
    for secret in PERSONAL:
        assert secret not in logs, f"{secret!r} in the gunicorn log"
        assert secret not in access, f"{secret!r} in nginx's access log"
    assert '"POST /connexion/second-facteur" 302' in access, access[-2000:]
    assert '"status": 500' not in logs and "Traceback" not in logs, logs[-3000:]

    # -- the operator's view: the key file as `keys init` left it, the audit chain intact ------
    master = Path(deployment.env["LIAISON_MASTER_KEY_FILE"])
    assert stat.S_IMODE(master.stat().st_mode) == 0o600
    deployment.flask("audit", "verify")  # exit 0: two workers' events form one valid chain


def test_plain_http_redirects_to_the_base_url(deployment: Deployment) -> None:
    parts = urlsplit(deployment.http_url)
    connection = HTTPConnection(parts.hostname or "", parts.port, timeout=5)
    try:
        connection.request("GET", "/connexion/")
        response = connection.getresponse()
        assert response.status == 301
        assert response.getheader("Location") == deployment.base_url + "/connexion/"
    finally:
        connection.close()


def test_a_flood_of_sign_in_attempts_is_cut_short_by_nginx(deployment: Deployment) -> None:
    """Last of the module: it uses up the sign-in allowance of 127.0.0.1."""
    context = stack.client_context(deployment.tls.ca)
    answers = [stack.https_request(deployment.base_url + "/connexion/", context, method="POST",
                                   data=b"username=x&password=y") for _ in range(40)]
    statuses = [status for status, _ in answers]
    assert statuses[0] == 400, statuses  # the app's answer: no CSRF token
    assert statuses[-1] == 429, statuses
    assert "Trop de tentatives de connexion" in answers[-1][1]
    deployment.healthy()
