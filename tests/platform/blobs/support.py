"""A real S3-compatible server for the object-store tests: moto's standalone `moto_server`
(PyPI `moto[server]`, pinned in requirements-dev.txt), started as a subprocess on a free port
of 127.0.0.1 and stopped at the end of the test session. Each test gets its own bucket."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from exchange.platform.blobs_s3 import S3BlobStore

ACCESS = "liaison-test"
SECRET = "test/secret+with%reserved"  # percent-encoded in the URL below


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def moto_server() -> Iterator[str]:
    """Yield `host:port` of a running moto server."""
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/",  # noqa: S310
                                            timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def bucket_url(address: str, *, prefix: str = "") -> str:
    from urllib.parse import quote

    bucket = f"liaison-{uuid.uuid4().hex[:12]}"
    path = f"{bucket}/{prefix}" if prefix else bucket
    return (f"s3://{quote(ACCESS, safe='')}:{quote(SECRET, safe='')}@{address}/{path}"
            "?region=eu-west-3&secure=0")


def new_bucket(address: str, **kwargs: str) -> tuple[str, S3BlobStore]:
    url = bucket_url(address, **kwargs)
    store = S3BlobStore.from_url(url)
    store.ensure_bucket()
    return url, store
