"""Command line: `flask notify send|status`, the e-mail outbox."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from exchange.notify import outbox as notify
from exchange.platform.current import services

notify_cli = AppGroup("notify", help="Notifications par courriel : envoi et état de la file.")


@notify_cli.command("send")
@click.option("--batch", default=50, show_default=True, type=click.IntRange(min=1),
              help="Nombre de notifications traitées par lot.")
def notify_send(batch: int) -> None:
    """Send every due notification now, batch after batch, and print the counts."""
    svc = services()
    mailer = notify.Mailer.from_settings(svc.settings)
    now = svc.clock.now()
    report = notify.DeliveryReport()
    # Every row a batch touches leaves the due set (sent, or rescheduled after `now`), so the
    # loop ends; a short batch means nothing was left.
    while True:
        part = notify.deliver_pending(svc.db, mailer, now, batch=batch)
        report.add(part)
        if not part.enabled or part.interrupted or part.attempted + part.skipped < batch:
            break
    click.echo(report.describe())


@notify_cli.command("status")
def notify_status() -> None:
    """Count the notifications waiting, scheduled for another try, sent and given up."""
    svc = services()
    with svc.db.unit_of_work() as session:
        result = notify.status(session, svc.clock.now(), enabled=bool(svc.settings.smtp_host))
    for line in result.describe():
        click.echo(line)
