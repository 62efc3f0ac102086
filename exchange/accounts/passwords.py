"""Password policy and argon2id hashing.

The policy follows NIST SP 800-63B and the ANSSI: a length floor, no composition rules, and a
refusal of passwords found in a bundled list of common ones.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 12
MAX_LENGTH = 256
_LIST = Path(__file__).with_name("common_passwords.txt")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    lines = _LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def policy_problem(password: str, *, username: str = "") -> str | None:
    """The French reason a password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"Le mot de passe doit contenir au moins {MIN_LENGTH} caractères."
    if len(password) > MAX_LENGTH:
        return f"Le mot de passe ne peut dépasser {MAX_LENGTH} caractères."
    folded = password.casefold()
    if folded in common_passwords():
        return ("Ce mot de passe figure dans une liste de mots de passe courants : "
                "choisissez-en un autre.")
    if username and username.casefold() in folded:
        return "Le mot de passe ne doit pas contenir l'identifiant."
    return None


class Passwords:
    """argon2id with parameters from the settings (cheap ones only in tests)."""

    def __init__(self, *, time_cost: int, memory_kib: int, parallelism: int) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism
        )
        self._dummy = self._hasher.hash("not-a-password-of-anyone")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Constant work whether or not the account exists."""
        try:
            return self._hasher.verify(stored or self._dummy, password) and stored is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)
