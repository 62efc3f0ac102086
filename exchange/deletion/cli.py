"""`flask retention run|reports`: the same sweep as the scheduler's, by hand."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, time
from pathlib import Path

import click
from flask.cli import AppGroup

from exchange.domain.clock import PARIS
from exchange.platform.current import services
from exchange.platform.services import Services

retention_cli = AppGroup("retention", help="Conservation : purge des données échues, rapports "
                                           "de suppression signés.")


def moment(day: str | None, svc: Services) -> datetime:
    """``--now YYYY-MM-DD`` as noon in Paris that day; the service clock otherwise."""
    if day is None:
        return svc.clock.now()
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise click.BadParameter("date attendue au format AAAA-MM-JJ", param_hint="--now") \
            from None
    return datetime.combine(parsed, time(12, 0), PARIS).astimezone(UTC)


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True,
              help="Montrer ce qui serait supprimé, sans rien supprimer ni écrire.")
@click.option("--now", "now", default=None, metavar="AAAA-MM-JJ",
              help="Appliquer les règles comme à cette date (essais, rattrapage).")
def retention_run(dry_run: bool, now: str | None) -> None:
    """Delete everything whose retention horizon is past (one sweep at a time)."""
    from retention.sweep import run_sweep

    svc = services()
    result = run_sweep(svc, moment(now, svc), dry_run=dry_run)
    click.echo(result.describe())
    if dry_run:
        for item in result.deleted:
            click.echo(f"  {item['kind']} {item['id']} horizon {item['horizon']} "
                       f"({item['rule']})")
        for item in result.skipped_hold:
            click.echo(f"  conservé : {item['kind']} {item['id']} ({item['reason']})")
    if result.status == "busy":
        sys.exit(3)
    if result.errors:
        sys.exit(2)


@retention_cli.command("reports")
@click.option("--export", "export", default=None, metavar="ID",
              help="Identifiant du rapport à écrire (JSON signé).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), default=None)
def retention_reports(export: str | None, out: Path | None) -> None:
    """List the signed deletion reports, checking each signature; or export one."""
    from keys.errors import SignatureInvalid
    from retention.reports import report_by_public_id, reports, verify_report

    svc = services()
    with svc.db.unit_of_work() as session:
        keystore = svc.keystore(session)
        if export is not None:
            report = report_by_public_id(session, export)
            if report is None:
                click.echo("Rapport inconnu.", err=True)
                sys.exit(1)
            if out is None:
                click.echo(report.signed.decode("utf-8"))
            else:
                out.write_bytes(report.signed)
                click.echo(f"Rapport écrit dans {out}.")
            return
        rows = reports(session)
        if not rows:
            click.echo("Aucun rapport de suppression.")
        for report in rows:
            try:
                verify_report(keystore, report.signed)
                status = "signature valide"
            except SignatureInvalid:
                status = "SIGNATURE INVALIDE"
            click.echo(f"{report.run_at.isoformat(timespec='seconds')}  {report.public_id}  "
                       f"{report.deleted_count} supprimé(s), {report.skipped_count} conservé(s), "
                       f"{report.error_count} erreur(s) — {status}")
