"""`flask audit ...`: verify the chain, sign and export checkpoints, prune."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from exchange.audit import trail as audit
from exchange.platform.current import services

audit_cli = AppGroup("audit", help="Journal d'audit : vérification de la chaîne, points "
                     "de contrôle signés, purge.")


@audit_cli.command("verify")
@click.option("--checkpoint", "checkpoint", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Point de contrôle exporté (fichier texte) à confronter au journal.")
@click.option("--all-signatures", "every_signature", is_flag=True,
              help="Vérifier la signature de chaque point de contrôle, pas seulement celles "
                   "de la purge et du plus récent (plus lent).")
def audit_verify(checkpoint: Path | None, every_signature: bool) -> None:
    """Check the chain and every checkpoint (and an exported one); name the first mismatch."""
    from exchange.audit.checkpoints import verify_and_record

    svc = services()
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
    from exchange.audit.checkpoints import export_text, make_checkpoint

    svc = services()
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
    from exchange.audit.checkpoints import export_all

    svc = services()
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
    from exchange.audit.prune import prune, prune_all

    svc = services()
    if dry_run:
        with svc.db.unit_of_work() as session:
            reports = [prune(svc, session, dry_run=True)]
    else:
        reports = prune_all(svc)
    for report in reports:
        click.echo(report.describe())
    if not reports[-1].ok:
        sys.exit(2)
