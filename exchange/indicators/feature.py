"""Steering indicators, from de-identified facts."""

from __future__ import annotations

from exchange.platform.features import Feature

FEATURE = Feature(
    name="indicators",
    blueprints=(
        "exchange.indicators.views:coordinator",
        "exchange.indicators.views:unit",
    ),
    roles={
        "coordinator": frozenset({"coordinator"}),
        "unit_indicators": frozenset({"unit_manager"}),
    },
    actions={
        "indicators.viewed": "Indicateurs consultés",
        "indicators.exported": "Indicateurs exportés",
        "report.downloaded": "Bilan annuel téléchargé",
    },
)
