"""Erasure of one institution's share of a person: the side of a fiche or an accompaniment
whose institution erased it (the other party keeps its copy), and the share keys a deletion
dooms, destroyed once it commits (`retention.shares`).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table, sides in (("fiches", ("sender", "recipient")),
                         ("accompaniments", ("advisor", "social"))):
        for side in sides:
            op.add_column(table, sa.Column(f"{side}_erased_at", sa.DateTime(timezone=True),
                                           nullable=True))
    op.create_table(
        "retention_doomed_shares",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("owner", sa.String(length=80), nullable=True),
        sa.Column("generation", sa.Integer(), nullable=True),
        sa.Column("doomed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_doomed_shares")),
    )
    op.create_index(op.f("ix_retention_doomed_shares_subject"), "retention_doomed_shares",
                    ["subject"])


def downgrade() -> None:
    op.drop_index(op.f("ix_retention_doomed_shares_subject"),
                  table_name="retention_doomed_shares")
    op.drop_table("retention_doomed_shares")
    for table, sides in (("accompaniments", ("advisor", "social")),
                         ("fiches", ("sender", "recipient"))):
        with op.batch_alter_table(table) as batch_op:
            for side in sides:
                batch_op.drop_column(f"{side}_erased_at")
