"""Rectification of fiches: the versions a rectification replaced, and the DPO's "rectification
demandée" marks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "fiche_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fiche_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("manifest", sa.LargeBinary(), nullable=False),
        sa.Column("rectified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rectified_by_id", sa.Integer(), nullable=False),
        sa.Column("motive", sa.String(length=30), nullable=False),
        sa.ForeignKeyConstraint(["fiche_id"], ["fiches.id"], ondelete="CASCADE",
                                name=op.f("fk_fiche_versions_fiche_id_fiches")),
        sa.ForeignKeyConstraint(["rectified_by_id"], ["users.id"],
                                name=op.f("fk_fiche_versions_rectified_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fiche_versions")),
        sa.UniqueConstraint("fiche_id", "version", name=op.f("uq_fiche_versions_fiche_id")),
    )
    op.create_index(op.f("ix_fiche_versions_fiche_id"), "fiche_versions", ["fiche_id"])

    op.create_table(
        "fiche_rectification_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fiche_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("marked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("marked_by_id", sa.Integer(), nullable=False),
        sa.Column("done_version", sa.Integer(), nullable=True),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["fiche_id"], ["fiches.id"], ondelete="CASCADE",
                                name=op.f("fk_fiche_rectification_marks_fiche_id_fiches")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["rights_requests.id"],
            name=op.f("fk_fiche_rectification_marks_request_id_rights_requests")),
        sa.ForeignKeyConstraint(["marked_by_id"], ["users.id"],
                                name=op.f("fk_fiche_rectification_marks_marked_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fiche_rectification_marks")),
    )
    for column in ("fiche_id", "request_id"):
        op.create_index(op.f(f"ix_fiche_rectification_marks_{column}"),
                        "fiche_rectification_marks", [column])


def downgrade() -> None:
    op.drop_table("fiche_rectification_marks")
    op.drop_table("fiche_versions")
