"""An index on the consent a fiche was sent under: the retention sweep asks, for a batch of due
consents, which ones a fiche still refers to, and without it each batch scans every fiche.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_fiches_consent_id"), "fiches", ["consent_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_fiches_consent_id"), table_name="fiches")
