"""Persons, consents, fiches, sealed documents and their key wraps, receipts, accompaniments.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 03:46:49.585067
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('persons',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('sealed_key', sa.LargeBinary(), nullable=False),
    sa.Column('identity', sa.LargeBinary(), nullable=False),
    sa.Column('identity_version', sa.Integer(), nullable=False),
    sa.Column('index_name_birth', sa.String(length=64), nullable=False),
    sa.Column('index_birth_name_birth', sa.String(length=64), nullable=True),
    sa.Column('index_ft_id', sa.String(length=64), nullable=True),
    sa.Column('epoch', sa.String(length=7), nullable=False),
    sa.Column('horizon', sa.Date(), nullable=True),
    sa.Column('restricted', sa.Boolean(), nullable=False),
    sa.Column('created_by_unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_unit_id'], ['units.id'], name=op.f('fk_persons_created_by_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_persons')),
    sa.UniqueConstraint('public_id', name=op.f('uq_persons_public_id'))
    )
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_persons_epoch'), ['epoch'], unique=False)
        batch_op.create_index(batch_op.f('ix_persons_horizon'), ['horizon'], unique=False)
        batch_op.create_index(batch_op.f('ix_persons_index_birth_name_birth'), ['index_birth_name_birth'], unique=False)
        batch_op.create_index(batch_op.f('ix_persons_index_ft_id'), ['index_ft_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_persons_index_name_birth'), ['index_name_birth'], unique=False)

    op.create_table('consents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('axis', sa.Integer(), nullable=False),
    sa.Column('recipient_institution_id', sa.Integer(), nullable=False),
    sa.Column('notice_version', sa.String(length=20), nullable=False),
    sa.Column('method', sa.String(length=30), nullable=False),
    sa.Column('attestation', sa.Boolean(), nullable=False),
    sa.Column('collected_by_user_id', sa.Integer(), nullable=False),
    sa.Column('collected_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('withdrawn_by_user_id', sa.Integer(), nullable=True),
    sa.Column('horizon', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['collected_by_user_id'], ['users.id'], name=op.f('fk_consents_collected_by_user_id_users')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_consents_person_id_persons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['recipient_institution_id'], ['institutions.id'], name=op.f('fk_consents_recipient_institution_id_institutions')),
    sa.ForeignKeyConstraint(['withdrawn_by_user_id'], ['users.id'], name=op.f('fk_consents_withdrawn_by_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    sa.UniqueConstraint('public_id', name=op.f('uq_consents_public_id'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_horizon'), ['horizon'], unique=False)
        batch_op.create_index(batch_op.f('ix_consents_person_id'), ['person_id'], unique=False)

    op.create_table('person_units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('unit_id', sa.Integer(), nullable=False),
    sa.Column('since', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_person_units_person_id_persons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['unit_id'], ['units.id'], name=op.f('fk_person_units_unit_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_units')),
    sa.UniqueConstraint('person_id', 'unit_id', name=op.f('uq_person_units_person_id'))
    )
    with op.batch_alter_table('person_units', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_units_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_units_unit_id'), ['unit_id'], unique=False)

    op.create_table('fiches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('axis', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('convention_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('consent_id', sa.Integer(), nullable=True),
    sa.Column('accompaniment_id', sa.Integer(), nullable=True),
    sa.Column('sender_unit_id', sa.Integer(), nullable=False),
    sa.Column('sender_user_id', sa.Integer(), nullable=False),
    sa.Column('recipient_unit_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signed_by_id', sa.Integer(), nullable=True),
    sa.Column('countersigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('countersigned_by_id', sa.Integer(), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('read_by_id', sa.Integer(), nullable=True),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=True),
    sa.Column('manifest', sa.LargeBinary(), nullable=True),
    sa.Column('horizon', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_fiches_consent_id_consents')),
    sa.ForeignKeyConstraint(['convention_id'], ['conventions.id'], name=op.f('fk_fiches_convention_id_conventions')),
    sa.ForeignKeyConstraint(['countersigned_by_id'], ['users.id'], name=op.f('fk_fiches_countersigned_by_id_users')),
    sa.ForeignKeyConstraint(['decided_by_id'], ['users.id'], name=op.f('fk_fiches_decided_by_id_users')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_fiches_person_id_persons')),
    sa.ForeignKeyConstraint(['read_by_id'], ['users.id'], name=op.f('fk_fiches_read_by_id_users')),
    sa.ForeignKeyConstraint(['recipient_unit_id'], ['units.id'], name=op.f('fk_fiches_recipient_unit_id_units')),
    sa.ForeignKeyConstraint(['sender_unit_id'], ['units.id'], name=op.f('fk_fiches_sender_unit_id_units')),
    sa.ForeignKeyConstraint(['sender_user_id'], ['users.id'], name=op.f('fk_fiches_sender_user_id_users')),
    sa.ForeignKeyConstraint(['signed_by_id'], ['users.id'], name=op.f('fk_fiches_signed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fiches')),
    sa.UniqueConstraint('public_id', name=op.f('uq_fiches_public_id'))
    )
    with op.batch_alter_table('fiches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fiches_accompaniment_id'), ['accompaniment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fiches_convention_id'), ['convention_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fiches_horizon'), ['horizon'], unique=False)
        batch_op.create_index(batch_op.f('ix_fiches_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fiches_recipient_unit_id'), ['recipient_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fiches_sender_unit_id'), ['sender_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fiches_sent_at'), ['sent_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_fiches_state'), ['state'], unique=False)

    op.create_table('accompaniments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('axis', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('convention_id', sa.Integer(), nullable=False),
    sa.Column('orientation_id', sa.Integer(), nullable=False),
    sa.Column('advisor_user_id', sa.Integer(), nullable=False),
    sa.Column('advisor_unit_id', sa.Integer(), nullable=False),
    sa.Column('social_user_id', sa.Integer(), nullable=False),
    sa.Column('social_unit_id', sa.Integer(), nullable=False),
    sa.Column('proposal_date', sa.Date(), nullable=False),
    sa.Column('entry_date', sa.Date(), nullable=True),
    sa.Column('planned_end', sa.Date(), nullable=True),
    sa.Column('renewed', sa.Boolean(), nullable=False),
    sa.Column('midterm_due', sa.Date(), nullable=True),
    sa.Column('midterm_done_on', sa.Date(), nullable=True),
    sa.Column('exit_date', sa.Date(), nullable=True),
    sa.Column('exit_reason', sa.String(length=40), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('horizon', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['advisor_unit_id'], ['units.id'], name=op.f('fk_accompaniments_advisor_unit_id_units')),
    sa.ForeignKeyConstraint(['advisor_user_id'], ['users.id'], name=op.f('fk_accompaniments_advisor_user_id_users')),
    sa.ForeignKeyConstraint(['convention_id'], ['conventions.id'], name=op.f('fk_accompaniments_convention_id_conventions')),
    sa.ForeignKeyConstraint(['orientation_id'], ['fiches.id'], name=op.f('fk_accompaniments_orientation_id_fiches')),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_accompaniments_person_id_persons')),
    sa.ForeignKeyConstraint(['social_unit_id'], ['units.id'], name=op.f('fk_accompaniments_social_unit_id_units')),
    sa.ForeignKeyConstraint(['social_user_id'], ['users.id'], name=op.f('fk_accompaniments_social_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_accompaniments')),
    sa.UniqueConstraint('orientation_id', name=op.f('uq_accompaniments_orientation_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_accompaniments_public_id'))
    )
    with op.batch_alter_table('accompaniments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_accompaniments_advisor_unit_id'), ['advisor_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_accompaniments_advisor_user_id'), ['advisor_user_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_accompaniments_convention_id'), ['convention_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_accompaniments_horizon'), ['horizon'], unique=False)
        batch_op.create_index(batch_op.f('ix_accompaniments_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_accompaniments_social_unit_id'), ['social_unit_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_accompaniments_social_user_id'), ['social_user_id'], unique=False)

    op.create_table('receipts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('fiche_id', sa.Integer(), nullable=False),
    sa.Column('signed', sa.LargeBinary(), nullable=False),
    sa.Column('signed_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('horizon', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['fiche_id'], ['fiches.id'], name=op.f('fk_receipts_fiche_id_fiches'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['signed_by_id'], ['users.id'], name=op.f('fk_receipts_signed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipts')),
    sa.UniqueConstraint('public_id', name=op.f('uq_receipts_public_id'))
    )
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipts_fiche_id'), ['fiche_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_receipts_horizon'), ['horizon'], unique=False)

    op.create_table('documents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('fiche_id', sa.Integer(), nullable=True),
    sa.Column('consent_id', sa.Integer(), nullable=True),
    sa.Column('accompaniment_id', sa.Integer(), nullable=True),
    sa.Column('header', sa.LargeBinary(), nullable=False),
    sa.Column('nonce', sa.LargeBinary(), nullable=False),
    sa.Column('epoch_wrap', sa.LargeBinary(), nullable=False),
    sa.Column('epoch', sa.String(length=7), nullable=False),
    sa.Column('blob', sa.String(length=64), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('horizon', sa.Date(), nullable=True),
    sa.ForeignKeyConstraint(['accompaniment_id'], ['accompaniments.id'], name=op.f('fk_documents_accompaniment_id_accompaniments'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['consent_id'], ['consents.id'], name=op.f('fk_documents_consent_id_consents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['fiche_id'], ['fiches.id'], name=op.f('fk_documents_fiche_id_fiches'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('blob', name=op.f('uq_documents_blob')),
    sa.UniqueConstraint('public_id', name=op.f('uq_documents_public_id'))
    )
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_documents_accompaniment_id'), ['accompaniment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_consent_id'), ['consent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_epoch'), ['epoch'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_fiche_id'), ['fiche_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_documents_horizon'), ['horizon'], unique=False)

    op.create_table('key_wraps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('document_id', sa.Integer(), nullable=False),
    sa.Column('reader', sa.String(length=80), nullable=False),
    sa.Column('key_id', sa.String(length=80), nullable=False),
    sa.Column('key_version', sa.Integer(), nullable=False),
    sa.Column('enc', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'], name=op.f('fk_key_wraps_document_id_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_key_wraps'))
    )
    with op.batch_alter_table('key_wraps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_key_wraps_document_id'), ['document_id'], unique=False)


    if op.get_bind().dialect.name != "sqlite":  # SQLite cannot add a constraint afterwards
        op.create_foreign_key("fk_fiches_accompaniment_id_accompaniments", "fiches",
                              "accompaniments", ["accompaniment_id"], ["id"])

def downgrade() -> None:
    with op.batch_alter_table('key_wraps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_key_wraps_document_id'))

    op.drop_table('key_wraps')
    with op.batch_alter_table('documents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_documents_horizon'))
        batch_op.drop_index(batch_op.f('ix_documents_fiche_id'))
        batch_op.drop_index(batch_op.f('ix_documents_epoch'))
        batch_op.drop_index(batch_op.f('ix_documents_consent_id'))
        batch_op.drop_index(batch_op.f('ix_documents_accompaniment_id'))

    op.drop_table('documents')
    with op.batch_alter_table('receipts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipts_horizon'))
        batch_op.drop_index(batch_op.f('ix_receipts_fiche_id'))

    op.drop_table('receipts')
    with op.batch_alter_table('accompaniments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_accompaniments_social_user_id'))
        batch_op.drop_index(batch_op.f('ix_accompaniments_social_unit_id'))
        batch_op.drop_index(batch_op.f('ix_accompaniments_person_id'))
        batch_op.drop_index(batch_op.f('ix_accompaniments_horizon'))
        batch_op.drop_index(batch_op.f('ix_accompaniments_convention_id'))
        batch_op.drop_index(batch_op.f('ix_accompaniments_advisor_user_id'))
        batch_op.drop_index(batch_op.f('ix_accompaniments_advisor_unit_id'))

    op.drop_table('accompaniments')
    with op.batch_alter_table('fiches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fiches_state'))
        batch_op.drop_index(batch_op.f('ix_fiches_sent_at'))
        batch_op.drop_index(batch_op.f('ix_fiches_sender_unit_id'))
        batch_op.drop_index(batch_op.f('ix_fiches_recipient_unit_id'))
        batch_op.drop_index(batch_op.f('ix_fiches_person_id'))
        batch_op.drop_index(batch_op.f('ix_fiches_horizon'))
        batch_op.drop_index(batch_op.f('ix_fiches_convention_id'))
        batch_op.drop_index(batch_op.f('ix_fiches_accompaniment_id'))

    op.drop_table('fiches')
    with op.batch_alter_table('person_units', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_units_unit_id'))
        batch_op.drop_index(batch_op.f('ix_person_units_person_id'))

    op.drop_table('person_units')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_person_id'))
        batch_op.drop_index(batch_op.f('ix_consents_horizon'))

    op.drop_table('consents')
    with op.batch_alter_table('persons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_persons_index_name_birth'))
        batch_op.drop_index(batch_op.f('ix_persons_index_ft_id'))
        batch_op.drop_index(batch_op.f('ix_persons_index_birth_name_birth'))
        batch_op.drop_index(batch_op.f('ix_persons_horizon'))
        batch_op.drop_index(batch_op.f('ix_persons_epoch'))

    op.drop_table('persons')
