"""Audit checkpoints, the purge allowance, and the DPO's search indexes.

- `audit_checkpoints`: platform-signed (seq, head) of the chain; append-only.
- `audit_prune_allowance`: one row; the purge job raises `upto` in the transaction that wrote
  the purge checkpoint, deletes the events up to it, and sets it back to 0. The 0001 triggers
  are replaced: the database still refuses every UPDATE of an event, and refuses a DELETE
  unless the event's seq is within the allowance; the allowance itself cannot go beyond the
  last purge checkpoint, so an ad-hoc DELETE fails unless someone also forges a checkpoint
  row (which `flask audit verify` then reports: its signature does not verify).
- Keyset pagination on a million events, newest first by (at, seq): (criterion, at, seq)
  indexes replace the single-column ones, so that a page with a criterion and a period is one
  index range, whatever the period and however deep the page.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APPEND_ONLY = "audit events are append-only"
CHECKPOINTS_APPEND_ONLY = "audit checkpoints are append-only"
ALLOWANCE_REFUSED = "a purge allowance needs a purge checkpoint at or beyond it"
SEARCH_INDEXES = {  # the 0001 index -> its replacement: (name, columns)
    "ix_audit_events_at": ("ix_audit_events_at_seq", ["at", "seq"]),
    "ix_audit_events_actor_user_id": ("ix_audit_events_actor_user_id_at",
                                      ["actor_user_id", "at", "seq"]),
    "ix_audit_events_actor_unit_id": ("ix_audit_events_actor_unit_id_at",
                                      ["actor_unit_id", "at", "seq"]),
    "ix_audit_events_action": ("ix_audit_events_action_at", ["action", "at", "seq"]),
    "ix_audit_events_object_id": ("ix_audit_events_object_id_at", ["object_id", "at", "seq"]),
}


def upgrade() -> None:
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signed", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoints")),
    )
    op.create_index(op.f("ix_audit_checkpoints_seq"), "audit_checkpoints", ["seq"])
    op.create_table(
        "audit_prune_allowance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("upto", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_prune_allowance")),
    )
    op.execute("INSERT INTO audit_prune_allowance (id, upto) VALUES (1, 0)")
    for old, (name, columns) in SEARCH_INDEXES.items():
        op.drop_index(old, table_name="audit_events")
        op.create_index(name, "audit_events", columns)
    if op.get_bind().dialect.name == "sqlite":
        _sqlite_guards()
    else:
        _postgresql_guards()


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for name in ("audit_events_no_update", "audit_events_no_delete",
                     "audit_checkpoints_no_update", "audit_checkpoints_no_delete",
                     "audit_prune_allowance_single_row", "audit_prune_allowance_no_delete",
                     "audit_prune_allowance_guard"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events")
        op.execute("DROP TRIGGER IF EXISTS audit_events_guard_delete ON audit_events")
        op.execute("DROP FUNCTION IF EXISTS audit_events_guard_delete()")
        op.execute("DROP TRIGGER IF EXISTS audit_checkpoints_append_only ON audit_checkpoints")
        op.execute("DROP FUNCTION IF EXISTS audit_checkpoints_append_only()")
        op.execute("DROP TRIGGER IF EXISTS audit_prune_allowance_guard ON audit_prune_allowance")
        op.execute("DROP FUNCTION IF EXISTS audit_prune_allowance_guard()")
        op.execute(
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
            "ON audit_events FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )
    for old, (name, columns) in SEARCH_INDEXES.items():
        op.drop_index(name, table_name="audit_events")
        op.create_index(old, "audit_events", columns[:1])
    op.drop_table("audit_prune_allowance")
    op.drop_index(op.f("ix_audit_checkpoints_seq"), table_name="audit_checkpoints")
    op.drop_table("audit_checkpoints")


def _sqlite_guards() -> None:
    allowance = "COALESCE((SELECT upto FROM audit_prune_allowance WHERE id = 1), 0)"
    last_prune = "COALESCE((SELECT max(seq) FROM audit_checkpoints WHERE kind = 'prune'), 0)"
    statements = [
        "DROP TRIGGER IF EXISTS audit_events_no_update",
        "DROP TRIGGER IF EXISTS audit_events_no_delete",
        "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
        "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events "
        f"WHEN OLD.seq > {allowance} "
        f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END",
        "CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints "
        f"BEGIN SELECT RAISE(ABORT, '{CHECKPOINTS_APPEND_ONLY}'); END",
        "CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints "
        f"BEGIN SELECT RAISE(ABORT, '{CHECKPOINTS_APPEND_ONLY}'); END",
        "CREATE TRIGGER audit_prune_allowance_single_row BEFORE INSERT ON audit_prune_allowance "
        "BEGIN SELECT RAISE(ABORT, 'the purge allowance is a single row'); END",
        "CREATE TRIGGER audit_prune_allowance_no_delete BEFORE DELETE ON audit_prune_allowance "
        "BEGIN SELECT RAISE(ABORT, 'the purge allowance is a single row'); END",
        "CREATE TRIGGER audit_prune_allowance_guard BEFORE UPDATE ON audit_prune_allowance "
        f"WHEN NEW.id <> OLD.id OR (NEW.upto <> 0 AND NEW.upto > {last_prune}) "
        f"BEGIN SELECT RAISE(ABORT, '{ALLOWANCE_REFUSED}'); END",
    ]
    for statement in statements:
        op.execute(statement)


def _postgresql_guards() -> None:
    statements = [
        # 0001's statement trigger refused DELETE too; UPDATE and TRUNCATE stay refused.
        "DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events",
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
        "CREATE FUNCTION audit_events_guard_delete() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
        "BEGIN "
        "IF OLD.seq > COALESCE((SELECT upto FROM audit_prune_allowance WHERE id = 1), 0) THEN "
        f"RAISE EXCEPTION '{APPEND_ONLY}'; "
        "END IF; "
        "RETURN OLD; "
        "END $$",
        "CREATE TRIGGER audit_events_guard_delete BEFORE DELETE ON audit_events "
        "FOR EACH ROW EXECUTE FUNCTION audit_events_guard_delete()",
        "CREATE FUNCTION audit_checkpoints_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        f"BEGIN RAISE EXCEPTION '{CHECKPOINTS_APPEND_ONLY}'; END $$",
        "CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE "
        "ON audit_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoints_append_only()",
        "CREATE FUNCTION audit_prune_allowance_guard() RETURNS trigger LANGUAGE plpgsql AS $$ "  # noqa: S608
        "BEGIN "
        "IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR (NEW.upto <> 0 AND NEW.upto > COALESCE("
        "(SELECT max(seq) FROM audit_checkpoints WHERE kind = 'prune'), 0)) THEN "
        f"RAISE EXCEPTION '{ALLOWANCE_REFUSED}'; "
        "END IF; "
        "RETURN NEW; "
        "END $$",
        "CREATE TRIGGER audit_prune_allowance_guard BEFORE INSERT OR UPDATE OR DELETE "
        "ON audit_prune_allowance FOR EACH ROW EXECUTE FUNCTION audit_prune_allowance_guard()",
    ]
    for statement in statements:
        op.execute(statement)
