"""Every blueprint of the portal, one per role plus sign-in and the home page."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from exchange.web import (
        accompaniments,
        admin,
        auth,
        fiches,
        health,
        home,
        persons,
        retention,
        rights,
        roles,
    )

    app.register_blueprint(health.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(home.bp)
    app.register_blueprint(admin.bp)
    app.register_blueprint(persons.bp)
    app.register_blueprint(fiches.bp)
    app.register_blueprint(accompaniments.bp)
    app.register_blueprint(retention.bp)
    app.register_blueprint(rights.bp)
    for blueprint in roles.blueprints():
        app.register_blueprint(blueprint)
