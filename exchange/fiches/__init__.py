"""Use cases of the fiche's life: draft, sign, countersign, send, open, acknowledge, decide,
recall, cancel, and the accompaniment an accepted orientation starts.

Each use case runs inside the caller's unit of work: it checks the transition with the domain,
seals and signs through `keys/`, writes its audit event through the one audit function, and
leaves the commit to the caller, so that a failure at any step leaves nothing behind.
"""
