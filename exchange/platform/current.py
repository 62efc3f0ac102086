"""The services of the running app, for the web shell and the CLI (inside an app context)."""

from __future__ import annotations

from flask import current_app

from exchange.platform.services import Services


def services() -> Services:
    value = current_app.extensions["liaison"]
    assert isinstance(value, Services)
    return value
