"""Adapters between the database and the framework-free packages."""
