"""Loading the signed-in agent for Flask-Login: one reading, one joined query."""

from __future__ import annotations

from exchange.acting import Agent, load_agent
from exchange.platform.current import services


def load_user(user_id: str) -> Agent | None:
    try:
        key = int(user_id)
    except ValueError:
        return None
    with services().db.reading() as session:
        return load_agent(session, key)
