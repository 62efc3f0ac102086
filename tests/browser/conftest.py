"""The real app served on 127.0.0.1 and Debian's Chromium driven by Playwright.

The app is the one of tests/conftest.py (a copy of the migrated and seeded template instance,
`scheduler=False`, CSRF and every guard on), served by werkzeug in a thread on a free port. It
reads the test's FixedClock, which `sign_in` moves one TOTP step before each sign-in so that
every code is fresh. One Chromium per module (Playwright gives each launch a fresh, throwaway
profile), one browser context per person.

axe-core reaches the pages without loosening the CSP (`script-src 'self'`): each context
routes the same-origin URL `pages.AXE_PATH` to the file that npm installed under
tests/browser/node_modules, so the request never reaches the app and no test-only route or
`bypass_csp` is needed; the CSP stays in force for the whole journey.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Route, sync_playwright
from werkzeug.serving import make_server

from exchange.accounts import totp
from exchange.demo.seed import DEMO_PASSWORD
from exchange.domain.clock import FixedClock
from exchange.platform.settings import ROOT
from tests.browser.pages import AXE_PATH, Desk, SignInPage, Watch
from tests.conftest import totp_code

CHROMIUM = Path("/usr/bin/chromium")
AXE_JS = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = ROOT / "artefacts" / "screenshots"
# Without the background-networking flags Chromium keeps calling Google's services.
CHROMIUM_ARGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
STEP_TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: `make unit` installs it (scripts/system-packages.sh).")
    if not AXE_JS.exists():
        pytest.fail("axe-core is missing: `make browser-deps` installs it with npm ci.")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="liaison-live", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)
    server.server_close()


@pytest.fixture
def findings() -> dict[str, list[dict[str, object]]]:
    """Serious and critical axe violations, by step; the test asserts it is empty at the end."""
    return {}


@pytest.fixture
def open_desk(browser: Browser, live_server: str,
              findings: dict[str, list[dict[str, object]]]) -> Iterator[Callable[[str], Desk]]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    axe_source = AXE_JS.read_text(encoding="utf-8")
    desks: list[Desk] = []

    def serve_axe(route: Route) -> None:
        route.fulfill(status=200, content_type="text/javascript; charset=utf-8",
                      body=axe_source)

    def open_(who: str) -> Desk:
        context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris",
                                      accept_downloads=True,
                                      viewport={"width": 1280, "height": 900})
        context.set_default_timeout(STEP_TIMEOUT_MS)
        context.route(live_server + AXE_PATH, serve_axe)
        watch = Watch()
        watch.attach(context)
        desk = Desk(who, context, context.new_page(), live_server, watch, SCREENSHOTS, findings)
        desks.append(desk)
        return desk

    yield open_
    for desk in desks:
        desk.context.close()


@pytest.fixture
def sign_in(open_desk: Callable[[str], Desk],
            clock: FixedClock) -> Callable[..., Desk]:
    """A new browser for `username`, signed in with the password and a fresh TOTP code."""

    def sign_in_(username: str, *, capture: bool = False) -> Desk:
        desk = open_desk(username)
        clock.advance(timedelta(seconds=totp.STEP))
        SignInPage(desk).sign_in(username, DEMO_PASSWORD, lambda: totp_code(username, clock),
                                 capture=capture)
        return desk

    return sign_in_
