"""The shared platform: database, schema, backups, blob store."""

from __future__ import annotations

from exchange.platform.features import Feature, Job

FEATURE = Feature(
    name="platform",
    cli=(
        "exchange.platform.cli:db_cli",
        "exchange.platform.cli:jobs_cli",
        "exchange.platform.backup_cli:backup_cli",
    ),
    jobs=(
        Job("purge-orphan-blobs", "exchange.platform.tasks:purge_orphan_blobs", 3600),
    ),
)
