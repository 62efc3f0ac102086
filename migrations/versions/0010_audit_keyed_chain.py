"""The keyed audit chain: the head row records the first event chained by HMAC.

Events already in the log keep their SHA-256 hashes; from the next one on, each event is
chained by HMAC-SHA256 under a sub-key of the master key (`exchange.audit`). `keyed_from` is
therefore the head + 1 of an existing log, 1 for a new one. The first checkpoint signed after
this upgrade (the scheduler takes one when the app starts, or `flask audit checkpoint`) covers
the SHA-256 events and signs `keyed_from`; until then `flask audit verify` reports those
events as covered by no signed checkpoint.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("keyed_from", sa.Integer(), nullable=False,
                                   server_default="1"))
    op.execute("UPDATE audit_head SET keyed_from = seq + 1")


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("keyed_from")
