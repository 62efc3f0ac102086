"""Helpers of the PDF tests: poppler's command-line tools and an independent NSS check."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader

# poppler up to at least 22.12 (Debian 12) reads NSS's thread error code after
# CERT_PKIXVerifyCert without looking at its return value; NSS leaves
# SEC_ERROR_EXTENSION_NOT_FOUND there from probing the (absent, optional) name constraints of
# the CA even when the chain verifies, so pdfsig prints this line for a trusted certificate.
# Newer poppler checks the return value and prints "Certificate is Trusted.".
POPPLER_STALE_ERROR = "Unknown issue with Certificate or corrupted data."
TRUSTED = "Certificate is Trusted."


def words(text: str) -> str:
    """``text`` with every run of whitespace (line breaks, no-break spaces) as one space."""
    return " ".join(text.split())


def pdftotext(
    pdf: bytes, tmp_path: Path, page: int | None = None, *, body_only: bool = False
) -> str:
    """The text layer as poppler extracts it; ``body_only`` crops the header and footer away
    (the area between 45 pt from the top and 45 pt from the bottom of an A4 page), so that a
    text running over several pages reads as one."""
    path = tmp_path / "text.pdf"
    path.write_bytes(pdf)
    pages = ["-f", str(page), "-l", str(page)] if page is not None else []
    crop = ["-x", "0", "-y", "45", "-W", "596", "-H", "752"] if body_only else []
    result = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", *pages, *crop, str(path), "-"],
        check=True, capture_output=True,
    )
    return result.stdout.decode("utf-8")


def page_count(pdf: bytes) -> int:
    return int(PdfFileReader(BytesIO(pdf), strict=False).root["/Pages"]["/Count"])


@dataclass(frozen=True)
class PdfsigSignature:
    field_name: str
    signature: str
    certificate: str
    total_document_signed: bool


def pdfsig(pdf: bytes, tmp_path: Path, nss: Path) -> tuple[int, list[PdfsigSignature]]:
    """Run poppler's pdfsig offline against the NSS database ``nss``; its exit code and, for
    each signature, its verdicts."""
    path = tmp_path / "signed.pdf"
    path.write_bytes(pdf)
    result = subprocess.run(
        ["pdfsig", "-nssdir", f"sql:{nss}", "-no-ocsp", str(path)],
        capture_output=True, check=False,
    )
    output = result.stdout.decode("utf-8", errors="replace")
    found = []
    for block in re.split(r"^Signature #\d+:\s*$", output, flags=re.M)[1:]:
        def line(label: str, block: str = block) -> str:
            match = re.search(rf"- {label}: (.*)$", block, flags=re.M)
            return match.group(1).strip() if match else ""

        found.append(
            PdfsigSignature(
                field_name=line("Signature Field Name"),
                signature=line("Signature Validation"),
                certificate=line("Certificate Validation"),
                total_document_signed="- Total document signed" in block,
            )
        )
    return result.returncode, found


def nss_chain_is_good(cert_der: bytes, tmp_path: Path, nss: Path) -> bool:
    """NSS's own PKIX verification (``vfychain -pp``) of ``cert_der`` for the e-mail/document
    signer usage, trusting what the database ``nss`` trusts, revocation not checked."""
    path = tmp_path / "signer.der"
    path.write_bytes(cert_der)
    result = subprocess.run(
        ["vfychain", "-d", f"sql:{nss}", "-pp", "-u", "4", "-r", str(path)],
        capture_output=True, check=False,
    )
    return result.returncode == 0 and b"Chain is good!" in result.stdout + result.stderr


def signer_certificates(pdf: bytes) -> list[bytes]:
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    return [sig.signer_cert.dump() for sig in reader.embedded_signatures]
