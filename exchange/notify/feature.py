"""E-mail notifications through the outbox."""

from __future__ import annotations

from exchange.platform.features import Feature, Job

FEATURE = Feature(
    name="notify",
    cli=(
        "exchange.notify.cli:notify_cli",
    ),
    jobs=(
        Job("deliver-notifications", "exchange.notify.tasks:deliver_notifications", 60),
    ),
)
