"""File storage for uploads (contract scans, deal images). Local folder under the instance
path now; an object store (OSS/S3) fits behind the same three methods."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Protocol

from flask import Flask, Response, current_app

from marketplace.core.db import on_rollback
from marketplace.core.errors import NotFound
from marketplace.core.files import image_mimetype


class FileStorage(Protocol):
    def save(self, key: str, data: bytes) -> None: ...
    def read(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"storage key escapes the storage root: {key!r}")
        return path

    def save(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename, so a reader never sees half a file.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def read(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def init_storage(app: Flask) -> None:
    app.extensions["linli.storage"] = LocalStorage(Path(app.instance_path) / "uploads")


def file_storage() -> FileStorage:
    return current_app.extensions["linli.storage"]


def public_image(key: str) -> Response:
    """A stored image for anyone to see (a deal's photo, a review's): its bytes, its type,
    cached for a week (a key is never reused for other bytes); 404 if it is not there."""
    try:
        data = file_storage().read(key)
    except (FileNotFoundError, ValueError) as exc:
        raise NotFound("No such image.") from exc
    response = Response(data, mimetype=image_mimetype(key))
    response.headers["Cache-Control"] = "public, max-age=604800, immutable"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def save_upload(key: str, data: bytes) -> None:
    """Store an upload for the current transaction: the file is written now and deleted
    again if the transaction does not commit, so a failed request leaves no orphan file."""
    storage = file_storage()
    storage.save(key, data)
    on_rollback(lambda: storage.delete(key))
