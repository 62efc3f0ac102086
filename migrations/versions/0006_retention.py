"""Retention: legal holds, early marks, the sweep's lock and runs, doomed blobs, signed
deletion reports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('legal_holds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('target_type', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('target_public_id', sa.String(length=32), nullable=False),
    sa.Column('reason_code', sa.String(length=30), nullable=False),
    sa.Column('sealed_note', sa.LargeBinary(), nullable=True),
    sa.Column('placed_by_id', sa.Integer(), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lifted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lifted_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['lifted_by_id'], ['users.id'], name=op.f('fk_legal_holds_lifted_by_id_users')),
    sa.ForeignKeyConstraint(['placed_by_id'], ['users.id'], name=op.f('fk_legal_holds_placed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_legal_holds')),
    sa.UniqueConstraint('public_id', name=op.f('uq_legal_holds_public_id'))
    )
    op.create_index('ix_legal_holds_target', 'legal_holds',
                    ['target_type', 'target_id', 'lifted_at'], unique=False)

    op.create_table('retention_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('target_type', sa.String(length=20), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('no_longer_needed_on', sa.Date(), nullable=False),
    sa.Column('marked_by_id', sa.Integer(), nullable=False),
    sa.Column('marked_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['marked_by_id'], ['users.id'], name=op.f('fk_retention_marks_marked_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_marks'))
    )
    op.create_index('ix_retention_marks_target', 'retention_marks',
                    ['target_type', 'target_id'], unique=True)

    state = op.create_table('retention_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('lock_holder', sa.String(length=64), nullable=True),
    sa.Column('lock_expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('audit_seq', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_state'))
    )
    op.bulk_insert(state, [{'id': 1, 'lock_holder': None, 'lock_expires_at': None,
                            'audit_seq': 0}])

    op.create_table('deletion_reports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('run_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('today', sa.Date(), nullable=False),
    sa.Column('deleted_count', sa.Integer(), nullable=False),
    sa.Column('skipped_count', sa.Integer(), nullable=False),
    sa.Column('error_count', sa.Integer(), nullable=False),
    sa.Column('complete', sa.Boolean(), nullable=False),
    sa.Column('key_id', sa.String(length=80), nullable=False),
    sa.Column('signed', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deletion_reports')),
    sa.UniqueConstraint('public_id', name=op.f('uq_deletion_reports_public_id'))
    )
    with op.batch_alter_table('deletion_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deletion_reports_run_at'), ['run_at'], unique=False)

    op.create_table('retention_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('today', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('report_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['report_id'], ['deletion_reports.id'], name=op.f('fk_retention_runs_report_id_deletion_reports')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retention_runs'))
    )
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retention_runs_started_at'), ['started_at'], unique=False)

    op.create_table('retention_doomed_blobs',
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_retention_doomed_blobs'))
    )


def downgrade() -> None:
    op.drop_table('retention_doomed_blobs')
    with op.batch_alter_table('retention_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retention_runs_started_at'))
    op.drop_table('retention_runs')
    with op.batch_alter_table('deletion_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deletion_reports_run_at'))
    op.drop_table('deletion_reports')
    op.drop_table('retention_state')
    op.drop_index('ix_retention_marks_target', table_name='retention_marks')
    op.drop_table('retention_marks')
    op.drop_index('ix_legal_holds_target', table_name='legal_holds')
    op.drop_table('legal_holds')
