"""Signed checkpoints of the audit chain, their export as text files, their schedule, and the
verification of the chain against them and against the anchor kept outside the database.

A checkpoint is the platform's Ed25519 signature (`keys.manifest.sign_platform`) over::

    {"type": "audit-checkpoint", "seq": <events in the chain>, "head": <hash of event seq>,
     "at": <ISO 8601 UTC>, "kind": "periodic" | "manual" | "prune",
     "number": <1 for the first checkpoint written, then one more for each>,
     "keyed_from": <the first event chained by HMAC, `AuditHead.keyed_from`>}

Checkpoints signed before the chain was keyed lack "number" and "keyed_from" (format 1); the
first one signed after numbers itself after all of them. A number counts every checkpoint
ever written (none is ever deleted): the newest one's number must equal the number of rows.

"periodic" ones are taken by the scheduler every `audit_checkpoint_hours` (1 by default) when
the chain grew, "manual" ones on demand (`flask audit checkpoint`, the DPO's page), and a
"prune" one marks the cut below which a purge deleted the events: what remains starts at its
seq + 1 with its head as previous hash. Taking a checkpoint first records its own
"audit.checkpoint" event, so that the checkpoint covers it. On an idle chain the scheduler
signs the unchanged head again once the newest checkpoint is half an interval old, without an
event: the chain does not grow, and the newest checkpoint is never much older than the
interval. Verification fails when it is older than three intervals (a missed run or a restart
is tolerated): whoever deletes the newest checkpoints to cut the log back to an older one
must also stop time.

Export format (version 1), one checkpoint per UTF-8 text file, LF line ends, meant to be
copied off the server and brought back to `flask audit verify --checkpoint FILE`::

    Liaison audit checkpoint v1
    seq: 1234
    head: 3e0a…(64 hex)
    at: 2026-11-23T09:00:00.000000+00:00
    kind: periodic
    key-id: <id of the platform-signing key version>
    key-version: 1
    payload: <base64 of the signed canonical JSON above>
    signature: <base64 of the Ed25519 signature over "liaison/v1/platform\\0" || payload>

The first line is exactly the header; then exactly these fields, in this order, as
"name: value". Lines starting with "#" and blank lines are ignored. The readable fields are
for people: on import they must equal the signed payload, which alone is trusted (it also
holds the number and where the keyed chain starts).

Verification (`verify_chain_and_checkpoints`) takes the latest purge checkpoint as the start of
the chain, walks the events from there (keyed from the "keyed_from" the newest checkpoint
signs), and compares each checkpoint's head with the hash found at its seq. It checks the
signatures of the purge checkpoint, of the one with the highest seq (whose signed head
vouches, through the chain, for every event before it) and of the newest one (whose number
and "keyed_from" it uses), and every signature as soon as something does not match, or when
asked (`flask audit verify --all-signatures`). A checkpoint whose seq lies before the purge
cut is reported "antérieur à la purge": nothing remains to compare it with, which is not a
failure. A checkpoint beyond the end of the log means the log was truncated; a different hash
at its seq, that the log was rewritten. It also fails when:

- the newest checkpoint's number is not the number of checkpoint rows (rows deleted, or a
  signed row stored twice);
- events chained by plain SHA-256 (before the chain was keyed, which anyone can recompute) lie
  beyond every signed checkpoint, or the head row's `keyed_from` is not the signed one;
- the newest checkpoint is older than three scheduler intervals (with no checkpoint at all:
  the log's first event is);
- the anchor (`exchange.audit.anchor`) is not authentic, lies beyond the end of the log, names
  another hash at its seq, or counts more checkpoints than the table holds.

The report names the first event or checkpoint, in sequence order, that does not match.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange.audit import anchor as audit_anchor
from exchange.audit import trail as audit
from exchange.audit.anchor import Anchor, AnchorInvalid
from exchange.audit.models import AuditCheckpoint, AuditEvent, AuditHead
from exchange.platform.keyrecord_models import PlatformValue
from exchange.platform.services import Services
from keys.errors import KeyNotFound, SignatureInvalid
from keys.manifest import (
    SignedManifest,
    canonical,
    parse_canonical,
    sign_platform,
    verify_platform,
    verify_with_key,
)
from keys.store import KeyStore

log = logging.getLogger("liaison.audit")

KINDS = ("periodic", "manual", "prune")
DOCUMENT_TYPE = "audit-checkpoint"
HEADER = "Liaison audit checkpoint v1"
FIELDS = ("seq", "head", "at", "kind", "key-id", "key-version", "payload", "signature")
LAST_VERIFICATION = "audit-last-verification"
_HEX = frozenset("0123456789abcdef")

KIND_LABELS = {"periodic": "périodique", "manual": "à la demande", "prune": "purge"}
STALE_INTERVALS = 3
"""Verification fails when the newest checkpoint is older than this many scheduler
intervals."""


class CheckpointInvalid(ValueError):
    """A checkpoint (row or file) is malformed or its signature does not verify."""


@dataclass(frozen=True)
class Document:
    """The fields of a signed checkpoint; `number` and `keyed_from` are None in format 1."""

    seq: int
    head: str
    at: str
    kind: str
    number: int | None = None
    keyed_from: int | None = None


@dataclass(frozen=True)
class Checkpoint:
    """A verified checkpoint: the signed document's fields, and where it came from."""

    seq: int
    head: str
    at: str
    kind: str
    signed: SignedManifest
    row_id: int | None = None
    number: int | None = None
    keyed_from: int | None = None

    @property
    def name(self) -> str:
        if self.row_id is None:
            return f"le point de contrôle exporté (événement n° {self.seq})"
        return f"le point de contrôle n° {self.row_id} (événement n° {self.seq})"


def checkpoint_document(seq: int, head: str, at: datetime, kind: str, *, number: int,
                        keyed_from: int) -> dict[str, Any]:
    return {"type": DOCUMENT_TYPE, "seq": seq, "head": head, "at": audit.format_at(at),
            "kind": kind, "number": number, "keyed_from": keyed_from}


_FORMAT_1 = frozenset({"type", "seq", "head", "at", "kind"})
_FORMAT_2 = _FORMAT_1 | {"number", "keyed_from"}


def _positive(value: Any) -> bool:
    return type(value) is int and value >= 1


def _checked_document(document: dict[str, Any]) -> Document:
    if set(document) not in (_FORMAT_1, _FORMAT_2):
        raise CheckpointInvalid("le document signé n'est pas un point de contrôle")
    seq, head, at, kind = document["seq"], document["head"], document["at"], document["kind"]
    number, keyed_from = document.get("number"), document.get("keyed_from")
    if (document["type"] != DOCUMENT_TYPE or type(seq) is not int or seq < 0
            or not isinstance(head, str) or len(head) != 64 or not set(head) <= _HEX
            or not isinstance(at, str) or kind not in KINDS
            or (set(document) == _FORMAT_2
                and not (_positive(number) and _positive(keyed_from)))):
        raise CheckpointInvalid("le document signé n'est pas un point de contrôle")
    try:
        datetime.fromisoformat(at)
    except ValueError:
        raise CheckpointInvalid("le document signé n'est pas un point de contrôle") from None
    return Document(seq, head, at, kind, number, keyed_from)


class _Signatures:
    """Verifies platform signatures, the first one of each key version through the key store
    (owner, purpose, version, deletion), the next ones with the public key it gave."""

    def __init__(self, keystore: KeyStore) -> None:
        self.keystore = keystore
        self._keys: dict[tuple[str, int], ed25519.Ed25519PublicKey] = {}

    def check(self, signed: SignedManifest) -> Document:
        known = self._keys.get((signed.key_id, signed.key_version))
        try:
            if known is not None:
                document = verify_with_key(known, signed, platform=True)
            else:
                document = verify_platform(self.keystore, signed)
                public = self.keystore.records.get(signed.key_id).public
                if public is not None:
                    self._keys[(signed.key_id, signed.key_version)] = (
                        ed25519.Ed25519PublicKey.from_public_bytes(public))
        except (SignatureInvalid, KeyNotFound) as exc:
            raise CheckpointInvalid(f"signature invalide ({exc})") from None
        return _checked_document(document)


def _from_row(signatures: _Signatures, row: Any) -> Checkpoint:
    try:
        signed = SignedManifest.from_bytes(row.signed)
    except SignatureInvalid:
        raise CheckpointInvalid("contenu signé illisible") from None
    document = signatures.check(signed)
    if (row.seq, row.head, row.kind) != (document.seq, document.head, document.kind):
        raise CheckpointInvalid("ses colonnes ne correspondent pas au contenu signé")
    return _checkpoint(document, signed, row.id)


def _checkpoint(document: Document, signed: SignedManifest,
                row_id: int | None = None) -> Checkpoint:
    return Checkpoint(document.seq, document.head, document.at, document.kind, signed, row_id,
                      document.number, document.keyed_from)


def _unverified_number(signed: bytes) -> int | None:
    """The number a stored checkpoint says it has, without checking its signature."""
    try:
        document = parse_canonical(SignedManifest.from_bytes(signed).payload)
        return _checked_document(document).number if isinstance(document, dict) else None
    except (SignatureInvalid, CheckpointInvalid, ValueError):
        return None


# -- taking checkpoints ----------------------------------------------------------------------


def lock_head(session: Session) -> AuditHead:
    """The head row, locked: appends and other checkpoints wait (SQLite transactions are
    already exclusive, BEGIN IMMEDIATE)."""
    head = session.scalars(
        select(AuditHead).where(AuditHead.id == 1).with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if head is None:
        raise RuntimeError("the audit head row is missing: run the migrations")
    return head


def next_number(session: Session) -> int:
    """The number of the next checkpoint: one more than the rows, or than the newest row's
    number if that is higher (rows were deleted: the gap must not close)."""
    count = session.scalar(select(func.count()).select_from(AuditCheckpoint)) or 0
    newest = session.scalar(select(AuditCheckpoint.signed)
                            .order_by(AuditCheckpoint.id.desc()).limit(1))
    number = None if newest is None else _unverified_number(newest)
    return max(count, number or 0) + 1


def write_checkpoint(svc: Services, session: Session, kind: str, seq: int,
                     head: str) -> AuditCheckpoint:
    """Sign and store a checkpoint of (seq, head) as given; callers hold the head lock."""
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    now = svc.clock.now()
    number = next_number(session)
    keyed_from = session.scalar(select(AuditHead.keyed_from).where(AuditHead.id == 1))
    assert keyed_from is not None
    signed = sign_platform(svc.keystore(session), checkpoint_document(
        seq, head, now, kind, number=number, keyed_from=keyed_from))
    row = AuditCheckpoint(seq=seq, head=head, kind=kind, created_at=now,
                          signed=signed.to_bytes())
    session.add(row)
    session.flush()
    audit_anchor.note(session, seq=seq, head=head, checkpoints=number)
    return row


def make_checkpoint(svc: Services, session: Session, kind: str, *,
                    actor: audit.Actor = audit.SYSTEM,
                    address: str | None = None) -> AuditCheckpoint:
    """Record the "audit.checkpoint" event, then sign the head that includes it."""
    if kind not in ("periodic", "manual"):
        raise ValueError("a purge checkpoint is taken by the purge, at its cut")
    lock_head(session)
    audit.record(session, "audit.checkpoint", at=svc.clock.now(), actor=actor,
                 object_type="audit_chain", object_id=kind, address=address)
    head = session.get(AuditHead, 1, populate_existing=True)
    assert head is not None
    return write_checkpoint(svc, session, kind, head.seq, head.hash)


def checkpoint_if_grown(svc: Services, session: Session) -> AuditCheckpoint | None:
    """A periodic checkpoint, unless no event was appended since the last checkpoint."""
    head = lock_head(session)
    last = session.scalar(select(func.max(AuditCheckpoint.seq)))
    if last is not None and head.seq <= last:
        return None
    return make_checkpoint(svc, session, "periodic")


def checkpoint_if_due(svc: Services, session: Session) -> AuditCheckpoint | None:
    """The scheduler's checkpoint: a periodic one when the chain grew; on an idle chain, the
    unchanged head signed again, without an event, once the newest checkpoint is half an
    interval old (module docstring); otherwise nothing."""
    grown = checkpoint_if_grown(svc, session)
    if grown is not None:
        return grown
    newest = latest(session)
    if newest is not None and newest.created_at > svc.clock.now() - interval(svc) / 2:
        return None
    head = lock_head(session)
    return write_checkpoint(svc, session, "periodic", head.seq, head.hash)


def interval(svc: Services) -> timedelta:
    """How often the scheduler signs a checkpoint."""
    return timedelta(hours=svc.settings.audit_checkpoint_hours)


def max_age(svc: Services) -> timedelta:
    """How old the newest checkpoint may be before verification fails."""
    return STALE_INTERVALS * interval(svc)


def latest(session: Session) -> AuditCheckpoint | None:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)).first()


def purge_base(session: Session) -> AuditCheckpoint | None:
    """The stored purge checkpoint with the highest seq (unverified: verification checks it)."""
    return session.scalars(
        select(AuditCheckpoint).where(AuditCheckpoint.kind == "prune")
        .order_by(AuditCheckpoint.seq.desc(), AuditCheckpoint.id.desc()).limit(1)).first()


# -- export ------------------------------------------------------------------------------------


def export_text(row_or_signed: AuditCheckpoint | SignedManifest) -> str:
    """The export file of a checkpoint (format in the module docstring)."""
    signed = (row_or_signed if isinstance(row_or_signed, SignedManifest)
              else SignedManifest.from_bytes(row_or_signed.signed))
    document = _checked_document(parse_canonical(signed.payload))
    values = (str(document.seq), document.head, document.at, document.kind, signed.key_id,
              str(signed.key_version),
              base64.b64encode(signed.payload).decode("ascii"),
              base64.b64encode(signed.signature).decode("ascii"))
    lines = [HEADER, *(f"{name}: {value}" for name, value in zip(FIELDS, values, strict=True))]
    return "\n".join(lines) + "\n"


def export_filename(row: AuditCheckpoint) -> str:
    return f"liaison-audit-checkpoint-{row.seq:012d}-{row.kind}-{row.id}.txt"


def export_all(session: Session, directory: Path) -> tuple[int, int]:
    """Write every stored checkpoint to `directory`: (written, already there)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = present = 0
    for row in session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)):
        path = directory / export_filename(row)
        text = export_text(row)
        if path.exists() and path.read_text(encoding="utf-8") == text:
            present += 1
            continue
        path.write_text(text, encoding="utf-8")
        written += 1
    return written, present


def parse_export(text: str) -> SignedManifest:
    """The signed checkpoint of an export file; CheckpointInvalid if the file is not exactly
    in the format, or its readable fields differ from what is signed."""
    lines = [line.rstrip("\r") for line in text.split("\n")]
    lines = [line for line in lines if line.strip() and not line.startswith("#")]
    if not lines or lines[0] != HEADER:
        raise CheckpointInvalid(f"ce fichier n'est pas un point de contrôle (en-tête "
                                f"« {HEADER} » attendu)")
    if len(lines) != 1 + len(FIELDS):
        raise CheckpointInvalid("ce fichier de point de contrôle est incomplet ou a des lignes "
                                "en trop")
    values: dict[str, str] = {}
    for name, line in zip(FIELDS, lines[1:], strict=True):
        prefix = f"{name}: "
        if not line.startswith(prefix):
            raise CheckpointInvalid(f"ligne « {name}: » attendue")
        values[name] = line[len(prefix):]
    try:
        signed = SignedManifest(
            payload=base64.b64decode(values["payload"], validate=True),
            signature=base64.b64decode(values["signature"], validate=True),
            key_id=values["key-id"], key_version=int(values["key-version"]))
        document = parse_canonical(signed.payload)
        if not isinstance(document, dict):
            raise ValueError("payload is not an object")
    except (ValueError, TypeError, binascii.Error):
        raise CheckpointInvalid("contenu signé illisible") from None
    checked = _checked_document(document)
    if (values["seq"], values["head"], values["at"], values["kind"]) != (
            str(checked.seq), checked.head, checked.at, checked.kind):
        raise CheckpointInvalid("les champs lisibles diffèrent du contenu signé")
    return signed


# -- verification ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    events: int
    checkpoints: int
    before_purge: int
    base: int
    head: int
    first_bad_seq: int | None = None
    culprit: str = ""
    reason: str = ""
    note: str = ""
    signatures: int = 0
    every_signature: bool = False

    def describe(self) -> str:
        if not self.ok:
            return f"Journal d'audit NON intègre : {self.culprit} — {self.reason}"
        parts = [f"Chaîne d'audit intègre : {self.events} événements vérifiés"]
        if self.base:
            parts.append(f"depuis la purge au n° {self.base}")
        text = ", ".join(parts)
        text += (f" ; {self.checkpoints} point(s) de contrôle concordant(s)"
                 f", {self.before_purge} antérieur(s) à la purge ; ")
        text += ("toutes leurs signatures vérifiées." if self.every_signature else
                 f"{self.signatures} signature(s) vérifiée(s) (purge, plus récent).")
        return text + (f" {self.note}" if self.note else "")


@dataclass(frozen=True)
class _Problem:
    seq: int
    culprit: str
    reason: str


@dataclass(frozen=True)
class Outside:
    """What the database alone cannot vouch for: the time now and how old the newest
    checkpoint may be, and the anchor (None: there is none yet; `anchor_problem`: it is there
    but not authentic)."""

    now: datetime
    max_age: timedelta
    anchor: Anchor | None
    anchor_problem: str | None = None


def outside_of(svc: Services, session: Session) -> Outside:
    """Read the anchor before the database: another process commits and then anchors, so an
    anchor read first never lies beyond what the database then shows."""
    binding = audit_anchor.binding_of(session)
    try:
        anchor, problem = binding.read(), None
    except AnchorInvalid as exc:
        anchor, problem = None, str(exc)
    except OSError as exc:
        anchor, problem = None, f"ancre illisible ({exc.strerror})"
    return Outside(svc.clock.now(), max_age(svc), anchor, problem)


def verify_chain_and_checkpoints(session: Session, keystore: KeyStore, *,
                                 stop: int | None = None, every_signature: bool = False,
                                 outside: Outside | None = None) -> ChainReport:
    """The stored chain against every stored checkpoint (module docstring), and against the
    schedule and the anchor when `outside` is given. With `stop`, only the events up to
    `stop` and the checkpoints up to it (the purge checks what it cuts)."""
    return _Verifier(session, _Signatures(keystore), (), stop, outside).run(every_signature)


def verify_against_exported(session: Session, keystore: KeyStore, text: str, *,
                            every_signature: bool = False,
                            outside: Outside | None = None) -> ChainReport:
    """The stored chain and checkpoints, and the exported checkpoint `text` (truncation: the
    log ends before its seq; rewriting: the hash at its seq differs). An exported checkpoint
    must also still be among the stored ones, which nothing may delete."""
    signatures = _Signatures(keystore)
    try:
        signed = parse_export(text)
        document = signatures.check(signed)
    except CheckpointInvalid as exc:
        return ChainReport(False, 0, 0, 0, 0, 0, None, "le fichier de point de contrôle",
                           str(exc))
    exported = _checkpoint(document, signed)
    seq, at = exported.seq, exported.at
    report = _Verifier(session, signatures, [exported], None, outside).run(every_signature)
    stored = signed.to_bytes()
    if report.ok and not session.scalar(
            select(func.count()).select_from(AuditCheckpoint)
            .where(AuditCheckpoint.signed == stored)):
        return replace(report, ok=False, first_bad_seq=seq, culprit=exported.name,
                       reason="il ne figure plus parmi les points de contrôle de la base : "
                              "la table des points de contrôle a été modifiée")
    if report.ok:
        where = ("antérieur à la purge : les événements qu'il couvre ont été purgés, rien ne "
                 "reste à comparer" if seq < report.base else "concordant")
        note = f"Point de contrôle exporté (événement n° {seq}, {at}) : {where}."
        return replace(report, note=" ".join(filter(None, (note, report.note))))
    return report


class _Verifier:
    """One verification. Ed25519 costs far more than hashing an event, and a year of hourly
    checkpoints is some 8,760 of them, so by default only the signatures that carry the
    proof are checked: the purge checkpoint the chain starts from, the checkpoint with the
    highest seq, whose signed head authenticates, through the chain, every event before it,
    and the newest one, whose number counts the rows and which says where the keyed chain
    starts. Every checkpoint's head is still compared with the chain. As soon as anything does
    not match, every signature is checked, so that the first culprit is named correctly (a
    forged checkpoint row, rather than a rewritten log). `every_signature` checks them all
    anyway."""

    def __init__(self, session: Session, signatures: _Signatures,
                 exported: Sequence[Checkpoint], stop: int | None,
                 outside: Outside | None) -> None:
        self.session = session
        self.signatures = signatures
        self.exported = list(exported)
        self.stop = stop
        self.outside = outside
        self.all_rows = session.execute(
            select(AuditCheckpoint.id, AuditCheckpoint.seq, AuditCheckpoint.head,
                   AuditCheckpoint.kind, AuditCheckpoint.signed)
            .order_by(AuditCheckpoint.id)).all()
        self.rows = sorted((row for row in self.all_rows if stop is None or row.seq <= stop),
                           key=lambda row: (row.seq, row.id))
        self.head_seq, self.head_keyed_from = session.execute(
            select(AuditHead.seq, AuditHead.keyed_from).where(AuditHead.id == 1)).one()
        self.last = self.head_seq if stop is None else min(stop, self.head_seq)
        self._checked: dict[int, Checkpoint | CheckpointInvalid] = {}
        self._walks: dict[tuple[int, str, int], audit.Verification] = {}

    def check(self, row: Any) -> Checkpoint | CheckpointInvalid:
        if row.id not in self._checked:
            try:
                self._checked[row.id] = _from_row(self.signatures, row)
            except CheckpointInvalid as exc:
                self._checked[row.id] = exc
        return self._checked[row.id]

    def keyed_from(self, newest: Checkpoint | None) -> int:
        """Where the keyed chain starts: as the newest checkpoint signs it, else (none signed
        since the chain was keyed) as the head row says, which `_problems` then checks."""
        if newest is not None and newest.keyed_from is not None:
            return newest.keyed_from
        return self.head_keyed_from  # type: ignore[no-any-return]

    def walk(self, start: tuple[int, str], keyed_from: int) -> audit.Verification:
        if (*start, keyed_from) not in self._walks:
            marks = {row.seq for row in self.rows} | {c.seq for c in self.exported}
            if self.outside is not None and self.outside.anchor is not None:
                marks.add(self.outside.anchor.seq)
            marks = {seq for seq in marks if start[0] <= seq <= self.last}
            self._walks[(*start, keyed_from)] = audit.verify(
                self.session, start, stop=self.stop, marks=marks, keyed_from=keyed_from)
        return self._walks[(*start, keyed_from)]

    def run(self, every_signature: bool) -> ChainReport:
        if not every_signature:
            report = self._fast()
            if report is not None:
                return report
        return self._thorough()

    def _fast(self) -> ChainReport | None:
        """None when anything is amiss: the thorough pass then finds and names it."""
        prunes = [row for row in self.rows if row.kind == "prune"]
        base = None
        if prunes:
            base = self.check(prunes[-1])
            if isinstance(base, CheckpointInvalid):
                return None
        start = (1, audit.GENESIS) if base is None else (base.seq + 1, base.head)
        newest = self.check(self.all_rows[-1]) if self.all_rows else None
        if isinstance(newest, CheckpointInvalid):
            return None
        walk = self.walk(start, self.keyed_from(newest))
        if not walk.ok:
            return None
        current = [row for row in self.rows if row.seq >= start[0] - 1]
        highest = None
        if current:
            highest = self.check(current[-1])
            if isinstance(highest, CheckpointInvalid):
                return None
        matched, before = self._compare(
            [Checkpoint(row.seq, row.head, "", row.kind, _UNREAD, row.id) for row in self.rows]
            + self.exported, start, walk, [])
        if matched is None:
            return None
        covered = max((c.seq for c in (highest, *self.exported) if c is not None), default=-1)
        if self._problems(start, walk, newest, covered):
            return None
        return ChainReport(True, walk.events, matched, before, start[0] - 1, self.head_seq,
                           note=self._note(),
                           signatures=len(self._checked) + len(self.exported))

    def _thorough(self) -> ChainReport:
        problems: list[_Problem] = []
        stored: list[Checkpoint] = []
        for row in self.rows:
            found = self.check(row)
            if isinstance(found, CheckpointInvalid):
                problems.append(_Problem(row.seq, f"le point de contrôle n° {row.id} "
                                                  f"(événement n° {row.seq})", str(found)))
            else:
                stored.append(found)
        newest = None
        if self.all_rows:
            found = self.check(self.all_rows[-1])
            if isinstance(found, CheckpointInvalid):
                row = self.all_rows[-1]
                if self.stop is not None and row.seq > self.stop:  # not among self.rows
                    problems.append(_Problem(row.seq, f"le point de contrôle n° {row.id} "
                                                      f"(événement n° {row.seq})", str(found)))
                signed = [self._checked.get(r.id) for r in reversed(self.all_rows)]
                newest = next((c for c in signed if isinstance(c, Checkpoint)), None)
            else:
                newest = found
        base = max((c for c in stored if c.kind == "prune"), key=lambda c: c.seq, default=None)
        start = (1, audit.GENESIS) if base is None else (base.seq + 1, base.head)
        walk = self.walk(start, self.keyed_from(newest))
        if not walk.ok:
            assert walk.first_bad_seq is not None
            problems.append(_Problem(walk.first_bad_seq, f"l'événement n° {walk.first_bad_seq}",
                                     walk.reason))
        matched, before = self._compare([*stored, *self.exported], start, walk, problems)
        covered = max((c.seq for c in (*stored, *self.exported)), default=-1)
        problems += self._problems(start, walk, newest, covered)
        common = (walk.events, matched or 0, before, start[0] - 1, self.head_seq)
        if problems:
            first = min(problems, key=lambda p: p.seq)
            return ChainReport(False, *common, first.seq, first.culprit, first.reason,
                               signatures=len(self._checked), every_signature=True)
        return ChainReport(True, *common, note=self._note(),
                           signatures=len(self._checked) + len(self.exported),
                           every_signature=True)

    def _compare(self, checkpoints: list[Checkpoint], start: tuple[int, str],
                 walk: audit.Verification, problems: list[_Problem]) -> tuple[int | None, int]:
        """(matched, before the purge); matched is None when a problem was appended."""
        matched = before = 0
        failed = False
        for checkpoint in checkpoints:
            problem = _compare(checkpoint, start, self.head_seq, walk.seen)
            if isinstance(problem, _Problem):
                problems.append(problem)
                failed = True
            elif problem == "before":
                before += 1
            elif problem == "match":
                matched += 1
        return (None if failed else matched), before

    def _problems(self, start: tuple[int, str], walk: audit.Verification,
                  newest: Checkpoint | None, covered: int) -> list[_Problem]:
        """What the chain and the heads may hide: deleted checkpoint rows, events a database
        writer could recompute, and, with `outside`, a stale newest checkpoint and a log
        that ends before its anchor. `covered` is the highest seq a signed checkpoint
        vouches for."""
        found = self._numbering(newest)
        keyed_from = self.keyed_from(newest)
        if newest is not None and newest.keyed_from not in (None, self.head_keyed_from):
            found.append(_Problem(
                min(keyed_from, self.head_keyed_from), "la tête de chaîne",
                f"début de la chaîne à clé modifié : n° {self.head_keyed_from} dans la base, "
                f"n° {keyed_from} signé"))
        plain_last = min(keyed_from - 1, self.last)
        # (A purge walks only to its cut, which the checkpoint that covers these events may
        # lie beyond: the full verification checks them.)
        if self.stop is None and plain_last >= start[0] and covered < plain_last:
            first = max(covered + 1, start[0])
            found.append(_Problem(
                first, f"l'événement n° {first}",
                f"les événements jusqu'au n° {plain_last} sont chaînés sans clé (SHA-256 seul, "
                "comme avant la chaîne à clé) et aucun point de contrôle signé ne les couvre : "
                "la tête de chaîne a été modifiée, ou, juste après la mise à jour, aucun "
                "point de contrôle n'a encore été pris (flask audit checkpoint)"))
        if self.outside is not None and self.stop is None:
            found += self._stale(start, newest)
            found += self._anchored(start, walk)
        return found

    def _numbering(self, newest: Checkpoint | None) -> list[_Problem]:
        """Rows missing or added: named after every problem of a row or an event (at the end
        of the log), which explains it better when there is one."""
        rows = len(self.all_rows)
        if newest is None or not rows:
            return []
        if len({row.signed for row in self.all_rows}) != rows:
            return [_Problem(self.head_seq + 1, "les points de contrôle",
                             "un point de contrôle signé figure deux fois dans la base")]
        if newest.number is None or newest.number == rows:
            return []
        if newest.number > rows:
            what = (f"{newest.number - rows} point(s) de contrôle supprimé(s) : le plus récent "
                    f"porte le n° {newest.number}, la base n'en compte que {rows}")
        else:
            what = (f"le plus récent porte le n° {newest.number}, la base en compte {rows} : "
                    "point(s) de contrôle ajouté(s) ou plus récent(s) supprimé(s)")
        return [_Problem(self.head_seq + 1, "les points de contrôle", what)]

    def _stale(self, start: tuple[int, str], newest: Checkpoint | None) -> list[_Problem]:
        assert self.outside is not None
        limit = self.outside.now - self.outside.max_age
        hours = self.outside.max_age / timedelta(hours=1)
        if newest is not None:
            at = datetime.fromisoformat(newest.at)
            if at >= limit:
                return []
            return [_Problem(self.head_seq + 1, "les points de contrôle",
                             f"le plus récent ({newest.at[:16].replace('T', ' ')} UTC) a plus "
                             f"de {hours:g} h : des points de contrôle ont été supprimés, ou "
                             "le planificateur ne les prend plus")]
        first = self.session.scalar(select(AuditEvent.at).where(AuditEvent.seq == start[0]))
        if first is None or first >= limit:
            return []
        return [_Problem(start[0], "les points de contrôle",
                         f"aucun point de contrôle signé, alors que le journal commence il y a "
                         f"plus de {hours:g} h : ils ont été supprimés, ou le planificateur ne "
                         "les prend pas")]

    def _anchored(self, start: tuple[int, str], walk: audit.Verification) -> list[_Problem]:
        assert self.outside is not None
        if self.outside.anchor_problem is not None:
            return [_Problem(0, "l'ancre externe du journal", self.outside.anchor_problem)]
        anchor = self.outside.anchor
        if anchor is None:
            return []
        found = []
        name = f"l'ancre externe du journal (événement n° {anchor.seq})"
        if anchor.seq > self.head_seq:
            found.append(_Problem(self.head_seq + 1, name,
                                  f"journal tronqué : elle couvre l'événement n° {anchor.seq}, "
                                  f"le journal s'arrête au n° {self.head_seq}"))
        elif anchor.seq >= start[0] - 1:
            seen = start[1] if anchor.seq == start[0] - 1 else walk.seen.get(anchor.seq)
            if seen is not None and seen != anchor.head:
                found.append(_Problem(anchor.seq, name,
                                      f"l'empreinte de l'événement n° {anchor.seq} diffère de "
                                      "celle de l'ancre : journal réécrit"))
        if anchor.checkpoints > len(self.all_rows):
            found.append(_Problem(self.head_seq + 1, "l'ancre externe du journal",
                                  f"elle compte {anchor.checkpoints} point(s) de contrôle, la "
                                  f"base {len(self.all_rows)} : point(s) de contrôle "
                                  "supprimé(s)"))
        return found

    def _note(self) -> str:
        if self.outside is None:
            return ""
        if self.outside.anchor is None:
            return ("Aucune ancre externe encore : la fin du journal n'est protégée que par "
                    "les points de contrôle jusqu'au prochain enregistrement.")
        return f"Ancre externe concordante (événement n° {self.outside.anchor.seq})."


_UNREAD = SignedManifest(b"", b"", "", 0)
"""Stands for the signature of a stored checkpoint compared by its columns only."""


def _compare(checkpoint: Checkpoint, start: tuple[int, str], head_seq: int,
             seen: dict[int, str] | Any) -> _Problem | str:
    base_seq, base_head = start[0] - 1, start[1]
    if checkpoint.seq < base_seq:
        return "before"
    if checkpoint.seq > head_seq:
        return _Problem(head_seq + 1, checkpoint.name,
                        f"journal tronqué : il couvre l'événement n° {checkpoint.seq}, le "
                        f"journal s'arrête au n° {head_seq}")
    found = base_head if checkpoint.seq == base_seq else seen.get(checkpoint.seq)
    if found is None:
        return "unchecked"  # the walk stopped at an earlier break, which is reported
    if found != checkpoint.head:
        return _Problem(checkpoint.seq, checkpoint.name,
                        f"l'empreinte de l'événement n° {checkpoint.seq} diffère de celle "
                        "signée : journal réécrit")
    return "match"


# -- the last verification, for the DPO's status panel -----------------------------------------


def store_outcome(session: Session, report: ChainReport, at: datetime) -> None:
    value = canonical({"at": audit.format_at(at), "ok": report.ok, "events": report.events,
                       "summary": report.describe()})
    row = session.get(PlatformValue, LAST_VERIFICATION)
    if row is None:
        session.add(PlatformValue(name=LAST_VERIFICATION, value=value))
    else:
        row.value = value


def last_outcome(session: Session) -> dict[str, Any] | None:
    row = session.get(PlatformValue, LAST_VERIFICATION)
    if row is None:
        return None
    value = json.loads(row.value)
    value["at"] = datetime.fromisoformat(value["at"])
    return value  # type: ignore[no-any-return]


def verify_and_record(svc: Services, session: Session, text: str | None = None, *,
                      actor: audit.Actor = audit.SYSTEM, address: str | None = None,
                      every_signature: bool = False) -> ChainReport:
    """What `flask audit verify` and the DPO's button do: verify (against the schedule and
    the anchor too), record the outcome as an event and as the panel's last verification."""
    outside = outside_of(svc, session)
    keystore = svc.keystore(session)
    report = (verify_chain_and_checkpoints(session, keystore, every_signature=every_signature,
                                           outside=outside)
              if text is None else
              verify_against_exported(session, keystore, text, every_signature=every_signature,
                                      outside=outside))
    now = svc.clock.now()
    try:
        with session.begin_nested():
            audit.record(session, "audit.verified", at=now, actor=actor,
                         outcome="success" if report.ok else "failure",
                         object_type="audit_chain", object_id=str(report.events),
                         address=address)
    except IntegrityError:
        # A head moved back over existing events: appending collides. The report says so.
        log.error("audit: the verification could not be recorded, the chain head is broken")
    store_outcome(session, report, now)
    return report


def stored_checkpoints(session: Session, limit: int = 20) -> Iterable[AuditCheckpoint]:
    return session.scalars(
        select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(limit)).all()
