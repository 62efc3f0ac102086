"""Structured logs: one JSON object per line on standard output, for journald or a collector.

Each line carries time, level, logger, message and, inside a request, the request id, the
endpoint, and for the request's own line its method, URL rule, status and duration. What is
never logged: form data, query strings, raw paths, cookies, headers other than the request id,
and exception messages (a database error's text may quote the values it was given): an
exception is logged by its type and the frames of its traceback only. The portal's own log
calls name objects by opaque ids only (DESIGN.md); the URL *rule* (`/fiches/<fiche_id>`) is
logged rather than the path, so not even a mistyped URL reaches the log.

`LIAISON_LOG_FORMAT=json` (the production default) turns this on in `create_app`; the demo
keeps Python's plain format. Every response carries `X-Request-Id`: the proxy's if it sent a
well-formed one (nginx: `proxy_set_header X-Request-Id $request_id;`), else a fresh one.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
import traceback
from datetime import UTC, datetime
from typing import Any, TextIO

from flask import Flask, g, has_request_context, request
from werkzeug.wrappers import Response

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._-]{7,127}\Z")
_MARK = "_liaison_json_handler"
request_log = logging.getLogger("liaison.request")


def valid_request_id(value: str | None) -> bool:
    return bool(value) and bool(_REQUEST_ID.match(value or ""))


def current_request_id() -> str | None:
    if not has_request_context():
        return None
    value = g.get("request_id")
    return value if isinstance(value, str) else None


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line. Usable from gunicorn's `logconfig_dict` too."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = current_request_id()
            entry["endpoint"] = request.endpoint
        for key in ("method", "rule", "status", "duration_ms"):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"] = record.exc_info[0].__name__
            entry["stack"] = [f"{frame.filename}:{frame.lineno} in {frame.name}"
                              for frame in traceback.extract_tb(record.exc_info[2])]
        return json.dumps(entry, ensure_ascii=False, default=str)


class StdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stdout` is at the time of the call, so a replaced stdout
    (gunicorn's worker, a test's capture) receives the lines."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def configure(level: int = logging.INFO) -> None:
    """Route every logger through one JSON handler on stdout. Idempotent: creating several
    apps in one process (tests) leaves exactly one such handler."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _MARK, False)]:
        root.removeHandler(handler)
    handler = StdoutHandler()
    handler.setFormatter(JsonFormatter())
    setattr(handler, _MARK, True)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("liaison", "exchange", "retention", "keys", "apscheduler"):
        logging.getLogger(name).setLevel(level)
    # Werkzeug's own request line carries the raw path and query string: the app logs its own.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # /pret reads the revision often


def init_request_ids(app: Flask, *, log_requests: bool) -> None:
    """A request id for every request (the proxy's, if well formed), echoed in the response;
    with `log_requests`, one line per request: method, URL rule, status, duration."""

    @app.before_request
    def assign_request_id() -> None:
        offered = request.headers.get(REQUEST_ID_HEADER)
        g.request_id = offered if valid_request_id(offered) else secrets.token_hex(16)
        g.request_started = time.perf_counter()

    @app.after_request
    def echo_request_id(response: Response) -> Response:
        request_id = current_request_id()
        if request_id is not None:
            response.headers[REQUEST_ID_HEADER] = request_id
        if log_requests:
            started = g.get("request_started")
            duration = None if started is None else round(
                (time.perf_counter() - started) * 1000, 1)
            rule = request.url_rule.rule if request.url_rule is not None else None
            request_log.info("request", extra={"method": request.method, "rule": rule,
                                               "status": response.status_code,
                                               "duration_ms": duration})
        return response
