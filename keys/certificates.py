"""X.509 certificates of the platform CA and of the institutions' PAdES keys.

The CA is a self-signed ECDSA P-256 root that only signs certificates.
Institution certificates carry digitalSignature + nonRepudiation
(contentCommitment), which is what PDF validators, pyHanko's included,
require of a document signer.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def wall_clock() -> datetime:
    """X.509 validity speaks of real time, whatever clock the rest of the platform is given:
    certificates are issued and judged at the wall clock, as outside validators judge them."""
    return datetime.now(UTC)


CA_VALIDITY = timedelta(days=20 * 365 + 5)
SIGNER_VALIDITY = timedelta(days=3 * 365 + 1)
# Certificates start a little in the past so that app instances whose clocks
# drift by a few minutes all accept a certificate issued by another.
BACKDATE = timedelta(minutes=5)
_MAX_NAME = 64  # ub-common-name and ub-organization-name (RFC 5280)


def _serial() -> int:
    # 159 random bits: positive, at most 20 octets, unpredictable.
    return secrets.randbits(159) | 1


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:_MAX_NAME]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:_MAX_NAME]),
        ]
    )


def make_ca(key: ec.EllipticCurvePrivateKey, name: str, now: datetime) -> x509.Certificate:
    """A self-signed root for the platform called ``name``."""
    subject = _name(f"Autorité de certification {name}", name)
    public = key.public_key()
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )


def issue_signer(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public: ec.EllipticCurvePublicKey,
    institution_name: str,
    now: datetime,
) -> x509.Certificate:
    """A document-signing certificate for an institution, valid three years
    at most and never past the CA."""
    not_after = min(now + SIGNER_VALIDITY, ca_cert.not_valid_after_utc)
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(institution_name, institution_name))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def organisation(cert: x509.Certificate) -> str:
    """The O= of a certificate's subject (the institution name)."""
    values = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    if not values:
        raise ValueError("certificate has no organisation name")
    value = values[0].value
    return value if isinstance(value, str) else value.decode("utf-8")
