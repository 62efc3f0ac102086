"""Migrations 0006 and 0012 create exactly the tables `retention.models`
describes, with the lock row, and the erased-side columns of fiches and accompaniments."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import select

from exchange.platform.db import Base
from retention import models
from retention.models import RetentionState
from tests.fiches.support import services_of

TABLES = {"legal_holds", "retention_marks", "retention_state", "retention_runs",
          "retention_doomed_blobs", "retention_doomed_shares", "deletion_reports"}


def test_the_migration_creates_the_tables_the_models_describe(app: Flask) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    assert {t.name for t in Base.metadata.sorted_tables} >= TABLES and models

    def ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
        table = obj if type_ == "table" else getattr(obj, "table", None)
        return table is not None and table.name in TABLES

    db = services_of(app).db
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"include_object": ours, "compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    with db.unit_of_work() as s:
        state = s.scalar(select(RetentionState))
        assert state is not None and state.id == 1 and state.lock_holder is None


def test_the_erasure_migration_adds_the_erased_sides(app: Flask) -> None:
    from sqlalchemy import inspect

    columns = inspect(services_of(app).db.engine).get_columns
    for table, sides in (("fiches", ("sender", "recipient")),
                         ("accompaniments", ("advisor", "social"))):
        found = {c["name"]: c for c in columns(table)}
        for side in sides:
            column = found[f"{side}_erased_at"]
            assert column["nullable"] and "TIME" in str(column["type"]).upper()
