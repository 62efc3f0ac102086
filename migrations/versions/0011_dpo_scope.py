"""A rights request passed on to a partner institution: the request the partner's register
receives names the one it came from.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rights_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_request_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_rights_requests_source_request_id_rights_requests"),
            "rights_requests", ["source_request_id"], ["id"])
        batch_op.create_index(batch_op.f("ix_rights_requests_source_request_id"),
                              ["source_request_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rights_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rights_requests_source_request_id"))
        batch_op.drop_constraint(
            batch_op.f("fk_rights_requests_source_request_id_rights_requests"),
            type_="foreignkey")
        batch_op.drop_column("source_request_id")
