"""French error pages with no trace, and the audit of refusals."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

from flask import Flask, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import and_, func, or_, select
from werkzeug.exceptions import HTTPException

from exchange.audit.models import AuditEvent
from exchange.platform.current import services
from exchange.policy import NotVisible
from exchange.web.helpers import reading, record, unit_of_work

log = logging.getLogger("liaison.web")

# An id the user may not see (NotVisible) is answered 404, like one that does not exist, and
# recorded as `access.refused` with the object's type and the requested id, so that probing
# other units' ids leaves a trace the DPO can search. A script probing thousands of ids must
# not bury the trail, though: per user, at most REFUSALS_PER_HOUR such events are recorded in
# any hour, then one `access.refusals_capped` says more followed; the rest of that hour is
# answered 404 without a record. Twenty is far above what stale links or a typo give a person
# in an hour, and enough for the DPO to see the pattern. (Concurrent requests of one user may
# overshoot by a few on PostgreSQL: the count is read before the event is written.)
REFUSALS_PER_HOUR = 20
REFUSAL_WINDOW = timedelta(hours=1)
_PUBLIC_ID = re.compile(r"\A[0-9a-f]{32}\Z")

MESSAGES = {
    400: ("Requête incorrecte", "La requête n'a pas pu être traitée. Revenez à la page "
                                "précédente et réessayez."),
    403: ("Accès refusé", "Vous n'avez pas accès à cette page. Le refus a été enregistré."),
    404: ("Page introuvable", "Cette page n'existe pas ou n'est plus disponible."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible sur cette page."),
    413: ("Fichier trop volumineux", "Le fichier envoyé dépasse la taille autorisée."),
    503: ("Service momentanément indisponible",
          "Le service ne peut pas répondre pour le moment. Rien n'a été enregistré. "
          "Réessayez dans quelques minutes."),
    500: ("Erreur du service", "Une erreur est survenue. Elle a été signalée ; "
                               "vos données n'ont pas été modifiées. Réessayez plus tard."),
}


def _page(code: int, message: str | None = None) -> tuple[str, int]:
    title, text = MESSAGES.get(code, MESSAGES[400])
    return render_template("error.html", code=code, title=title, text=message or text), code


def _audit_refusal(action: str) -> None:
    try:
        with unit_of_work() as session:
            record(session, action, object_type="endpoint",
                   object_id=(request.endpoint or "unknown")[:64], outcome="refused")
    except Exception:  # the refusal stands even if it cannot be recorded; say so in the log
        log.exception("could not record a refusal in the audit trail")


def _audit_not_visible(exc: NotVisible) -> None:
    # A NotVisible without an object type is no one's object (a notice version that does not
    # exist): a plain 404. The guard lets no anonymous user reach a lookup.
    if exc.object_type is None or not current_user.is_authenticated:
        return
    user = current_user.public_id
    now = services().clock.now()
    try:
        with reading() as session:
            recorded = session.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.actor_user_id == user, AuditEvent.at > now - REFUSAL_WINDOW,
                or_(and_(AuditEvent.action == "access.refused",
                         AuditEvent.object_type != "endpoint"),
                    AuditEvent.action == "access.refusals_capped"))) or 0
        if recorded > REFUSALS_PER_HOUR:
            return
        with unit_of_work() as session:
            if recorded == REFUSALS_PER_HOUR:
                record(session, "access.refusals_capped", object_type="user", object_id=user,
                       outcome="refused")
                log.warning("refusals of unseen objects capped for user %s for the hour", user)
                return
            requested = exc.requested if isinstance(exc.requested, str) else ""
            record(session, "access.refused", object_type=exc.object_type,
                   object_id=requested if _PUBLIC_ID.match(requested) else None,
                   outcome="refused")
    except Exception:  # the 404 stands even if it cannot be recorded; say so in the log
        log.exception("could not record a refusal in the audit trail")


def init_app(app: Flask) -> None:
    @app.errorhandler(NotVisible)
    def not_visible(exc: NotVisible) -> tuple[str, int]:
        """Raised by a lookup of `exchange.policy` and left to leave the view: the view's
        transaction has ended, the refusal is recorded in one of its own."""
        _audit_not_visible(exc)
        return _page(404)

    @app.errorhandler(CSRFError)
    def csrf_refused(_: CSRFError) -> tuple[str, int]:
        _audit_refusal("csrf.refused")
        return _page(400, "Le formulaire a expiré ou ne provient pas de ce site. Rechargez la "
                          "page et recommencez ; rien n'a été enregistré.")

    @app.errorhandler(403)
    def forbidden(_: HTTPException) -> tuple[str, int]:
        _audit_refusal("access.refused")
        return _page(403)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        return _page(exc.code or 500)

    @app.errorhandler(Exception)
    def crash(exc: Exception) -> tuple[str, int]:
        log.error("unhandled error on %s: %s", request.endpoint, type(exc).__name__)
        return _page(500)
