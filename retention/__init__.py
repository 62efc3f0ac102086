"""Retention: deletion horizons, the sweep that enforces them, deletion reports."""
