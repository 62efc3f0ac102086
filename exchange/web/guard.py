"""Deny by default: an endpoint answers an anonymous user only if it is on PUBLIC_ENDPOINTS,
and a role blueprint answers only users holding that role."""

from __future__ import annotations

from flask import Flask, abort, redirect, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

# Reachable without being signed in. Everything else needs a full sign-in (password + TOTP).
PUBLIC_ENDPOINTS = frozenset({
    "static",
    "auth.login",
    "auth.second_factor",
    "auth.enrol",
    "health.liveness",  # /sante and /pret: booleans only, for the proxy and monitoring
    "health.readiness_view",
})
# Answered even when the database is down (the health checks report it themselves).
AVAILABLE_WITHOUT_DATABASE = frozenset({"static", "health.liveness", "health.readiness_view"})
# Signed-in users who must change their password may reach only these.
PASSWORD_CHANGE_ENDPOINTS = frozenset({"auth.change_password", "auth.logout", "static"})

BLUEPRINT_ROLES: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin"}),
    "social": frozenset({"social_worker"}),
    "advisor": frozenset({"advisor"}),
    "manager": frozenset({"unit_manager"}),
    "coordinator": frozenset({"coordinator"}),
    "dpo": frozenset({"dpo"}),
    "rights": frozenset({"dpo"}),
    "persons": frozenset({"social_worker", "advisor", "unit_manager"}),
    "fiches": frozenset({"social_worker", "advisor", "unit_manager"}),
    "accompaniments": frozenset({"social_worker", "advisor", "unit_manager"}),
    "retention": frozenset({"social_worker", "advisor", "unit_manager", "dpo"}),
}


def init_app(app: Flask) -> None:
    @app.before_request
    def deny_by_default() -> Response | None:
        endpoint = request.endpoint
        if endpoint is None:  # no route matched: the 404 handler answers
            return None
        if getattr(session, "unavailable", False) and endpoint not in AVAILABLE_WITHOUT_DATABASE:
            abort(503)  # the session could not be read: the database is down
        if endpoint in PUBLIC_ENDPOINTS:
            return None
        if not current_user.is_authenticated:
            if request.method == "GET":
                session["next"] = request.path
            return redirect(url_for("auth.login"))
        if current_user.must_change_password and endpoint not in PASSWORD_CHANGE_ENDPOINTS:
            return redirect(url_for("auth.change_password"))
        required = BLUEPRINT_ROLES.get(request.blueprint or "")
        if required is not None and not current_user.has_role(*required):
            abort(403)
        return None
