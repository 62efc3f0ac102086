"""The web shell: health checks, the home page and the role spaces."""

from __future__ import annotations

from exchange.platform.features import Feature

FEATURE = Feature(
    name="web",
    blueprints=(
        "exchange.web.health:bp",
        "exchange.web.home:bp",
        "exchange.web.roles:social",
        "exchange.web.roles:advisor",
        "exchange.web.roles:manager",
    ),
    roles={
        "social": frozenset({"social_worker"}),
        "advisor": frozenset({"advisor"}),
        "manager": frozenset({"unit_manager"}),
    },
    public_endpoints=frozenset({"static", "health.liveness", "health.readiness_view"}),
    actions={
        "access.refused": "Accès refusé",
        "access.refusals_capped": "Refus d'accès : plafond horaire atteint",
        "csrf.refused": "Formulaire refusé (jeton CSRF)",
    },
)
