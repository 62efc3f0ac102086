"""The web shell: sessions, sign-in, the deny-by-default guard, headers, errors, and the
blueprints every feature declares."""

from __future__ import annotations

from datetime import timedelta

from flask import Flask, Response, request
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from exchange.accounts.sessions import DatabaseSessionInterface
from exchange.platform import features
from exchange.platform.services import Services


def init_web(app: Flask, services: Services) -> None:
    from exchange.accounts.loading import load_user
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
    login.user_loader(load_user)
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
