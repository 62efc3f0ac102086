"""Sealed documents: seal, store, open and destroy, on top of `keys.envelope` and the blob store.

A document's header, nonce and epoch seal are kept in its row, each reader's wrap in a
`key_wraps` row, its ciphertext in the blob store. Opening puts the envelope back together and
lets `keys/` check every byte of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from exchange.blobs import (
    BlobError,
    BlobStore,
    delete_after_commit,
    settle,
    write_in_transaction,
)
from exchange.models.documents import Document, KeyWrap
from exchange.models.types import new_public_id
from keys.envelope import Envelope, Envelopes, Header, Wrap
from keys.errors import EnvelopeTampered
from keys.store import KeyStore


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
        `background`, the blob is written while the caller goes on (`settle`)."""
        public_id = new_public_id()
        header = Header(document_id=public_id, version=version, kind=kind, sender=sender,
                        readers=tuple(sorted(set(readers))), created_at=at, epoch=epoch)
        envelope = self.envelopes.seal(content, header, header.readers, epoch)
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
        (with `background`, in a thread: `exchange.blobs.delete_after_commit`)."""
        delete_after_commit(self.session, self.blobs, document.blob, background=background)
        # The database deletes the wraps with the row (ON DELETE CASCADE): forgetting those the
        # session holds spares it a statement per wrap.
        self.session.expire(document, ["wraps"])
        self.session.delete(document)
