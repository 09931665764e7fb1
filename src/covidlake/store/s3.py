"""Any S3 endpoint as an object store: `s3://bucket/prefix`.

Endpoint, region and credentials come from the standard AWS settings (AWS_ENDPOINT_URL_S3 or
AWS_ENDPOINT_URL, AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID/..., AWS_PROFILE), never from the
command line. With no credentials at all the store reads anonymously (public buckets such as
s3://covid19-lake). Large objects go up in parts; every upload is checked against the MD5-based
ETag the server returns; 5xx answers and timeouts are retried with backoff (botocore's
standard retry mode).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from covidlake.errors import StoreError
from covidlake.store import ObjectInfo

PART_SIZE = 16 * 1024 * 1024  # multipart above this size, in parts of this size
RETRIES = 5


def _etag(parts: list[bytes]) -> str:
    """S3's ETag: the MD5 of a single-part object; for n parts the MD5 of their MD5s, '-n'."""
    if len(parts) == 1:
        return hashlib.md5(parts[0], usedforsecurity=False).hexdigest()
    joined = b"".join(hashlib.md5(p, usedforsecurity=False).digest() for p in parts)
    return f"{hashlib.md5(joined, usedforsecurity=False).hexdigest()}-{len(parts)}"


class S3Store:
    def __init__(self, url: str, client: Any = None) -> None:
        parsed = urlparse(url)
        if not parsed.netloc:
            raise StoreError(f"{url}: an S3 URL needs a bucket (s3://bucket/prefix)")
        self.bucket = parsed.netloc
        self.prefix = parsed.path.strip("/") + "/" if parsed.path.strip("/") else ""
        self.url = f"s3://{self.bucket}/{self.prefix}"
        import boto3  # the AWS SDK, needed only for S3 lakes and sources
        from botocore import UNSIGNED
        from botocore.config import Config

        self.session = boto3.Session()
        self.anonymous = self.session.get_credentials() is None
        config = Config(retries={"max_attempts": RETRIES, "mode": "standard"},
                        connect_timeout=10, read_timeout=60,
                        signature_version=UNSIGNED if self.anonymous else None)
        self.client = client or self.session.client("s3", config=config)
        self.endpoint = self.client.meta.endpoint_url

    # -- errors -----------------------------------------------------------------------------
    def _error(self, exc: Exception, what: str) -> StoreError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        where = f"{what} at {self.endpoint}"
        if code == "NoSuchBucket":
            return StoreError(f"{where}: bucket {self.bucket!r} does not exist",
                              hint="create it, or check the bucket name in the URL")
        if code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"):
            return StoreError(f"{where}: access denied ({code})",
                              hint="check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the "
                                   "profile, and the bucket policy")
        return StoreError(f"{where}: {exc}", hint="check AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL "
                                                 "and that the endpoint is up")

    def _key(self, key: str) -> str:
        return self.prefix + key

    # -- the ObjectStore protocol -----------------------------------------------------------
    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        found = []
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix))
            for page in pages:
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(self.prefix):]
                    name = key.rsplit("/", 1)[-1]
                    if key and not name.startswith(".") and not key.endswith("/"):
                        found.append(ObjectInfo(key, obj["Size"],
                                                f"etag:{obj.get('ETag', '')}:"
                                                f"{obj.get('LastModified', '')}"))
        except Exception as exc:
            raise self._error(exc, f"listing s3://{self.bucket}/{self._key(prefix)}") from exc
        yield from sorted(found, key=lambda o: o.key)

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise self._error(exc, f"reading {self.uri(key)}") from exc

    def get(self, key: str) -> bytes:
        try:
            obj = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            data = obj["Body"].read()
        except Exception as exc:
            raise self._error(exc, f"reading {self.uri(key)}") from exc
        if len(data) != obj.get("ContentLength", len(data)):
            raise StoreError(f"reading {self.uri(key)}: got {len(data)} of "
                             f"{obj['ContentLength']} bytes", hint="try again")
        return data

    def put(self, key: str, data: bytes) -> None:
        if len(data) <= PART_SIZE:  # one request, straight from memory
            self._upload(key, lambda: (self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data), _etag([data])))
            return
        with tempfile.NamedTemporaryFile(prefix="covidlake-put-") as tmp:
            tmp.write(data)
            tmp.flush()
            self.put_file(key, Path(tmp.name))

    def put_file(self, key: str, path: Path) -> None:
        """Upload, in parts above PART_SIZE, and verify the ETag the server computed."""
        if path.stat().st_size <= PART_SIZE:
            self.put(key, path.read_bytes())
        else:
            self._upload(key, lambda: self._multipart(key, path))

    def _upload(self, key: str, send: Any) -> None:
        """Run `send` (which returns the server's answer and the ETag expected) and check it."""
        try:
            out, expected = send()
        except StoreError:
            raise
        except Exception as exc:
            raise self._error(exc, f"writing {self.uri(key)}") from exc
        got = out.get("ETag", "").strip('"')
        if got and got != expected:
            raise StoreError(f"writing {self.uri(key)}: checksum mismatch (ETag {got}, "
                             f"expected {expected})", hint="the upload was corrupted; run again")

    def _multipart(self, key: str, path: Path) -> tuple[dict[str, Any], str]:
        upload = self.client.create_multipart_upload(Bucket=self.bucket, Key=self._key(key))
        uid, parts, chunks = upload["UploadId"], [], []
        try:
            with path.open("rb") as f:
                for number, chunk in enumerate(iter(lambda: f.read(PART_SIZE), b""), start=1):
                    part = self.client.upload_part(Bucket=self.bucket, Key=self._key(key),
                                                   UploadId=uid, PartNumber=number, Body=chunk)
                    md5 = hashlib.md5(chunk, usedforsecurity=False)
                    if part["ETag"].strip('"') != md5.hexdigest():
                        raise StoreError(f"writing {self.uri(key)}: part {number} checksum "
                                         "mismatch", hint="the upload was corrupted; run again")
                    parts.append({"PartNumber": number, "ETag": part["ETag"]})
                    chunks.append(md5.digest())
            out = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self._key(key), UploadId=uid,
                MultipartUpload={"Parts": parts})
        except BaseException:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(key),
                                               UploadId=uid)
            raise
        joined = hashlib.md5(b"".join(chunks), usedforsecurity=False).hexdigest()
        return out, f"{joined}-{len(parts)}"

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as exc:
            raise self._error(exc, f"deleting {self.uri(key)}") from exc

    def local_path(self, key: str) -> Path | None:
        return None

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._key(key)}"

    def sweep(self) -> int:
        removed = 0
        try:
            pages = self.client.get_paginator("list_multipart_uploads").paginate(
                Bucket=self.bucket, Prefix=self.prefix)
            for page in pages:
                for upload in page.get("Uploads", []):
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])
                    removed += 1
        except Exception as exc:
            raise self._error(exc, f"cleaning up s3://{self.bucket}/{self.prefix}") from exc
        return removed

    # -- engines ----------------------------------------------------------------------------
    def configure_duckdb(self, con: Any) -> None:
        """Let DuckDB read and write s3:// here: the httpfs extension from PyPI with this
        store's endpoint and credentials, or, where that cannot load, s3fs as a filesystem."""
        if os.environ.get("COVIDLAKE_S3_DUCKDB") != "s3fs" and self._httpfs(con):
            return
        import s3fs

        fs = s3fs.S3FileSystem(anon=self.anonymous, endpoint_url=self.endpoint)
        con.register_filesystem(fs)

    def _httpfs(self, con: Any) -> bool:
        try:
            import duckdb_extension_httpfs

            base = Path(duckdb_extension_httpfs.__file__).parent / "extensions"
            found = sorted(base.glob("*/httpfs.duckdb_extension"))
            con.execute(f"LOAD '{found[-1]}'" if found else "LOAD httpfs")
        except Exception:  # noqa: BLE001 - fall back to s3fs
            return False
        parsed = urlparse(self.endpoint)
        fields = {"TYPE": "s3", "REGION": self.session.region_name or "us-east-1",
                  "ENDPOINT": parsed.netloc, "USE_SSL": str(parsed.scheme == "https").lower(),
                  "URL_STYLE": "'path'" if "amazonaws.com" not in parsed.netloc else "'vhost'"}
        creds = self.session.get_credentials()
        if creds is not None:
            frozen = creds.get_frozen_credentials()
            fields |= {"KEY_ID": frozen.access_key, "SECRET": frozen.secret_key}
            if frozen.token:
                fields["SESSION_TOKEN"] = frozen.token
        body = ", ".join(f"{k} {v if k in ('TYPE', 'USE_SSL', 'URL_STYLE') else _q(v)}"
                         for k, v in fields.items())
        con.execute(f"CREATE OR REPLACE TEMPORARY SECRET covidlake_s3 ({body})")
        return True


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
