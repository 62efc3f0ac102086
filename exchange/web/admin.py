"""Administration: institutions, units, conventions and their amendments, user accounts."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.route("/")
def index() -> str:
    return render_template("admin/index.html")
