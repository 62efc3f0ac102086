"""The one hash rule: unkeyed, it still gives the hashes the foundation's definition gave
(vectors computed with the original `event_hash` of commit cb9b017, field by field); keyed,
it is HMAC-SHA256 of the same message, and the fast walk's HMAC is RFC 2104's (RFC 4231
vectors)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta, timezone

from exchange.audit import trail as audit
from exchange.audit import walk as audit_walk

FIELDS = ("12", "2026-11-23T09:00:00.000000+00:00", "a1b2", None, "dpo", "audit.searched",
          "person", "f00d", "success", "127.0.0.1", None)
FIELDS_2 = ("1", "2026-01-01T00:00:00.123456+00:00", None, None, "system", "keys.initialised",
            "keys", "13", "success", None, None)


def test_vectors_of_the_original_definition() -> None:
    assert audit.event_hash("0" * 64, FIELDS, key=None) == (
        "df8d38d9ebf14a965cbad765003c396e263791853da011000cedbe2be3ee1aed")
    assert audit.event_hash("ab" * 32, FIELDS_2, key=None) == (
        "a1a821a6703708cbd458f199fc9ed433d574f2287ed1618aa3a7e254de026111")


def test_raw_values_hash_like_rendered_fields() -> None:
    """What SQLite returns (text), what PostgreSQL returns (an aware datetime, in the session's
    time zone) and what the model holds all give the same hash."""
    paris = timezone(timedelta(hours=1))
    for key in (None, KEY):
        expected = audit.event_hash("0" * 64, FIELDS, key=key)
        for at in ("2026-11-23 09:00:00.000000", datetime(2026, 11, 23, 9, tzinfo=UTC),
                   datetime(2026, 11, 23, 10, tzinfo=paris)):
            assert audit.chain_hash("0" * 64, 12, at, *FIELDS[2:], key=key) == expected


def test_none_and_empty_differ() -> None:
    base = list(FIELDS)
    base[10] = ""
    for key in (None, KEY):
        assert audit.event_hash("0" * 64, base, key=key) != audit.event_hash(
            "0" * 64, FIELDS, key=key)


KEY = bytes(range(32))
MESSAGE = "\x1f".join(("0" * 64, *("\x00" if f is None else f for f in FIELDS))).encode()


def test_keyed_rule_is_hmac_sha256_of_the_same_message() -> None:
    assert hashlib.sha256(MESSAGE).hexdigest() == audit.event_hash("0" * 64, FIELDS, key=None)
    keyed = audit.event_hash("0" * 64, FIELDS, key=KEY)
    assert keyed == hmac.new(KEY, MESSAGE, "sha256").hexdigest()
    assert keyed != audit.event_hash("0" * 64, FIELDS, key=bytes(32))


# RFC 4231, section 4: test cases 1, 2, 6 (a key longer than the block) and 7.
RFC_4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131, b"This is a test using a larger than block-size key and a larger than "
     b"block-size data. The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]


def test_fast_walk_mac_matches_rfc_4231() -> None:
    for key, data, expected in RFC_4231:
        mac = audit_walk.Mac(key)
        assert mac(data) == expected
        assert mac.hexdigests([data, data]) == [expected, expected]


def test_audit_keys_are_the_documented_sub_keys_of_the_master_key() -> None:
    """keys/README.md: HKDF-SHA256 (no salt, 32 bytes) of the master key with these labels."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from keys.master import MasterKey

    raw = bytes(range(100, 132))
    master = MasterKey(raw)
    for key, info in ((master.audit_chain_key(), b"liaison/v1/master/audit-chain"),
                      (master.audit_anchor_key(), b"liaison/v1/master/audit-anchor")):
        expected = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(raw)
        assert key == expected
    assert master.audit_chain_key() != MasterKey(bytes(32)).audit_chain_key()
