"""The one hash rule, made fast, still gives the hashes the foundation's definition gave
(vectors computed with the original `event_hash` of commit cb9b017, field by field)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from exchange import audit

FIELDS = ("12", "2026-11-23T09:00:00.000000+00:00", "a1b2", None, "dpo", "audit.searched",
          "person", "f00d", "success", "127.0.0.1", None)
FIELDS_2 = ("1", "2026-01-01T00:00:00.123456+00:00", None, None, "system", "keys.initialised",
            "keys", "13", "success", None, None)


def test_vectors_of_the_original_definition() -> None:
    assert audit.event_hash("0" * 64, FIELDS) == (
        "df8d38d9ebf14a965cbad765003c396e263791853da011000cedbe2be3ee1aed")
    assert audit.event_hash("ab" * 32, FIELDS_2) == (
        "a1a821a6703708cbd458f199fc9ed433d574f2287ed1618aa3a7e254de026111")


def test_raw_values_hash_like_rendered_fields() -> None:
    """What SQLite returns (text), what PostgreSQL returns (an aware datetime, in the session's
    time zone) and what the model holds all give the same hash."""
    expected = audit.event_hash("0" * 64, FIELDS)
    paris = timezone(timedelta(hours=1))
    for at in ("2026-11-23 09:00:00.000000", datetime(2026, 11, 23, 9, tzinfo=UTC),
               datetime(2026, 11, 23, 10, tzinfo=paris)):
        assert audit.chain_hash("0" * 64, 12, at, *FIELDS[2:]) == expected


def test_none_and_empty_differ() -> None:
    base = list(FIELDS)
    base[10] = ""
    assert audit.event_hash("0" * 64, base) != audit.event_hash("0" * 64, FIELDS)
