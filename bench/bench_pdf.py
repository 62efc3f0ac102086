"""The fiche PDF alone: reportlab render and pyHanko PAdES signature, the reference figures
that the send benchmark compares a whole send with (target: a send costs at most 1.5 times
render + sign).

Run: python bench/bench_pdf.py [--runs N]

Builds a throwaway key store in a temporary folder, renders the two-page sample fiche
(exchange/fiches/pdf_sample.py) and signs it with the institution's PAdES key, then prints the
median of N runs (default 20) of: render alone, signature alone, countersignature alone and the
validation of the signed PDF against the platform CA. Another benchmark can call
``reference_times(keystore, owner, runs)`` to measure the same figures in its own run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from exchange.fiches.pdf import render_fiche_pdf
from exchange.fiches.pdf_sample import sample_fiche
from exchange.fiches.pdf_signing import countersign_fiche_pdf, sign_fiche_pdf, validate_fiche_pdf


def _median_ms(action: Callable[[], object], runs: int) -> float:
    action()  # warm up: font registration, imports, caches
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def reference_times(keystore: Any, owner: str, runs: int = 20) -> dict[str, float]:
    """Median milliseconds of ``render``, ``sign``, ``countersign`` and ``validate`` for the
    sample fiche, signed by institution ``owner`` of ``keystore``."""
    doc = sample_fiche()
    pdf = render_fiche_pdf(doc)

    def sign(data: bytes = pdf) -> bytes:
        return sign_fiche_pdf(keystore, owner, data, signer_name="Élodie Lefèvre",
                              reason="Envoi de la fiche de liaison", location="Montauban")

    signed = sign()

    def countersign() -> bytes:
        return countersign_fiche_pdf(keystore, owner, signed, signer_name="Karine Dubœuf",
                                     reason="Sous couvert du responsable", location="Montauban")

    summary = validate_fiche_pdf(keystore, signed, expected_owner=owner)
    if not summary.valid:
        raise SystemExit(f"the benchmark's signed PDF does not validate: {summary.problems}")
    return {
        "render": _median_ms(lambda: render_fiche_pdf(doc), runs),
        "sign": _median_ms(sign, runs),
        "countersign": _median_ms(countersign, runs),
        "validate": _median_ms(lambda: validate_fiche_pdf(keystore, signed), runs),
        "pages": float(pdf.count(b"/Type /Page\n")),
        "size_kib": len(signed) / 1024,
    }


def _keystore(work: Path) -> Any:
    from keys.epochs import EpochKeyStore
    from keys.master import MasterKey
    from keys.records import MemoryKeyRecordStore
    from keys.store import KeyStore

    master = MasterKey.create(work / "master.key")
    store = KeyStore(
        master, MemoryKeyRecordStore(), EpochKeyStore(work / "epochs", master),
        lambda: datetime.now(UTC),
    )
    store.init_platform("Bench")
    store.ensure_institution("inst-a", "Département de Tarn-et-Garonne")
    return store


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    runs = parser.parse_args().runs
    work = Path(tempfile.mkdtemp(prefix="bench-pdf-"))
    try:
        t = reference_times(_keystore(work), "inst-a", runs)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"fiche PDF: sample fiche, {t['pages']:.0f} A4 pages, signed {t['size_kib']:.0f} KiB;"
          f" median of {runs} runs")
    print(f"  render (reportlab)                    {t['render']:7.1f} ms")
    print(f"  PAdES signature (pyHanko, keys.pades) {t['sign']:7.1f} ms")
    print(f"  render + sign                         {t['render'] + t['sign']:7.1f} ms")
    print(f"  countersignature (incremental)        {t['countersign']:7.1f} ms")
    print(f"  validation against the platform CA    {t['validate']:7.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
