"""Liaison's cryptographic core: master key, key store, retention-epoch keys,
sealed envelopes, signed manifests, encrypted personal fields and PAdES.

Framework-free: imports only the standard library, ``cryptography`` and,
in :mod:`keys.pades` only, pyHanko.  Formats are specified in
keys/README.md.
"""
