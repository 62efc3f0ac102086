"""Administration: institutions, units, conventions and accounts."""

from __future__ import annotations

from exchange.platform.features import Feature

FEATURE = Feature(
    name="admin",
    blueprints=(
        "exchange.admin.views:bp",
    ),
    roles={
        "admin": frozenset({"admin"}),
    },
    actions={
        "institution.created": "Institution créée",
        "institution.updated": "Institution modifiée",
        "unit.created": "Structure créée",
        "unit.updated": "Structure modifiée",
        "convention.created": "Convention créée",
        "convention.updated": "Convention modifiée",
        "convention.amended": "Avenant à une convention",
        "user.created": "Compte créé",
        "user.updated": "Compte modifié",
        "user.disabled": "Compte désactivé",
        "user.enabled": "Compte réactivé",
        "user.password_reset": "Mot de passe réinitialisé",
        "user.second_factor_reset": "Second facteur réinitialisé",
        "user.role_granted.social_worker": "Rôle attribué : travailleur social",
        "user.role_granted.advisor": "Rôle attribué : conseiller France Travail",
        "user.role_granted.unit_manager": "Rôle attribué : responsable de structure",
        "user.role_granted.dpo": "Rôle attribué : délégué à la protection des données",
        "user.own_roles_refused": "Modification de ses propres rôles refusée",
    },
)
