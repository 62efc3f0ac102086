"""Retention's screens, command and schedule (the rules live in `retention/`)."""

from __future__ import annotations

from exchange.platform.features import Feature, Job

FEATURE = Feature(
    name="deletion",
    blueprints=(
        "exchange.deletion.views:bp",
    ),
    roles={
        "retention": frozenset({"social_worker", "advisor", "unit_manager", "dpo"}),
    },
    cli=(
        "exchange.deletion.cli:retention_cli",
    ),
    actions={
        "retention.deleted": "Donnée supprimée (durée de conservation)",
        "retention.skipped_hold": "Suppression différée (conservation légale)",
        "retention.report": "Rapport de suppression signé",
        "retention.epoch_destroyed": "Clé d'époque détruite",
        "retention.marked_unneeded": "Donnée marquée comme plus nécessaire",
        "hold.placed": "Conservation légale posée",
        "hold.lifted": "Conservation légale levée",
    },
    jobs=(
        Job("retention-sweep", "exchange.deletion.tasks:retention_sweep", 600, start_at_once=True),
    ),
)
