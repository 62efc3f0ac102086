"""The signed-in user's home: what each of their roles gives access to."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("home", __name__)


@bp.route("/")
def index() -> str:
    return render_template("home.html")
