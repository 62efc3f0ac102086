"""Liveness and readiness for the reverse proxy, the load balancer and monitoring.

`/sante` answers 200 "ok" as long as the process serves requests; it touches nothing else.
`/pret` answers 200 only when this instance can do its work: the database answers, its schema is
at the migrations' head, the master key is loaded, and the blob store accepts a write. The body
is booleans only: no version, no path, no error text, no personal data. Both are public
(PUBLIC_ENDPOINTS) and never open a session.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from exchange.platform.blobs import new_name
from exchange.platform.current import services
from exchange.platform.migrate import migration_heads
from exchange.platform.services import Services

bp = Blueprint("health", __name__)
log = logging.getLogger("liaison.health")


def readiness(svc: Services) -> dict[str, bool]:
    """Each check on its own: one failing does not hide the state of the others."""
    from alembic.runtime.migration import MigrationContext

    checks = {"database": False, "migrations": False, "master_key": False, "blob_store": False}
    try:
        with svc.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            checks["database"] = True
            current = MigrationContext.configure(connection).get_current_heads()
            checks["migrations"] = frozenset(current) == migration_heads()
            connection.rollback()
    except Exception as exc:  # any failure means "not ready"; the type alone is logged
        log.warning("readiness: database check failed (%s)", type(exc).__name__)
    try:
        svc.master  # noqa: B018 - loads and checks the file once
        checks["master_key"] = True
    except Exception as exc:
        log.warning("readiness: master key not loaded (%s)", type(exc).__name__)
    try:
        store, probe = svc.blobs, new_name()
        store.put(probe, b"liaison readiness probe")
        store.delete(probe)
        checks["blob_store"] = True
    except Exception as exc:
        log.warning("readiness: blob store not writable (%s)", type(exc).__name__)
    return checks


@bp.get("/sante")
def liveness() -> Response:
    response = Response("ok\n", mimetype="text/plain")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/pret")
def readiness_view() -> tuple[Response, int]:
    checks = readiness(services())
    ready = all(checks.values())
    response = jsonify({"ready": ready, **checks})
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ready else 503
