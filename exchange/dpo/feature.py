"""The DPO's space: the audit screens, data-subject rights, the registers."""

from __future__ import annotations

from exchange.platform.features import Feature

FEATURE = Feature(
    name="dpo",
    blueprints=(
        "exchange.dpo.views:bp",
        "exchange.dpo.rights_views:bp",
        "exchange.dpo.grants_views:bp",
    ),
    roles={
        "dpo": frozenset({"dpo"}),
        "rights": frozenset({"dpo"}),
        "dpo_grants": frozenset({"dpo"}),
    },
    actions={
        "rights.request_created": "Demande d'exercice de droits enregistrée",
        "rights.request_updated": "Demande d'exercice de droits mise à jour",
        "rights.request_viewed": "Demande d'exercice de droits consultée",
        "rights.access_export": "Export des données d'une personne (article 15)",
        "rights.restriction_set": "Limitation du traitement posée",
        "rights.restriction_lifted": "Limitation du traitement levée",
        "rights.erasure_approved": "Effacement approuvé",
        "rights.erased": "Données d'une personne effacées",
        "rights.fiche_rectification_requested": "Rectification d'une fiche demandée",
        "rights.request_transmitted": "Demande transmise à une institution partenaire",
        "rights.request_received": "Demande reçue d'une institution partenaire",
        "breach.recorded": "Violation de données enregistrée",
        "breach.updated": "Violation de données mise à jour",
        "breach.viewed": "Registre des violations consulté",
        "register.viewed": "Registre des traitements consulté",
    },
)
