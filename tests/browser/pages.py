"""Page objects for the browser journeys, named after what the person does.

A `Desk` is one person's browser (a Playwright context and its page). Each step navigates as a
user would (links and buttons found by their visible text or label), then `Desk.capture` takes
a full-page screenshot named after the step and runs the axe-core audit on the page. The
watchers that fail the journey on a console error or a failed request live on the context
(`Watch`), so that every page and every request of that person is covered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import (
    BrowserContext,
    ConsoleMessage,
    Locator,
    Page,
    Request,
    Response,
    expect,
)

# Served to the browser by a Playwright route (see conftest.open_desk), never by the app.
AXE_PATH = "/__tests__/axe.min.js"
SERIOUS = {"serious", "critical"}


@dataclass
class Watch:
    """What went wrong in one person's browser: console errors, uncaught exceptions, failed
    requests and HTTP answers >= 400 that the step did not announce."""

    problems: list[str] = field(default_factory=list)
    expected: set[tuple[str, int]] = field(default_factory=set)
    # A form whose answer is an attachment: Chromium turns the navigation into a download and
    # reports the navigation request as aborted. Only these paths may end that way.
    downloads: set[str] = field(default_factory=set)

    def attach(self, context: BrowserContext) -> None:
        context.on("console", self._console)
        context.on("weberror", lambda error: self.problems.append(f"exception: {error.error}"))
        context.on("requestfailed", self._failed)
        context.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {message.page and message.page.url}: "
                                 f"{message.text}")

    def _failed(self, request: Request) -> None:
        if (request.failure == "net::ERR_ABORTED"
                and urlsplit(request.url).path in self.downloads):
            return
        self.problems.append(f"request failed: {request.method} {request.url}: {request.failure}")

    def _response(self, response: Response) -> None:
        path = urlsplit(response.url).path
        if response.status >= 400 and (path, response.status) not in self.expected:
            self.problems.append(f"HTTP {response.status}: {response.request.method} "
                                 f"{response.url}")


@dataclass
class Desk:
    """One person's browser tab, with the screenshot and accessibility checks of its steps."""

    who: str
    context: BrowserContext
    page: Page
    base_url: str
    watch: Watch
    shots: Path
    findings: dict[str, list[dict[str, object]]]

    def visit(self, path: str) -> None:
        self.page.goto(self.base_url + path)

    @property
    def path(self) -> str:
        return urlsplit(self.page.url).path

    def flash(self) -> str:
        """The text of the flashed messages on the current page."""
        return " ".join(self.page.locator(".messages .msg").all_inner_texts())

    def healthy(self) -> None:
        assert not self.watch.problems, f"{self.who}: " + "\n".join(self.watch.problems)

    def capture(self, step: str) -> None:
        """The screenshot of the step and the axe audit of the page as it stands."""
        self.page.wait_for_load_state("load")
        self.page.screenshot(path=self.shots / f"{step}.png", full_page=True)
        self.page.add_script_tag(url=self.base_url + AXE_PATH)
        result = self.page.evaluate(
            "async () => await axe.run(document, {resultTypes: ['violations']})")
        violations = result["violations"]
        report = self.shots.parent / "axe" / f"{step}.json"
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(violations, ensure_ascii=False, indent=1))
        serious = [
            {"rule": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]][:5]}
            for v in violations if v["impact"] in SERIOUS]
        if serious:
            self.findings[step] = serious
        self.healthy()


class SignInPage:
    """/connexion/: the password, then the second factor."""

    def __init__(self, desk: Desk) -> None:
        self.desk = desk

    def sign_in(self, username: str, password: str, code: Callable[[], str], *,
                capture: bool = False) -> None:
        """`code` is called once the password is accepted, so that the caller's clock decides
        which TOTP step it is. With `capture`, the two sign-in pages are captured."""
        desk, page = self.desk, self.desk.page
        desk.visit("/connexion/")
        if capture:
            desk.capture("01-connexion")
        page.get_by_label("Identifiant", exact=True).fill(username)
        page.get_by_label("Mot de passe", exact=True).fill(password)
        page.get_by_role("button", name="Continuer").click()
        expect(page.get_by_role("heading", name="Second facteur")).to_be_visible()
        if capture:
            desk.capture("02-second-facteur")
        page.get_by_label("Code à 6 chiffres ou code de secours").fill(code())
        page.get_by_role("button", name="Se connecter").click()
        expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
        assert desk.path == "/", desk.page.url


@dataclass(frozen=True)
class NewPerson:
    last_name: str
    first_names: str
    birth_date: date
    ft_identifier: str
    rsa_beneficiary: bool


def _choose(select: Locator, text: str) -> None:
    """Selects the one option whose label contains `text` (labels carry extra details)."""
    option = select.locator("option", has_text=text)
    expect(option).to_have_count(1)
    select.select_option(option.get_attribute("value"))


# -- the social worker -------------------------------------------------------------------------


def social_worker_creates_person(desk: Desk, person: NewPerson) -> str:
    """Searches first (the person is not followed yet), then records them. Returns the path of
    the person's page."""
    page = desk.page
    page.get_by_role("link", name="Espace travailleur social").click()
    page.get_by_role("link", name="recherchez-la ou créez sa fiche personne").click()
    page.get_by_label("Nom d'usage ou nom de naissance").fill(person.last_name)
    page.get_by_label("Date de naissance").fill(person.birth_date.isoformat())
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_text("Aucune personne suivie par votre structure")).to_be_visible()
    desk.capture("05-recherche-personne")
    page.get_by_role("link", name="Enregistrer une nouvelle personne").click()
    page.get_by_label("Nom d'usage (obligatoire)").fill(person.last_name)
    page.get_by_label("Prénom(s) (obligatoire)").fill(person.first_names)
    page.get_by_label("Date de naissance (obligatoire)").fill(person.birth_date.isoformat())
    page.get_by_label("Identifiant France Travail").fill(person.ft_identifier)
    page.get_by_label("Bénéficiaire du RSA").set_checked(person.rsa_beneficiary)
    desk.capture("06-nouvelle-personne")
    page.get_by_role("button", name="Enregistrer la personne").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(person.first_names)
    assert re.fullmatch(r"/personnes/[0-9a-f]{32}", desk.path), desk.path
    return desk.path


def social_worker_records_consent(desk: Desk, *, axis: str, recipient: str,
                                  collected_on: date) -> None:
    """In person, with the professional's attestation (no paper form)."""
    page = desk.page
    page.get_by_role("link", name="Recueillir un consentement").click()
    page.get_by_label("Accompagnement auquel la personne consent").select_option(axis)
    _choose(page.get_by_label("Établissement destinataire"), recipient)
    page.get_by_label("Version de la notice d'information remise").select_option("1")
    page.get_by_label("Accord donné en présence du professionnel").check()
    page.get_by_label("J'atteste avoir recueilli moi-même le consentement").check()
    page.get_by_label("Date de recueil").fill(collected_on.isoformat())
    desk.capture("07-consentement")
    page.get_by_role("button", name="Enregistrer le consentement").click()
    consents = page.get_by_role("table", name="Consentements de la personne")
    expect(consents).to_contain_text(recipient)
    expect(consents).to_contain_text("Valide")
    desk.capture("08-personne")


def social_worker_fills_and_signs_orientation(desk: Desk, attachment_path: Path, *,
                                              recipient_unit: str,
                                              fields: dict[str, object]) -> str:
    """From the person's page: a new axe 2 orientation, the attachment, the form, the
    signature. Returns the path of the fiche's page."""
    page = desk.page
    page.get_by_role("link", name="Nouvelle fiche de liaison").click()
    page.get_by_label("Type de fiche").select_option("orientation_axe2")
    _choose(page.get_by_label("Structure destinataire"), recipient_unit)
    desk.capture("09-nouvelle-fiche")
    page.get_by_role("button", name="Créer le brouillon").click()
    assert desk.path.endswith("/brouillon"), desk.path

    # The attachment first: its form is separate and reloads the draft.
    page.get_by_label("Joindre un fichier").set_input_files(attachment_path)
    page.get_by_role("button", name="Ajouter la pièce jointe").click()
    expect(page.get_by_role("table", name=re.compile("Pièces jointes du brouillon"))
           ).to_contain_text(attachment_path.name)

    page.locator("#champ-diagnostic_date").fill(str(fields["diagnostic_date"]))
    for barrier in fields["barriers"]:  # type: ignore[attr-defined]
        page.locator(f"#champ-barriers-{barrier}").check()
    for name in ("professional_barriers", "motive", "expectations"):
        page.locator(f"#champ-{name}").fill(str(fields[name]))
    desk.capture("10-brouillon")
    page.get_by_role("button", name="Signer", exact=True).click()
    expect(page.locator("dl.facts").first).to_contain_text("Signée")
    assert re.fullmatch(r"/fiches/[0-9a-f]{32}", desk.path), desk.path
    desk.capture("11-fiche-signee")
    return desk.path


def social_worker_sends_fiche(desk: Desk, fiche_path: str, recipient_unit: str) -> None:
    page = desk.page
    desk.visit(fiche_path)
    page.get_by_role("button", name=f"Envoyer à {recipient_unit}").click()
    assert "La fiche est envoyée" in desk.flash(), desk.flash()
    desk.capture("14-fiche-envoyee")


def social_worker_sees_signed_receipt(desk: Desk, fiche_path: str) -> str:
    """The text of the receipt line on the sender's view of the fiche."""
    desk.visit(fiche_path)
    receipt = desk.page.get_by_text("Accusé de réception signé par")
    expect(receipt).to_be_visible()
    desk.capture("22-accuse-de-reception")
    return receipt.inner_text()


# -- the unit manager --------------------------------------------------------------------------


def manager_countersigns(desk: Desk, reference: str) -> None:
    page = desk.page
    page.get_by_role("link", name="Espace responsable de structure").click()
    page.get_by_role("link", name="Fiches envoyées et brouillons").first.click()
    page.get_by_role("link", name=reference, exact=True).click()
    desk.capture("12-contreseing")
    page.get_by_role("button", name=re.compile("^Contresigner")).click()
    expect(page.locator("dl.facts").first).to_contain_text("Contresignée le")
    desk.capture("13-fiche-contresignee")


# -- the advisor -------------------------------------------------------------------------------


def advisor_opens_inbox_fiche(desk: Desk, reference: str) -> None:
    page = desk.page
    page.get_by_role("link", name="Espace conseiller").click()
    page.get_by_role("link", name="Fiches reçues").first.click()
    inbox = page.get_by_role("table", name=re.compile("^Fiches reçues par"))
    expect(inbox).to_contain_text(reference)
    desk.capture("16-fiches-recues")
    inbox.get_by_role("link", name=reference, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    desk.capture("17-fiche-ouverte")


def advisor_downloads_pdf(desk: Desk, target: Path) -> bytes:
    page = desk.page
    with page.expect_download() as info:
        page.get_by_role("link", name="Télécharger le PDF signé").click()
    download = info.value
    assert download.failure() is None, download.failure()
    download.save_as(target)
    return target.read_bytes()


def advisor_acknowledges_and_accepts(desk: Desk) -> None:
    page = desk.page
    page.get_by_role("button", name="Accuser réception").click()
    assert "Réception accusée" in desk.flash(), desk.flash()
    desk.capture("18-reception-accusee")
    page.get_by_role("button", name="Accepter l'orientation").click()
    assert "L'orientation est acceptée" in desk.flash(), desk.flash()
    desk.capture("19-orientation-acceptee")


def advisor_records_entry_date(desk: Desk, entry: date) -> None:
    page = desk.page
    page.get_by_role("link", name="Voir l'accompagnement").click()
    desk.capture("20-accompagnement")
    page.get_by_label("Date d'entrée").fill(entry.isoformat())
    page.get_by_role("button", name="Enregistrer la date d'entrée").click()
    assert "La date d'entrée" in desk.flash(), desk.flash()
    page.get_by_role("navigation", name="Navigation principale").get_by_role(
        "link", name="Accompagnements", exact=True).click()
    expect(page.get_by_text("personne accompagnée")).to_contain_text("1")
    desk.capture("21-accompagnements")


# -- the DPO -----------------------------------------------------------------------------------


def dpo_searches_access_log(desk: Desk, person: NewPerson) -> list[dict[str, str]]:
    """The lines of the access log shown for that person (metadata only)."""
    page = desk.page
    page.get_by_role("link", name="Espace DPO").first.click()
    desk.capture("23-espace-dpo")
    page.get_by_role("link", name="Rechercher dans le journal des accès").click()
    page.get_by_label("Nom de famille ou nom de naissance").fill(person.last_name)
    page.get_by_label("Date de naissance").fill(person.birth_date.isoformat())
    page.get_by_role("button", name="Rechercher").click()
    table = page.get_by_role("table", name=re.compile("^Événements"))
    expect(table).to_be_visible()
    desk.capture("24-journal-des-acces")
    headers = table.locator("thead th").all_inner_texts()
    return [dict(zip(headers, row.locator("td").all_inner_texts(), strict=True))
            for row in table.locator("tbody tr").all()]


def dpo_exports_csv(desk: Desk, target: Path) -> str:
    page = desk.page
    desk.watch.downloads.add("/dpo/journal/export")
    with page.expect_download() as info:
        page.get_by_role("button", name="Exporter tous les résultats (CSV)").click()
    download = info.value
    assert download.failure() is None, download.failure()
    assert download.suggested_filename.startswith("journal-audit-")
    download.save_as(target)
    return target.read_text(encoding="utf-8-sig")


def dpo_verifies_chain(desk: Desk) -> str:
    page = desk.page
    page.get_by_role("link", name="Espace DPO").first.click()
    page.get_by_role("button", name="Vérifier la chaîne maintenant").click()
    desk.capture("25-chaine-verifiee")
    return desk.flash()


# -- the administrator -------------------------------------------------------------------------


def admin_opens_administration(desk: Desk) -> None:
    desk.page.get_by_role("link", name="Administration").first.click()
    expect(desk.page.get_by_role("heading", level=1)).to_be_visible()
    desk.capture("26-administration")
