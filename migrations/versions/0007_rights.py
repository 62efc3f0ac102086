"""Data-subject rights: the register of requests, restriction changes, the breach register.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rights_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("extension_reason", sa.String(length=30), nullable=True),
        sa.Column("subject_index", sa.String(length=64), nullable=False),
        sa.Column("person_public_id", sa.String(length=32), nullable=True),
        sa.Column("answer_document_id", sa.Integer(), nullable=True),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institutions.id"],
                                name=op.f("fk_rights_requests_institution_id_institutions")),
        sa.ForeignKeyConstraint(["answer_document_id"], ["documents.id"], ondelete="SET NULL",
                                name=op.f("fk_rights_requests_answer_document_id_documents")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_rights_requests_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_requests")),
        sa.UniqueConstraint("public_id", name=op.f("uq_rights_requests_public_id")),
    )
    for column in ("institution_id", "status", "due_on", "subject_index", "person_public_id"):
        op.create_index(op.f(f"ix_rights_requests_{column}"), "rights_requests", [column])

    op.create_table(
        "rights_restrictions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_public_id", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("restricted", sa.Boolean(), nullable=False),
        sa.Column("reason_code", sa.String(length=30), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["request_id"], ["rights_requests.id"],
                                name=op.f("fk_rights_restrictions_request_id_rights_requests")),
        sa.ForeignKeyConstraint(["by_user_id"], ["users.id"],
                                name=op.f("fk_rights_restrictions_by_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rights_restrictions")),
    )
    for column in ("person_public_id", "request_id"):
        op.create_index(op.f(f"ix_rights_restrictions_{column}"), "rights_restrictions",
                        [column])

    op.create_table(
        "breaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("institution_id", sa.Integer(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data_categories", sa.String(length=200), nullable=False),
        sa.Column("person_categories", sa.String(length=200), nullable=False),
        sa.Column("persons_count", sa.Integer(), nullable=False),
        sa.Column("records_count", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=True),
        sa.Column("cnil_notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("persons_informed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["institution_id"], ["institutions.id"],
                                name=op.f("fk_breaches_institution_id_institutions")),
        sa.ForeignKeyConstraint(["document_id"], ["documents.id"], ondelete="SET NULL",
                                name=op.f("fk_breaches_document_id_documents")),
        sa.ForeignKeyConstraint(["created_by_id"], ["users.id"],
                                name=op.f("fk_breaches_created_by_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_breaches")),
        sa.UniqueConstraint("public_id", name=op.f("uq_breaches_public_id")),
    )
    for column in ("institution_id", "recorded_at"):
        op.create_index(op.f(f"ix_breaches_{column}"), "breaches", [column])


def downgrade() -> None:
    op.drop_table("breaches")
    op.drop_table("rights_restrictions")
    op.drop_table("rights_requests")
