"""The PDF of a fiche de liaison: rendering (reportlab), PAdES signature and countersignature
through ``keys.pades`` (pyHanko), and validation against the platform CA."""

from .fiche import (
    HEADER_TEXT,
    AttachmentLine,
    ConsentStatement,
    FicheDocument,
    PersonBlock,
    render_fiche_pdf,
)
from .fonts import printable, unprintable
from .french import file_size, long_date
from .signing import (
    COUNTERSIGNATURE_FIELD,
    SIGNATURE_FIELD,
    FichePdfError,
    SignatureReport,
    ValidationSummary,
    countersign_fiche_pdf,
    sign_fiche_pdf,
    validate_fiche_pdf,
)

__all__ = [
    "COUNTERSIGNATURE_FIELD",
    "HEADER_TEXT",
    "SIGNATURE_FIELD",
    "AttachmentLine",
    "ConsentStatement",
    "FichePdfError",
    "FicheDocument",
    "PersonBlock",
    "SignatureReport",
    "ValidationSummary",
    "countersign_fiche_pdf",
    "file_size",
    "long_date",
    "printable",
    "render_fiche_pdf",
    "sign_fiche_pdf",
    "unprintable",
    "validate_fiche_pdf",
]
