"""The blob store on an S3-compatible object store, for deployments on several hosts.

Configured by one URL (`LIAISON_BLOB_URL`):

    s3://ACCESS:SECRET@HOST:PORT/BUCKET[/PREFIX]?region=eu-west-3&secure=1

Access key and secret are percent-encoded in the URL; without them boto3's usual chain applies
(environment, instance profile). `secure=0` speaks plain HTTP (a store on the same private
network or a test server); the default is HTTPS with certificate verification (`ca=/path.pem`
names a private CA bundle). Without a host the store is AWS S3 itself.

The store receives only the ciphertexts that `DocumentStore` hands it, under random hex names:
no name, no header, no metadata about the person reaches the object store. Deleting removes every
version of the object, in case the bucket keeps versions; erasure does not depend on it anyway,
since the data keys are destroyed with the rows and the epoch key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from exchange.platform.blobs import _NAME, BlobError, BlobNotFound, check_name

log = logging.getLogger("liaison.blobs")
_MISSING = {"NoSuchKey", "404", "NotFound"}


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    verify: bool | str = True

    @classmethod
    def from_url(cls, url: str) -> S3Location:
        """Parse `LIAISON_BLOB_URL`; ValueError names what is wrong, never the secret."""
        parts = urlsplit(url)
        if parts.scheme != "s3":
            raise ValueError("LIAISON_BLOB_URL doit commencer par s3://")
        path = parts.path.strip("/")
        if not path:
            raise ValueError("LIAISON_BLOB_URL : le nom du bucket manque (s3://hôte/bucket).")
        bucket, _, prefix = path.partition("/")
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = set(query) - {"region", "secure", "ca"}
        if unknown:
            raise ValueError(f"LIAISON_BLOB_URL : paramètre(s) inconnu(s) {sorted(unknown)}.")
        secure = query.get("secure", "1").lower() not in ("0", "false", "no")
        endpoint = None
        if parts.hostname:
            host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
            port = f":{parts.port}" if parts.port else ""
            endpoint = f"{'https' if secure else 'http'}://{host}{port}"
        if (parts.username is None) != (parts.password is None):
            raise ValueError("LIAISON_BLOB_URL : donnez la clé d'accès et le secret ensemble.")
        verify: bool | str = query.get("ca") or True
        return cls(
            bucket=bucket,
            prefix=f"{prefix.strip('/')}/" if prefix.strip("/") else "",
            endpoint_url=endpoint,
            region=query.get("region", "us-east-1"),
            access_key=unquote(parts.username) if parts.username is not None else None,
            secret_key=unquote(parts.password) if parts.password is not None else None,
            verify=verify,
        )


class S3BlobStore:
    """`BlobStore` on one bucket (and optional key prefix) of an S3-compatible store."""

    def __init__(self, location: S3Location, *, client: Any = None) -> None:
        self.location = location
        self._client = client

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        return cls(S3Location.from_url(url))

    def __repr__(self) -> str:
        return f"S3BlobStore({self.location.endpoint_url or 's3'}/{self.location.bucket})"

    @property
    def client(self) -> Any:
        """One boto3 client per store, made on first use (clients are thread-safe)."""
        if self._client is None:
            import boto3
            from botocore.config import Config

            where = self.location
            self._client = boto3.session.Session().client(
                "s3",
                endpoint_url=where.endpoint_url,
                region_name=where.region,
                aws_access_key_id=where.access_key,
                aws_secret_access_key=where.secret_key,
                verify=where.verify,
                config=Config(
                    s3={"addressing_style": "path"},
                    signature_version="s3v4",
                    connect_timeout=5,
                    read_timeout=30,
                    retries={"max_attempts": 3, "mode": "standard"},
                ),
            )
        return self._client

    def _key(self, name: str) -> str:
        return self.location.prefix + check_name(name)

    def _fail(self, what: str, exc: Exception) -> BlobError:
        code = _code(exc)
        if code in _MISSING:
            return BlobNotFound("blob missing")
        return BlobError(f"object store {what} failed ({code or type(exc).__name__})")

    def put(self, name: str, data: bytes) -> None:
        key = self._key(name)
        try:
            self.client.put_object(Bucket=self.location.bucket, Key=key, Body=data,
                                   ContentType="application/octet-stream")
        except Exception as exc:  # botocore raises many unrelated classes
            raise self._fail("write", exc) from exc

    def get(self, name: str) -> bytes:
        key = self._key(name)
        try:
            answer = self.client.get_object(Bucket=self.location.bucket, Key=key)
            body = answer["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
            return data
        except Exception as exc:
            raise self._fail("read", exc) from exc

    def exists(self, name: str) -> bool:
        key = self._key(name)
        try:
            self.client.head_object(Bucket=self.location.bucket, Key=key)
            return True
        except Exception as exc:
            error = self._fail("read", exc)
            if isinstance(error, BlobNotFound):
                return False
            raise error from exc

    def delete(self, name: str) -> None:
        """Delete the object and, where the bucket keeps versions, every version of it."""
        key = self._key(name)
        bucket = self.location.bucket
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            error = self._fail("delete", exc)
            if not isinstance(error, BlobNotFound):
                raise error from exc
        try:
            listed = self.client.list_object_versions(Bucket=bucket, Prefix=key)
        except Exception:  # a store without the versions API keeps no versions
            return
        for entry in [*listed.get("Versions", []), *listed.get("DeleteMarkers", [])]:
            if entry.get("Key") != key or not entry.get("VersionId"):
                continue
            try:
                self.client.delete_object(Bucket=bucket, Key=key, VersionId=entry["VersionId"])
            except Exception as exc:
                raise self._fail("delete", exc) from exc

    def names(self) -> Iterator[str]:
        prefix = self.location.prefix
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.location.bucket, Prefix=prefix)
            found = [item["Key"][len(prefix):] for page in pages
                     for item in page.get("Contents", [])]
        except Exception as exc:
            raise self._fail("list", exc) from exc
        yield from sorted(name for name in found if _NAME.match(name))

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (tests and first installs)."""
        try:
            self.client.head_bucket(Bucket=self.location.bucket)
            return
        except Exception as exc:
            if _code(exc) not in _MISSING | {"NoSuchBucket"}:
                raise self._fail("bucket check", exc) from exc
        try:
            if self.location.region == "us-east-1":
                self.client.create_bucket(Bucket=self.location.bucket)
            else:
                self.client.create_bucket(
                    Bucket=self.location.bucket,
                    CreateBucketConfiguration={"LocationConstraint": self.location.region})
        except Exception as exc:
            raise self._fail("bucket creation", exc) from exc


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
