"""Fiches de liaison and the accompaniments they start."""

from __future__ import annotations

from exchange.platform.features import Feature

FEATURE = Feature(
    name="fiches",
    blueprints=(
        "exchange.fiches.views:bp",
        "exchange.fiches.accompaniment_views:bp",
    ),
    roles={
        "fiches": frozenset({"social_worker", "advisor", "unit_manager"}),
        "accompaniments": frozenset({"social_worker", "advisor", "unit_manager"}),
    },
    actions={
        "fiche.created": "Fiche créée",
        "fiche.draft_saved": "Brouillon enregistré",
        "fiche.signed": "Fiche signée",
        "fiche.countersigned": "Fiche contresignée",
        "fiche.sent": "Fiche envoyée",
        "fiche.opened": "Fiche ouverte",
        "fiche.viewed": "Fiche consultée",
        "fiche.pdf_downloaded": "PDF de la fiche téléchargé",
        "fiche.acknowledged": "Réception accusée",
        "fiche.accepted": "Orientation acceptée",
        "fiche.declined": "Orientation refusée",
        "fiche.recalled": "Fiche rappelée",
        "fiche.cancelled": "Fiche annulée",
        "fiche.tampered": "Fiche altérée détectée",
        "fiche.refused": "Action sur une fiche refusée",
        "attachment.added": "Pièce jointe ajoutée",
        "attachment.removed": "Pièce jointe retirée",
        "attachment.downloaded": "Pièce jointe téléchargée",
        "accompaniment.created": "Accompagnement ouvert",
        "accompaniment.entry_recorded": "Entrée en accompagnement",
        "accompaniment.renewed": "Accompagnement renouvelé",
        "accompaniment.midterm_done": "Bilan à mi-parcours fait",
        "accompaniment.closed": "Sortie d'accompagnement",
        "accompaniment.refused": "Action sur un accompagnement refusée",
        "fiche.rectified": "Fiche rectifiée (nouvelle version)",
        "fiche.version_viewed": "Version remplacée d'une fiche consultée",
        "fiche.version_downloaded": "PDF d'une version remplacée téléchargé",
    },
)
