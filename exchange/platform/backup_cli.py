"""`flask backup create|verify|restore`: the commands of exchange/platform/backup.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from exchange.platform.backup import NOT_INCLUDED, BackupError, create, restore, verify
from exchange.platform.current import services

backup_cli = AppGroup("backup", help="Sauvegardes : base et fichiers chiffrés dans un seul "
                      "fichier ; restauration dans un déploiement vide.")


@backup_cli.command("create")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Fichier de sauvegarde à écrire (jamais écrasé).")
def backup_create(out: Path) -> None:
    """Write a consistent backup: database snapshot, blob store, manifest with SHA-256."""
    try:
        report = create(services(), out)
    except BackupError as exc:
        click.echo(f"Sauvegarde impossible : {exc}", err=True)
        sys.exit(1)
    click.echo(report.describe())
    click.echo(NOT_INCLUDED)


@backup_cli.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_verify(path: Path) -> None:
    """Check every member of a backup against its manifest, without restoring anything."""
    try:
        manifest = verify(path)
    except BackupError as exc:
        click.echo(f"Sauvegarde refusée : {exc}", err=True)
        sys.exit(2)
    click.echo(f"Sauvegarde intègre : {len(manifest['members'])} membre(s), créée le "
               f"{manifest['created_at']}, révision {manifest['database']['revision']}.")


@backup_cli.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def backup_restore(path: Path) -> None:
    """Restore a backup into this deployment, which must be empty."""
    try:
        report = restore(services(), path)
    except BackupError as exc:
        click.echo(str(exc), err=True)
        sys.exit(2)
    click.echo(report.describe())
    click.echo("Les fiches s'ouvrent avec la clé maîtresse et le dossier des clés d'époque "
               "de ce serveur, restaurés à part.")
