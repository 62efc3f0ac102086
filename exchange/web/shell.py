"""The web shell: sessions, sign-in, the deny-by-default guard, headers, errors, and the
blueprints every feature declares."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask, Response, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from exchange.acting import Agent, load_agent
from exchange.platform import features
from exchange.platform.services import Services
from exchange.web.sessions import DatabaseSessionInterface


def _agent_loader(services: Services) -> Callable[[str], Agent | None]:
    """Flask-Login's `current_user` is the `Agent` itself: one reading, one joined query."""

    def load(user_id: str) -> Agent | None:
        try:
            key = int(user_id)
        except ValueError:
            return None
        with services.db.reading() as session:
            return load_agent(session, key)

    return load


def init_web(app: Flask, services: Services) -> None:
    from exchange.web import converters, errors, guard, headers, helpers, origin

    settings = services.settings
    if settings.proxy_count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=settings.proxy_count, x_proto=settings.proxy_count
        )
    app.session_interface = DatabaseSessionInterface(
        services.db,
        services.clock.now,
        idle=timedelta(minutes=settings.session_idle_minutes),
        lifetime=timedelta(hours=settings.session_lifetime_hours),
        secure=settings.secure_cookies,
    )
    login = LoginManager()
    login.session_protection = None  # sessions are server-side and rotated at sign-in
    login.login_view = "auth.login"
    login.login_message = "Connectez-vous pour accéder à cette page."
    login.user_loader(_agent_loader(services))
    login.init_app(app)
    CSRFProtect(app)
    origin.init_app(app, settings)  # the token's companion: Origin / Sec-Fetch-Site
    converters.init_app(app)  # before the rules that use them
    for feature in features.features():
        for reference in feature.blueprints:
            app.register_blueprint(features.resolve(reference))
    guard.init_app(app)
    errors.init_app(app)
    helpers.init_app(app)

    @app.after_request
    def security_headers(response: Response) -> Response:
        return headers.apply(response, hsts=not settings.demo,
                             static=request.endpoint == "static")
