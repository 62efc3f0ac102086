"""Liaison: the secure exchange of fiches de liaison between social services and France Travail.

`create_app` binds everything; nothing is created at import time.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING

from flask import Flask

from exchange.platform.settings import ROOT, Settings, SettingsError

if TYPE_CHECKING:
    from exchange.domain.clock import Clock
    from exchange.platform.services import Services

log = logging.getLogger("liaison")


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Flask:
    from exchange.domain.clock import SystemClock
    from exchange.platform.services import Services as _Services
    from exchange.web.shell import init_web

    from_cli = os.environ.get("FLASK_RUN_FROM_CLI") == "true"
    if settings is None:
        try:
            settings = Settings.from_env(require_master_file=not from_cli)
        except SettingsError as exc:
            print(str(exc), file=sys.stderr)
            raise
    for line in settings.announcements:
        print(line, file=sys.stderr)

    app = Flask(
        "exchange",
        root_path=str(ROOT / "exchange"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(settings.instance_path),
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the server-side session
        # Flask-WTF's HTTPS check demands a Referer, which privacy settings and extensions
        # strip: exchange/web/origin.py checks Origin and Sec-Fetch-Site against
        # LIAISON_BASE_URL instead, beside the token.
        WTF_CSRF_SSL_STRICT=False,
        MAX_CONTENT_LENGTH=settings.max_attachment_bytes * 3,
        TEMPLATES_AUTO_RELOAD=False,
    )
    from exchange.platform import logs

    if settings.log_format == "json":
        logs.configure()  # before the scheduler starts, so its lines are JSON too
    services = _Services.build(settings, clock or SystemClock())
    app.extensions["liaison"] = services
    if settings.demo:
        services.open_master(create=True)
    if not from_cli:
        _check_keys_at_start(services)
        if settings.scheduler:
            from exchange.platform import scheduler

            app.extensions["liaison.scheduler"] = scheduler.start(services)
    logs.init_request_ids(app, log_requests=settings.log_format == "json")
    init_web(app, services)
    from exchange.platform import features

    for feature in features.features():
        for reference in feature.cli:
            app.cli.add_command(features.resolve(reference))
    return app


def _check_keys_at_start(services: Services) -> None:
    """A missing or wrong master key stops the app here, with the reason."""
    from sqlalchemy import inspect

    from keys.errors import KeysError

    try:
        services.master  # noqa: B018 - loads and checks the file
        if inspect(services.db.engine).has_table("platform_values"):
            with services.db.unit_of_work() as session:
                services.check_master(session)
    except KeysError as exc:
        services.db.dispose()
        print(f"Démarrage refusé : {exc}", file=sys.stderr)
        raise
