"""Statistics facts: de-identified rows the steering indicators are computed from.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

INDEXES = {
    'ix_stat_facts_flows': ['event', 'convention_id', 'month', 'axis', 'sender_institution_id',
                            'sender_unit_id', 'receiving_institution_id', 'receiving_unit_id'],
    'ix_stat_facts_counts': ['event', 'convention_id', 'month', 'axis', 'decline_reason',
                             'exit_reason', 'positive_exit', 'midterm_on_time', 'delay_days',
                             'within_21_days', 'rsa_beneficiary'],
    'ix_stat_facts_caseload': ['event', 'convention_id', 'advisor_ref', 'month', 'entry_month',
                               'axis'],
    'ix_stat_facts_sender_unit': ['sender_unit_id', 'month'],
    'ix_stat_facts_receiving_unit': ['receiving_unit_id', 'month'],
    'ix_stat_facts_accompaniment_ref': ['accompaniment_ref'],
}


def upgrade() -> None:
    op.create_table('stat_facts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=24), nullable=False),
    sa.Column('axis', sa.Integer(), nullable=False),
    sa.Column('convention_id', sa.Integer(), nullable=False),
    sa.Column('sender_institution_id', sa.Integer(), nullable=False),
    sa.Column('sender_unit_id', sa.Integer(), nullable=False),
    sa.Column('receiving_institution_id', sa.Integer(), nullable=False),
    sa.Column('receiving_unit_id', sa.Integer(), nullable=False),
    sa.Column('advisor_ref', sa.String(length=64), nullable=True),
    sa.Column('accompaniment_ref', sa.String(length=64), nullable=True),
    sa.Column('rsa_beneficiary', sa.Boolean(), nullable=True),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('proposal_month', sa.Date(), nullable=True),
    sa.Column('entry_month', sa.Date(), nullable=True),
    sa.Column('delay_days', sa.Integer(), nullable=True),
    sa.Column('within_21_days', sa.Boolean(), nullable=True),
    sa.Column('decline_reason', sa.String(length=40), nullable=True),
    sa.Column('exit_reason', sa.String(length=40), nullable=True),
    sa.Column('positive_exit', sa.Boolean(), nullable=True),
    sa.Column('midterm_on_time', sa.Boolean(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['convention_id'], ['conventions.id'],
                            name=op.f('fk_stat_facts_convention_id_conventions')),
    sa.ForeignKeyConstraint(['sender_institution_id'], ['institutions.id'],
                            name=op.f('fk_stat_facts_sender_institution_id_institutions')),
    sa.ForeignKeyConstraint(['sender_unit_id'], ['units.id'],
                            name=op.f('fk_stat_facts_sender_unit_id_units')),
    sa.ForeignKeyConstraint(['receiving_institution_id'], ['institutions.id'],
                            name=op.f('fk_stat_facts_receiving_institution_id_institutions')),
    sa.ForeignKeyConstraint(['receiving_unit_id'], ['units.id'],
                            name=op.f('fk_stat_facts_receiving_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stat_facts'))
    )
    for name, columns in INDEXES.items():
        op.create_index(name, 'stat_facts', columns, unique=False)


def downgrade() -> None:
    for name in reversed(INDEXES):
        op.drop_index(name, table_name='stat_facts')
    op.drop_table('stat_facts')
