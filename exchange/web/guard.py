"""Deny by default: an endpoint answers an anonymous user only if a feature lists it as public,
and a role blueprint answers only users holding that role."""

from __future__ import annotations

from flask import Flask, abort, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from exchange.platform import features

# Answered even when the database is down (the health checks report it themselves).
AVAILABLE_WITHOUT_DATABASE = frozenset({"static", "health.liveness", "health.readiness_view"})
# Signed-in users who must change their password may reach only these.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.logout", "static"})


def public_endpoints() -> frozenset[str]:
    """Reachable without being signed in; everything else needs a full sign-in (password
    + TOTP)."""
    return frozenset().union(*(f.public_endpoints for f in features.features()))


def blueprint_roles() -> dict[str, frozenset[str]]:
    return {name: roles for f in features.features() for name, roles in f.roles.items()}


def init_app(app: Flask) -> None:
    public = public_endpoints()
    reserved = blueprint_roles()

    @app.before_request
    def deny_by_default() -> Response | None:
        endpoint = request.endpoint
        if endpoint is None:  # no route matched: the 404 handler answers
            return None
        if getattr(session, "unavailable", False) and endpoint not in AVAILABLE_WITHOUT_DATABASE:
            abort(503)  # the session could not be read: the database is down
        if endpoint in public:
            return None
        if not current_user.is_authenticated:
            if request.method == "GET":
                session["next"] = request.path
            return redirect(url_for("auth.login"))
        if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            return redirect(url_for("auth.change_password"))
        required = reserved.get(request.blueprint or "")
        if required is not None and not current_user.has_role(*required):
            abort(403)
        return None
