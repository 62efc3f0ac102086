"""Loading the signed-in user for Flask-Login, and what an account does at sign-in."""

from __future__ import annotations

from flask_login import UserMixin
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from exchange.accounts.models import User
from exchange.org.models import Unit
from exchange.platform.current import services


class SignedIn(UserMixin):
    """A detached snapshot of the signed-in user, safe to use outside a transaction."""

    def __init__(self, user: User) -> None:
        self.id = user.id
        self.public_id = user.public_id
        self.username = user.username
        self.display_name = user.display_name
        self.roles = user.roles
        self.must_change_password = user.must_change_password
        self.unit_id = user.unit_id
        self.unit = user.unit
        self.institution = user.unit.institution

    def get_id(self) -> str:
        return str(self.id)

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))


def load_user_row(session: Session, user_id: int) -> User | None:
    # Every request loads its user once or more: one joined query, not four.
    return session.execute(
        select(User)
        .where(User.id == user_id)
        .options(joinedload(User.role_rows), joinedload(User.unit).joinedload(Unit.institution))
    ).unique().scalar_one_or_none()


def load_user(user_id: str) -> SignedIn | None:
    try:
        key = int(user_id)
    except ValueError:
        return None
    with services().db.reading() as session:
        user = load_user_row(session, key)
        if user is None or not user.active or user.totp_enrolled_at is None:
            return None
        return SignedIn(user)
