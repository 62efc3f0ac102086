"""The portal deployed as DEPLOYMENT.md deploys it, for the production journey: PostgreSQL (the
cluster of scripts/with-postgres.sh, a database of its own), `flask db upgrade` and `flask keys
init` from the command line, gunicorn with the shipped gunicorn.conf.py on a unix socket, nginx
from Debian's package with deploy/nginx/liaison.conf and a certificate from a CA made for the
run, production settings from the environment, e-mail to a local SMTP server (aiosmtpd).

Chromium trusts that CA through an NSS database in a throwaway HOME: certificate errors are
not ignored, the browser checks the chain as it would in an office.

Only the accounts come from elsewhere: production has no demo seed command, and the portal has
no command that creates a first administrator. The demo's `seed` function, which does not need
demo mode, creates the institutions, units, conventions and accounts (with their second factor
enrolled, whose secrets the test therefore knows) directly in the production database.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, sync_playwright

from exchange.platform.settings import ROOT
from tests import databases
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS
from tests.production import stack
from tests.production.stack import Inbox, Service, StackError, Tls

ARTEFACTS = ROOT / "artefacts" / "production"
PRODUCTION_SHOTS = SCREENSHOTS / "production"
READY_TIMEOUT_S = 120  # two workers starting on a busy CI machine
VENV_BIN = Path(sys.executable).parent  # the virtualenv running the tests: flask, gunicorn


@dataclass
class Deployment:
    base_url: str
    http_url: str
    env: dict[str, str]
    tls: Tls
    home: Path
    inbox: Inbox
    services: list[Service]
    gunicorn_log: Path
    access_log: Path

    def flask(self, *args: str) -> str:
        """`flask --app wsgi ARGS` as the operator runs it, with the deployment's settings."""
        return stack.run([str(VENV_BIN / "flask"), "--app", "wsgi", *args],
                         env=self.env, what="flask " + " ".join(args))

    def healthy(self) -> None:
        dead = [service.describe() for service in self.services if not service.alive()]
        assert not dead, "\n\n".join(dead)


def _environment(folder: Path, database_url: str, base_url: str, smtp_port: int,
                 socket_path: Path) -> dict[str, str]:
    """The environment file of DEPLOYMENT.md, with this run's paths and ports."""
    keys = folder / "keys"
    keys.mkdir(mode=0o700)
    base = {name: value for name, value in os.environ.items()
            if not name.startswith(("LIAISON_", "GUNICORN_", "FLASK_"))}
    return {
        **base,
        "LIAISON_MODE": "production",
        "LIAISON_SECRET_KEY": secrets.token_urlsafe(48),
        "LIAISON_DATABASE_URL": database_url,
        "LIAISON_MASTER_KEY_FILE": str(keys / "master.key"),
        "LIAISON_EPOCH_KEY_DIR": str(keys / "epochs"),
        "LIAISON_BLOB_DIR": str(folder / "blobs"),
        "LIAISON_INSTANCE": str(folder / "instance"),
        "LIAISON_BASE_URL": base_url,
        "LIAISON_PROXY_COUNT": "1",
        "LIAISON_LOG_FORMAT": "json",
        "LIAISON_SMTP_HOST": "127.0.0.1",
        "LIAISON_SMTP_PORT": str(smtp_port),
        "LIAISON_MAIL_FROM": "liaison@departement.example",
        "GUNICORN_BIND": f"unix:{socket_path}",
        "GUNICORN_WORKERS": "2",  # two processes share the sessions through PostgreSQL
        "GUNICORN_THREADS": "4",
    }


def _seed(env: dict[str, str]) -> None:
    from exchange.demo.seed import seed
    from exchange.domain.clock import SystemClock
    from exchange.platform.services import Services
    from exchange.platform.settings import Settings

    svc = Services.build(Settings.from_env(env), SystemClock())
    try:
        seed(svc, only_if_empty=True)
    finally:
        svc.db.dispose()


def _start_nginx(prefix: Path, tls: Tls, socket_path: Path, https_port: int, http_port: int,
                 base_url: str, access_log: Path) -> Service:
    for sub in ("logs", "temp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    site = prefix / "liaison.conf"
    site.write_text(stack.render_site({
        "LIAISON_NGINX_SERVER_NAME": "127.0.0.1 localhost",
        "LIAISON_NGINX_BASE_URL": base_url,
        "LIAISON_NGINX_HTTPS_LISTEN": f"127.0.0.1:{https_port}",
        "LIAISON_NGINX_HTTP_LISTEN": f"127.0.0.1:{http_port}",
        "LIAISON_NGINX_CERTIFICATE": str(tls.certificate),
        "LIAISON_NGINX_CERTIFICATE_KEY": str(tls.key),
        "LIAISON_NGINX_UPSTREAM": f"unix:{socket_path}",
        "LIAISON_NGINX_MONITORING": "127.0.0.1",
        "LIAISON_NGINX_ACCESS_LOG": str(access_log),
    }))
    main = prefix / "nginx.conf"
    main.write_text(stack.nginx_main_conf(prefix, site))
    command = [str(stack.NGINX), "-p", str(prefix), "-c", str(main),
               "-e", str(prefix / "logs" / "error.log")]
    stack.run([*command, "-t"], env=dict(os.environ), what="nginx -t (deploy/nginx/liaison.conf)")
    # SIGQUIT: nginx finishes the requests under way, then stops.
    return stack.start("nginx", command, env=dict(os.environ), log=prefix / "logs" / "stderr.log",
                       stop_signal=signal.SIGQUIT)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    if not stack.NGINX.exists():
        pytest.fail("nginx is missing: scripts/system-packages.sh installs it (make unit, "
                    "make test-postgres).")
    for tool, package in ((stack.CERTUTIL, "libnss3-tools"), ("envsubst", "gettext-base")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is missing: scripts/system-packages.sh installs {package}.")
    folder = tmp_path_factory.mktemp("production")
    https_port, http_port, smtp_port = stack.free_port(), stack.free_port(), stack.free_port()
    base_url = f"https://127.0.0.1:{https_port}"
    socket_path = folder / "gunicorn.sock"
    name = f"liaison_prod_{secrets.token_hex(6)}"
    databases_made: list[str] = []
    services: list[Service] = []
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        tls = stack.make_tls(folder / "tls")
        home = folder / "home"
        stack.trust_in_nss(home, tls.ca)
        url = databases.create_database(name)
        databases_made.append(name)
        env = _environment(folder, url, base_url, smtp_port, socket_path)
        deployment = Deployment(base_url, f"http://127.0.0.1:{http_port}", env, tls, home, inbox,
                                services, folder / "gunicorn.log",
                                folder / "nginx" / "logs" / "liaison.log")
        # DEPLOYMENT.md, "First install": migrations, then the master key and platform keys.
        deployment.flask("db", "upgrade")
        deployment.flask("keys", "init")
        _seed(env)
        services.append(stack.start("gunicorn", [str(VENV_BIN / "gunicorn"), "-c",
                                                 "gunicorn.conf.py", "wsgi:app"],
                                    env=env, log=deployment.gunicorn_log))
        services.append(_start_nginx(folder / "nginx", tls, socket_path, https_port, http_port,
                                     base_url, deployment.access_log))
        context = stack.client_context(tls.ca)
        # /pret through nginx: TLS, the proxy, gunicorn, the database, the keys, the blobs.
        stack.wait_until(lambda: stack.https_request(base_url + "/pret", context)[0] == 200,
                         what="readiness of the deployment (GET /pret through nginx)",
                         timeout=READY_TIMEOUT_S, services=services)
        yield deployment
    except StackError as error:
        pytest.fail(str(error), pytrace=False)
    finally:
        for service in reversed(services):
            service.stop()
        smtp.stop()
        _keep_logs(folder)
        for made in databases_made:
            databases.drop(made)


def _keep_logs(folder: Path) -> None:
    """The logs of the run, for CI's artefacts (ids only, as the journey checks)."""
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for log in [folder / "gunicorn.log", *sorted((folder / "nginx" / "logs").glob("*.log"))]:
        if log.exists():
            shutil.copyfile(log, ARTEFACTS / log.name)


@pytest.fixture(scope="module")
def trusting_browser(deployment: Deployment) -> Iterator[Browser]:
    """Debian's Chromium with the throwaway HOME whose NSS database trusts the run's CA."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: scripts/system-packages.sh installs it.")
    PRODUCTION_SHOTS.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(deployment.home)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS, env=env)
        yield browser
        browser.close()
