"""Sealed documents: seal, store, open and destroy, on top of `keys.envelope` and the blob store.

A document's header, nonce and epoch seal are kept in its row, each reader's wrap in a
`key_wraps` row, its ciphertext in the blob store. Opening puts the envelope back together and
lets `keys/` check every byte of it.

A document about a person (it hangs on a fiche, a consent or an accompaniment) names that
person as its envelope's subject, so that each reader's wrap also needs the reader's share key
of the person (`keys.shares`): an erasure by one institution destroys that key, and its copy
of every document about the person with it, from backups too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from exchange.fiches.models import Accompaniment, Fiche
from exchange.persons.models import Consent, Person
from exchange.platform.blobs import (
    BlobError,
    BlobStore,
    delete_after_commit,
    settle,
    write_in_transaction,
)
from exchange.platform.models import Document, KeyWrap
from exchange.platform.types import new_public_id
from keys.envelope import Envelope, Envelopes, Header, Wrap
from keys.errors import EnvelopeTampered
from keys.store import KeyStore

_SUBJECTS = "liaison.documents.subjects"


class DocumentStore:
    def __init__(self, session: Session, keystore: KeyStore, blobs: BlobStore) -> None:
        self.session = session
        self.keystore = keystore
        self.blobs = blobs
        self.envelopes = Envelopes(keystore)

    def seal(
        self,
        content: bytes,
        *,
        role: str,
        kind: str,
        sender: str,
        readers: Iterable[str],
        epoch: str,
        at: datetime,
        version: int = 1,
        background: bool = False,
        **links: int | None,
    ) -> Document:
        """Seal `content` for `readers`, write its blob, add its rows to the session. With
        `background`, the blob is written while the caller goes on (`settle`). The envelope's
        subject is the person the linked fiche, consent or accompaniment is about."""
        public_id = new_public_id()
        header = Header(document_id=public_id, version=version, kind=kind, sender=sender,
                        readers=tuple(sorted(set(readers))), created_at=at, epoch=epoch,
                        subject=self.subject_of(**links))
        try:
            envelope = self.envelopes.seal(content, header, header.readers, epoch)
        except OSError as exc:
            # A share or epoch key could not be created: the key directory is full or
            # read-only. A storage failure for the user, as a full blob store is.
            raise BlobError(f"key storage unavailable ({exc.errno})") from exc
        blob = write_in_transaction(self.session, self.blobs, envelope.ciphertext,
                                    background=background)
        # Two statements rather than the unit of work's one per row; the document comes back
        # persistent, its wraps load when first read.
        document = self.session.scalars(insert(Document).returning(Document), [{
            "public_id": public_id, "role": role, "header": header.to_bytes(),
            "nonce": envelope.nonce, "epoch_wrap": envelope.epoch_wrap, "epoch": epoch,
            "blob": blob, "size": len(envelope.ciphertext), "created_at": at, **links,
        }]).one()
        self.session.execute(insert(KeyWrap), [
            {"document_id": document.id, "reader": w.reader, "key_id": w.key_id,
             "key_version": w.key_version, "enc": w.enc}
            for w in envelope.wraps
        ])
        return document

    def subject_of(self, *, fiche_id: int | None = None, consent_id: int | None = None,
                   accompaniment_id: int | None = None, **_: int | None) -> str | None:
        """The public id of the person a document linked so is about; None for a document
        about nobody (the registers' texts). Kept for the session: a send seals several
        documents of one fiche."""
        known: dict[tuple[str, int], str] = self.session.info.setdefault(_SUBJECTS, {})
        for kind, model, row_id in (("fiche", Fiche, fiche_id), ("consent", Consent, consent_id),
                                    ("accompaniment", Accompaniment, accompaniment_id)):
            if row_id is None:
                continue
            subject = known.get((kind, row_id))
            if subject is None:
                # Through the identity map: the use case sealing has the row and its person
                # loaded already, so this costs no statement.
                row = self.session.get(model, row_id)
                person = self.session.get(Person, row.person_id) if row is not None else None
                if person is None:
                    raise ValueError(f"no person for {kind} {row_id}")
                subject = known[(kind, row_id)] = person.public_id
            return subject
        return None

    def settle(self) -> None:
        """Wait for the blobs written in the background; BlobError if one failed."""
        settle(self.session)

    def envelope(self, document: Document) -> Envelope:
        try:
            settle(self.session, document.blob)
            ciphertext = self.blobs.get(document.blob)
        except BlobError as exc:
            raise EnvelopeTampered("ciphertext missing or unreadable") from exc
        return Envelope(
            header=Header.from_bytes(document.header),
            nonce=document.nonce,
            ciphertext=ciphertext,
            epoch_wrap=document.epoch_wrap,
            wraps=tuple(Wrap(reader=w.reader, key_id=w.key_id, key_version=w.key_version,
                             enc=w.enc) for w in document.wraps),
        )

    def open(self, document: Document, reader: str) -> bytes:
        """The plaintext, or EnvelopeTampered / KeyNotFound / KeyDestroyed; never partial."""
        envelope = self.envelope(document)
        if envelope.header.document_id != document.public_id:
            raise EnvelopeTampered("document moved")
        return self.envelopes.open(envelope, reader)

    def destroy(self, document: Document, *, background: bool = False) -> None:
        """Delete the wraps and the row now, the ciphertext once the transaction commits
        (with `background`, in a thread: `exchange.platform.blobs.delete_after_commit`)."""
        delete_after_commit(self.session, self.blobs, document.blob, background=background)
        # The database deletes the wraps with the row (ON DELETE CASCADE): forgetting those the
        # session holds spares it a statement per wrap.
        self.session.expire(document, ["wraps"])
        self.session.delete(document)
