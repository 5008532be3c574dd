"""The pages' static files, served by the app with long caching and gzip.

URLs carry a content hash (``asset_url("css/linli.css")`` → ``/assets/css/linli.css?v=…``),
so a file can be cached for a year and a new version is a new URL. Text files are sent
gzipped to browsers that accept it (the vendored CSS and JS shrink to a fifth), compressed
once per process and file version; nothing is fetched from anywhere else.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from flask import Blueprint, Flask, Response, abort, request, url_for
from werkzeug.security import safe_join

STATIC_DIR = Path(__file__).resolve().parent / "static"
# Templates and assets of every audience; the audiences' blueprints hold only their routes.
web = Blueprint("web", __name__, template_folder="templates")
COMPRESSIBLE = {"text/css", "text/javascript", "application/javascript", "image/svg+xml"}
YEAR = 365 * 24 * 3600


@dataclass(frozen=True)
class Asset:
    data: bytes
    gzipped: bytes | None
    mimetype: str
    digest: str


_cache: dict[tuple[str, int], Asset] = {}


def _load(filename: str) -> Asset:
    joined = safe_join(str(STATIC_DIR), filename)
    if joined is None:
        abort(404)
    path = Path(joined)
    if not path.is_file():
        abort(404)
    key = (filename, path.stat().st_mtime_ns)
    asset = _cache.get(key)
    if asset is None:
        data = path.read_bytes()
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix == ".js":
            mimetype = "text/javascript"
        if path.suffix == ".md" or path.name.startswith("LICENSE"):
            mimetype = "text/plain"
        compressed = (
            gzip.compress(data, compresslevel=9, mtime=0) if mimetype in COMPRESSIBLE else None
        )
        digest = hashlib.sha256(data).hexdigest()[:12]
        asset = _cache[key] = Asset(data, compressed, mimetype, digest)
    return asset


def asset_url(filename: str) -> str:
    return url_for("web.asset", filename=filename, v=_load(filename).digest)


@web.get("/assets/<path:filename>", endpoint="asset")
def serve(filename: str) -> Response:
    asset = _load(filename)
    gzipped = asset.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", "")
    body = asset.gzipped if gzipped and asset.gzipped is not None else asset.data
    response = Response(body, mimetype=asset.mimetype)
    if asset.mimetype.startswith("text/"):
        response.charset = "utf-8"
    if gzipped:
        response.headers["Content-Encoding"] = "gzip"
    if asset.gzipped is not None:
        response.vary.add("Accept-Encoding")
    response.set_etag(asset.digest + ("-gz" if gzipped else ""))
    versioned = request.args.get("v") == asset.digest
    response.cache_control.public = True
    response.cache_control.max_age = YEAR if versioned else 300
    if versioned:
        response.cache_control.immutable = True
    return response.make_conditional(request)


def init_app(app: Flask) -> None:
    app.register_blueprint(web)
    app.jinja_env.globals["asset_url"] = asset_url
