"""Accounts' security: passwords, second factor, throttling, server-side sessions, headers."""
