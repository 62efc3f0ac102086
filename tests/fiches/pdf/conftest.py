"""Fixtures of the PDF tests: one key store for the module (built with the helpers of the keys/
tests), the sample fiche rendered and signed once, and NSS databases for poppler's pdfsig.

The key store's clock is the real time, not tests.keys' fixed 23 November 2026 09:00: pyHanko
stamps the real signing time and validates at the real time, and pdfsig does the same, so a
certificate issued "in the future" would be rejected as not yet valid."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from exchange.fiches.pdf import render_fiche_pdf
from exchange.fiches.pdf_sample import sample_fiche
from exchange.fiches.pdf_signing import sign_fiche_pdf
from keys.master import MasterKey
from keys.store import KeyStore
from tests.keys.support import MovableClock, make_keystore


def build_keystore(directory: Path) -> KeyStore:
    master = MasterKey.create(directory / "secrets" / "master.key")
    return make_keystore(master, directory / "epochs", MovableClock(datetime.now(UTC)))


def nss_database(directory: Path, ca_pem: bytes | None) -> Path:
    """A throwaway NSS database (no password) trusting ``ca_pem`` for e-mail and document
    signing, or trusting nothing."""
    directory.mkdir(parents=True)
    subprocess.run(
        ["certutil", "-N", "-d", f"sql:{directory}", "--empty-password"],
        check=True, capture_output=True,
    )
    if ca_pem is not None:
        (directory / "ca.pem").write_bytes(ca_pem)
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{directory}", "-n", "liaison-ca", "-t", "C,C,C",
             "-a", "-i", str(directory / "ca.pem")],
            check=True, capture_output=True,
        )
    return directory


@pytest.fixture(scope="module")
def pdf_keystore(tmp_path_factory: pytest.TempPathFactory) -> KeyStore:
    return build_keystore(tmp_path_factory.mktemp("pdf-keys"))


@pytest.fixture(scope="module")
def trusting_nss(pdf_keystore: KeyStore, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ca_pem = pdf_keystore.ca_certificate().public_bytes(Encoding.PEM)
    return nss_database(tmp_path_factory.mktemp("nss") / "trusting", ca_pem)


@pytest.fixture(scope="module")
def empty_nss(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return nss_database(tmp_path_factory.mktemp("nss") / "empty", None)


@pytest.fixture(scope="module")
def sample_pdf() -> bytes:
    return render_fiche_pdf(sample_fiche())


@pytest.fixture(scope="module")
def signed_pdf(pdf_keystore: KeyStore, sample_pdf: bytes) -> bytes:
    return sign_fiche_pdf(
        pdf_keystore, "inst-a", sample_pdf,
        signer_name="Élodie Lefèvre", reason="Envoi de la fiche de liaison",
        location="Montauban",
    )
