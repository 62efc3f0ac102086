"""Accounts: sign-in with the second factor, passwords, sessions."""

from __future__ import annotations

from exchange.platform.features import Feature, Job

FEATURE = Feature(
    name="accounts",
    blueprints=(
        "exchange.accounts.views:bp",
    ),
    public_endpoints=frozenset({"auth.login", "auth.second_factor", "auth.enrol"}),
    actions={
        "login.success": "Connexion réussie",
        "login.failure": "Connexion échouée",
        "login.throttled": "Connexion bloquée (trop d'essais)",
        "login.second_factor_failure": "Second facteur refusé",
        "login.recovery_code_used": "Code de secours utilisé",
        "logout": "Déconnexion",
        "session.expired": "Session expirée",
        "totp.enrolled": "Second facteur activé",
        "password.changed": "Mot de passe changé",
        "password.change_failure": "Changement de mot de passe : mot de passe actuel erroné",
        "password.change_throttled": "Changement de mot de passe bloqué (trop d'essais)",
    },
    jobs=(
        Job("purge-sessions", "exchange.accounts.tasks:purge_sessions", 3600),
    ),
)
