"""Command line: `flask db|keys|audit|demo ...`, registered by the app factory."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from exchange import audit
from exchange.services import Services

db_cli = AppGroup("db", help="Base de données : migrations.")
keys_cli = AppGroup("keys", help="Clés : initialisation, rotation, export des clés publiques.")
audit_cli = AppGroup("audit", help="Journal d'audit : vérification de la chaîne, points "
                     "de contrôle signés, purge.")
demo_cli = AppGroup("demo", help="Données de démonstration (mode démo seulement).")


def _services() -> Services:
    value = current_app.extensions["liaison"]
    assert isinstance(value, Services)
    return value


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the latest revision."""
    from exchange.migrate import upgrade

    svc = _services()
    upgrade(svc.settings.database_url)
    click.echo("Base de données à jour.")


@keys_cli.command("init")
def keys_init() -> None:
    """Create the master key file (refuses to overwrite) and the platform's keys."""
    from exchange.keysetup import initialise_platform

    svc = _services()
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
    from exchange.keysetup import initialise_platform

    created = initialise_platform(_services())
    click.echo(f"Clés prêtes ({created} nouvelles).")


@keys_cli.command("rotate")
@click.option("--institution", "institution", required=True,
              help="Nom exact ou identifiant public de l'institution.")
def keys_rotate(institution: str) -> None:
    """Make a new version of an institution's keys current; older versions stay for opening."""
    from exchange.keysetup import rotate_institution

    try:
        version = rotate_institution(_services(), institution)
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
    from exchange.keysetup import export_public

    try:
        pem = export_public(_services(), institution)
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
    from exchange.keysetup import key_status

    for line in key_status(_services()):
        click.echo(line)


@audit_cli.command("verify")
@click.option("--checkpoint", "checkpoint", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Point de contrôle exporté (fichier texte) à confronter au journal.")
@click.option("--all-signatures", "every_signature", is_flag=True,
              help="Vérifier la signature de chaque point de contrôle, pas seulement celles "
                   "de la purge et du plus récent (plus lent).")
def audit_verify(checkpoint: Path | None, every_signature: bool) -> None:
    """Check the chain and every checkpoint (and an exported one); name the first mismatch."""
    from exchange.audit_checkpoints import verify_and_record

    svc = _services()
    text = None if checkpoint is None else checkpoint.read_text(encoding="utf-8",
                                                                errors="replace")
    with svc.db.unit_of_work() as session:
        result = verify_and_record(svc, session, text, every_signature=every_signature)
    click.echo(result.describe())
    if not result.ok:
        sys.exit(2)


@audit_cli.command("checkpoint")
@click.option("--out", "out", default=None,
              type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Fichier où écrire le point de contrôle exporté.")
def audit_checkpoint(out: Path | None) -> None:
    """Sign a checkpoint of the chain's head now; optionally export it to a file."""
    from exchange.audit_checkpoints import export_text, make_checkpoint

    svc = _services()
    with svc.db.unit_of_work() as session:
        row = make_checkpoint(svc, session, "manual")
        text = export_text(row)
    click.echo(f"Point de contrôle n° {row.id} signé : {row.seq} événements, "
               f"tête {row.head}.")
    if out is not None:
        out.write_text(text, encoding="utf-8")
        click.echo(f"Exporté dans {out} : conservez-le hors du serveur.")


@audit_cli.command("export-checkpoints")
@click.option("--dir", "directory", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Dossier où écrire un fichier par point de contrôle.")
def audit_export_checkpoints(directory: Path) -> None:
    """Write every checkpoint as a text file (those already there are kept)."""
    from exchange.audit_checkpoints import export_all

    svc = _services()
    with svc.db.unit_of_work() as session:
        written, present = export_all(session, directory)
        audit.record(session, "audit.exported", at=svc.clock.now(),
                     object_type="audit_checkpoint", object_id=str(written + present))
    click.echo(f"{written} point(s) de contrôle écrit(s) dans {directory} "
               f"({present} déjà présent(s)).")


@audit_cli.command("prune")
@click.option("--dry-run", is_flag=True, help="Dire ce qui serait purgé, sans rien supprimer.")
def audit_prune(dry_run: bool) -> None:
    """Delete the events past the log retention, leaving a signed checkpoint at the cut."""
    from exchange.audit_prune import prune, prune_all

    svc = _services()
    if dry_run:
        with svc.db.unit_of_work() as session:
            reports = [prune(svc, session, dry_run=True)]
    else:
        reports = prune_all(svc)
    for report in reports:
        click.echo(report.describe())
    if not reports[-1].ok:
        sys.exit(2)


@demo_cli.command("seed")
@click.option("--if-empty", is_flag=True,
              help="Ne rien faire si la base contient déjà des données.")
def demo_seed(if_empty: bool) -> None:
    """Create the demo institutions, units, conventions, users and keys."""
    from exchange.demo import seed

    svc = _services()
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
    from exchange.demo import current_code

    svc = _services()
    if not svc.settings.demo:
        click.echo("Refusé : cette commande n'existe qu'en mode démo.", err=True)
        sys.exit(1)
    code = current_code(svc, username)
    if code is None:
        click.echo("Compte de démonstration inconnu.", err=True)
        sys.exit(1)
    click.echo(code)


def init_cli(app: Flask) -> None:
    from exchange.backup_cli import backup_cli
    from exchange.notify_cli import notify_cli
    from exchange.retention_cli import retention_cli

    for group in (db_cli, keys_cli, audit_cli, demo_cli, notify_cli, retention_cli, backup_cli):
        app.cli.add_command(group)
