"""`flask db ...` and `flask jobs ...`: the schema, and each periodic job run once."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from exchange.platform.current import services

db_cli = AppGroup("db", help="Base de données : migrations.")


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply the Alembic migrations up to the latest revision."""
    from exchange.platform.migrate import upgrade

    svc = services()
    upgrade(svc.settings.database_url)
    click.echo("Base de données à jour.")


jobs_cli = AppGroup("jobs", help="Tâches périodiques : les lister, en lancer une maintenant.")


@jobs_cli.command("list")
def jobs_list() -> None:
    """Every periodic job and its interval."""
    from exchange.platform.features import jobs

    for job in jobs():
        click.echo(f"{job.name}\ttoutes les {job.every_seconds} s")


@jobs_cli.command("run")
@click.argument("name")
def jobs_run(name: str) -> None:
    """Run one periodic job once (for hosts that schedule the jobs with timers)."""
    from exchange.platform.features import job_function, jobs

    found = [job for job in jobs() if job.name == name]
    if not found:
        click.echo(f"Tâche inconnue : {name}. Voir : flask jobs list", err=True)
        sys.exit(1)
    job_function(found[0])(services())
    click.echo(f"Tâche {name} terminée.")
