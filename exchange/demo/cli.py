"""`flask demo ...`: the demo data (demo mode only)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from exchange.platform.current import services

demo_cli = AppGroup("demo", help="Données de démonstration (mode démo seulement).")


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True,
              help="Ne rien faire si la base contient déjà des données.")
def demo_seed(if_empty: bool) -> None:
    """Create the demo institutions, units, conventions, users and keys."""
    from exchange.demo.seed import seed

    svc = services()
    if not svc.settings.demo:
        click.echo("Refusé : les données de démonstration ne se créent qu'en mode démo.", err=True)
        sys.exit(1)
    created = seed(svc, only_if_empty=if_empty)
    click.echo("Données de démonstration créées." if created else
               "La base contient déjà des données : rien n'a été ajouté.")


@demo_cli.command("totp")
@click.argument("username")
def demo_totp(username: str) -> None:
    """Print the current second-factor code of a demo account."""
    from exchange.demo.seed import current_code

    svc = services()
    if not svc.settings.demo:
        click.echo("Refusé : cette commande n'existe qu'en mode démo.", err=True)
        sys.exit(1)
    code = current_code(svc, username)
    if code is None:
        click.echo("Compte de démonstration inconnu.", err=True)
        sys.exit(1)
    click.echo(code)
