"""`flask keys ...`: the master key, the platform's and the institutions' keys."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from exchange.platform.current import services

keys_cli = AppGroup("keys", help="Clés : initialisation, rotation, export des clés publiques.")


@keys_cli.command("init")
def keys_init() -> None:
    """Create the master key file (refuses to overwrite) and the platform's keys."""
    from exchange.org.keysetup import initialise_platform

    svc = services()
    path = svc.settings.master_key_file
    if path.exists():
        click.echo(f"Refusé : {path} existe déjà ; une clé maîtresse n'est jamais écrasée.",
                   err=True)
        click.echo("Pour créer les clés manquantes avec la clé existante : flask keys ensure",
                   err=True)
        sys.exit(1)
    svc.open_master(create=True)
    click.echo(f"Clé maîtresse créée : {path} (droits 0600). Sauvegardez-la à part de la base.")
    created = initialise_platform(svc)
    click.echo(f"Clés de la plateforme prêtes ({created} nouvelles).")


@keys_cli.command("ensure")
def keys_ensure() -> None:
    """Create the platform's and every institution's missing keys with the existing master key."""
    from exchange.org.keysetup import initialise_platform

    created = initialise_platform(services())
    click.echo(f"Clés prêtes ({created} nouvelles).")


@keys_cli.command("rotate")
@click.option("--institution", "institution", required=True,
              help="Nom exact ou identifiant public de l'institution.")
def keys_rotate(institution: str) -> None:
    """Make a new version of an institution's keys current; older versions stay for opening."""
    from exchange.org.keysetup import rotate_institution

    try:
        version = rotate_institution(services(), institution)
    except LookupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    click.echo(f"Nouvelles clés en service (version {version}).")


@keys_cli.command("export-public")
@click.option("--institution", "institution", required=True)
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Fichier PEM à écrire (sinon la sortie standard).")
def keys_export_public(institution: str, out: Path | None) -> None:
    """Write an institution's public keys and certificate (PEM) for offline verification."""
    from exchange.org.keysetup import export_public

    try:
        pem = export_public(services(), institution)
    except LookupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    if out is None:
        click.echo(pem, nl=False)
    else:
        out.write_text(pem)
        click.echo(f"Clés publiques écrites dans {out}.")


@keys_cli.command("status")
def keys_status() -> None:
    """List every key: owner, purpose, version, current or not, certificate expiry."""
    from exchange.org.keysetup import key_status

    for line in key_status(services()):
        click.echo(line)
