"""What only the object store has: its URL, version-aware deletion, a server that is down, and
the portal's main path with its ciphertexts in the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask

from exchange.app import create_app
from exchange.domain.clock import FixedClock
from exchange.fiches import reading
from exchange.platform.blobs import BlobError, new_name
from exchange.platform.blobs_s3 import S3BlobStore, S3Location
from exchange.platform.settings import Settings
from exchange.policy import visible_fiche
from tests.conftest import make_settings
from tests.fiches.support import FIELDS, IDENTITY, acting_as, sent, services_of
from tests.platform.blobs.support import SECRET, free_port, new_bucket


def test_url_gives_endpoint_bucket_prefix_region_and_decoded_secret() -> None:
    where = S3Location.from_url("s3://AK:s%2Fe%2Bc@minio.local:9000/liaison/prod/?region=eu-west-3"
                                "&secure=0")
    assert (where.endpoint_url, where.bucket, where.prefix, where.region) == (
        "http://minio.local:9000", "liaison", "prod/", "eu-west-3")
    assert (where.access_key, where.secret_key) == ("AK", "s/e+c")
    assert "s/e+c" not in repr(where) and "AK" not in repr(where)
    tls = S3Location.from_url("s3://AK:SK@s3.example.fr/b?ca=/etc/liaison/ca.pem")
    assert tls.endpoint_url == "https://s3.example.fr" and tls.verify == "/etc/liaison/ca.pem"


@pytest.mark.parametrize("url", ["https://h/b", "s3://h", "s3://AK@h/b", "s3://h/b?sekure=0"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        S3Location.from_url(url)


def test_blob_url_is_read_from_the_environment_and_never_printed(tmp_path: Path) -> None:
    url = "s3://AK:topsecret@127.0.0.1:9000/b?secure=0"
    settings = Settings.from_env({"LIAISON_MODE": "demo", "LIAISON_INSTANCE": str(tmp_path),
                                  "LIAISON_BLOB_URL": url})
    assert settings.blob_url == url
    assert "topsecret" not in repr(settings)


def test_a_prefix_keeps_the_store_to_its_folder_of_the_bucket(s3_address: str) -> None:
    _, store = new_bucket(s3_address, prefix="liaison")
    name = new_name()
    store.put(name, b"x")
    keys = [o["Key"] for o in store.client.list_objects_v2(
        Bucket=store.location.bucket)["Contents"]]
    assert keys == [f"liaison/{name}"]
    assert list(store.names()) == [name]


def test_delete_removes_every_version_in_a_versioned_bucket(s3_address: str) -> None:
    _, store = new_bucket(s3_address)
    bucket = store.location.bucket
    store.client.put_bucket_versioning(Bucket=bucket,
                                       VersioningConfiguration={"Status": "Enabled"})
    name = new_name()
    store.put(name, b"version one")
    store.put(name, b"version two")
    store.delete(name)
    listed = store.client.list_object_versions(Bucket=bucket)
    assert listed.get("Versions", []) == [] and listed.get("DeleteMarkers", []) == []


def test_a_store_that_is_down_raises_blob_error() -> None:
    store = S3BlobStore.from_url(f"s3://a:b@127.0.0.1:{free_port()}/b?secure=0")
    with pytest.raises(BlobError) as raised:
        store.put(new_name(), b"x")
    assert SECRET not in str(raised.value)
    with pytest.raises(BlobError):
        store.exists(new_name())


@pytest.fixture
def s3_app(instance: Path, clock: FixedClock, s3_address: str) -> Flask:
    url, _ = new_bucket(s3_address)
    app = create_app(make_settings(instance, blob_url=url), clock=clock)
    yield app
    app.extensions["liaison"].db.dispose()


def test_a_fiche_sent_and_opened_keeps_only_ciphertext_in_the_bucket(s3_app: Flask) -> None:
    svc = services_of(s3_app)
    assert isinstance(svc.blobs, S3BlobStore)
    prepared = sent(s3_app)
    with acting_as(s3_app, "cft.montauban") as ctx:
        opened = reading.open_fiche(ctx, visible_fiche(ctx.session, ctx.agent, prepared.fiche))
        assert opened.content["fields"]["motive"] == FIELDS["motive"]
        attachment_pid = opened.attachments[0][0].public_id
        _, pdf = reading.attachment(ctx, opened.fiche, attachment_pid)
        assert pdf.startswith(b"%PDF")
    names = list(svc.blobs.names())
    assert len(names) >= 3  # content, signed PDF, attachment (and the receipt)
    canaries = [IDENTITY.last_name, FIELDS["motive"], "Attestation"]
    for name in names:
        data = svc.blobs.get(name)
        for canary in canaries:
            assert canary.encode() not in data
            assert canary.encode("utf-16-le") not in data
        assert b"%PDF" not in data[:16]
    folder = svc.settings.blob_dir
    assert not folder.exists() or not any(p.is_file() for p in folder.rglob("*"))
