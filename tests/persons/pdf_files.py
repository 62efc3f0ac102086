"""PDF files written byte by byte, to put active content exactly where an attacker would: inside
a compressed object stream, behind escaped names, between string delimiters. The offsets are
right, so a strict parser reads them; each helper says what it builds.

Objects are numbered from 1 in the order given; object 1 is the catalog, 2 the page tree and 3
the single page of `one_page`."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Collection, Sequence

HEADER = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"


def one_page(catalog: bytes = b"", page: bytes = b"", *more: bytes) -> list[bytes]:
    """A catalog, a page tree and one empty A4 page, with `catalog` and `page` added inside
    their dictionaries, then the objects `more` (numbered 4, 5...)."""
    return [b"<< /Type /Catalog /Pages 2 0 R " + catalog + b" >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] " + page + b" >>",
            *more]


def stream(data: bytes, dictionary: bytes = b"") -> bytes:
    """An (uncompressed) stream object's body."""
    return b"<< /Length %d %s >>\nstream\n" % (len(data), dictionary) + data + b"\nendstream"


def pdf_file(objects: Sequence[bytes], *, packed: Collection[int] = (),
             after_eof: bytes = b"", padding: int = 0) -> bytes:
    """The objects with a classic cross-reference table; or, when `packed` names some of them,
    those compressed together in one object stream and a compressed cross-reference stream,
    as PDF 1.5 writers do (streams cannot be packed). `padding` spaces end the object stream:
    they compress to almost nothing."""
    if packed:
        return _with_object_stream(objects, set(packed), padding) + after_eof
    out = bytearray(HEADER)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    start = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, start)
    return bytes(out) + after_eof


def _with_object_stream(objects: Sequence[bytes], packed: set[int], padding: int) -> bytes:
    out = bytearray(HEADER)
    rows: dict[int, tuple[int, int, int]] = {0: (0, 0, 65535)}
    for number, body in enumerate(objects, start=1):
        if number not in packed:
            rows[number] = (1, len(out), 0)
            out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    table, bodies = [], b""
    for index, number in enumerate(sorted(packed)):
        table.append(b"%d %d" % (number, len(bodies)))
        rows[number] = (2, len(objects) + 1, index)
        bodies += objects[number - 1] + b"\n"
    first = b" ".join(table) + b"\n"
    compressor = zlib.compressobj(9)
    content = compressor.compress(first + bodies)
    chunk = b" " * (1 << 20)
    for start in range(0, padding, len(chunk)):
        content += compressor.compress(chunk[:padding - start])
    content += compressor.flush()
    object_stream, xref_stream = len(objects) + 1, len(objects) + 2
    rows[object_stream] = (1, len(out), 0)
    out += b"%d 0 obj\n" % object_stream + (
        b"<< /Type /ObjStm /N %d /First %d /Filter /FlateDecode /Length %d >>\nstream\n"
        % (len(packed), len(first), len(content))) + content + b"\nendstream\nendobj\n"
    rows[xref_stream] = (1, len(out), 0)
    xref = zlib.compress(b"".join(struct.pack(">BIH", *rows[n]) for n in range(xref_stream + 1)))
    out += b"%d 0 obj\n" % xref_stream + (
        b"<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Filter /FlateDecode /Length %d >>\n"
        b"stream\n" % (xref_stream + 1, len(xref))) + xref + b"\nendstream\nendobj\n"
    out += b"startxref\n%d\n%%%%EOF\n" % rows[xref_stream][1]
    return bytes(out)
