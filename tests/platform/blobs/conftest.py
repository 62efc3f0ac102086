from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.platform.blobs.support import moto_server


@pytest.fixture(scope="session")
def s3_address() -> Iterator[str]:
    with moto_server() as address:
        yield address
