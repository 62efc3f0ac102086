"""The demo data."""

from __future__ import annotations

from exchange.platform.features import Feature

FEATURE = Feature(
    name="demo",
    cli=(
        "exchange.demo.cli:demo_cli",
    ),
)
