"""Tests of the framework-free core (no Flask, no database)."""
