"""The audit trail: the chain, its checkpoints, its search and its purge."""

from __future__ import annotations

from exchange.platform.features import Feature, Job

FEATURE = Feature(
    name="audit",
    cli=(
        "exchange.audit.cli:audit_cli",
    ),
    actions={
        "audit.verified": "Chaîne d'audit vérifiée",
        "audit.searched": "Journal d'audit consulté",
        "audit.exported": "Journal d'audit exporté",
        "audit.checkpoint": "Point de contrôle signé",
        "audit.pruned": "Journal purgé (durée de conservation)",
    },
    jobs=(
        Job("checkpoint-audit", "exchange.audit.tasks:checkpoint_audit", 3600, start_at_once=True,
            every_hours_setting="audit_checkpoint_hours"),
        Job("prune-audit", "exchange.audit.tasks:prune_audit", 86400),
    ),
)
