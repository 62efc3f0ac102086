"""French error pages with no trace, and the audit of refusals."""

from __future__ import annotations

import logging

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from exchange.web.helpers import record, unit_of_work

log = logging.getLogger("liaison.web")

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


def init_app(app: Flask) -> None:
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
