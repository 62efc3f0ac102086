"""Persons and their consent."""

from __future__ import annotations

from exchange.platform.features import Feature

FEATURE = Feature(
    name="persons",
    blueprints=(
        "exchange.persons.views:bp",
    ),
    roles={
        "persons": frozenset({"social_worker", "advisor", "unit_manager"}),
    },
    actions={
        "person.created": "Personne enregistrée",
        "person.viewed": "Fiche d'identité consultée",
        "person.searched": "Recherche de personne",
        "person.updated": "Identité rectifiée",
        "consent.recorded": "Consentement recueilli",
        "consent.viewed": "Consentement consulté",
        "consent.withdrawn": "Consentement retiré",
        "consent.form_downloaded": "Formulaire de consentement téléchargé",
        "consent.notice_viewed": "Notice d'information consultée",
        "upload.refused": "Fichier refusé",
    },
)
