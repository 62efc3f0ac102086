"""Institutions, units and conventions, and the institutions' keys."""

from __future__ import annotations

from exchange.platform.features import Feature

FEATURE = Feature(
    name="org",
    cli=(
        "exchange.org.cli:keys_cli",
    ),
    actions={
        "keys.initialised": "Clés de la plateforme créées",
        "keys.institution_created": "Clés d'une institution créées",
        "keys.rotated": "Clés renouvelées",
    },
)
