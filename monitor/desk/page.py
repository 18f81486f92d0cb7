"""The desk's web page: ``GET /`` (index.html) and ``GET /static/{name}`` from ``monitor/desk/static``.

Plain HTML, CSS and JavaScript shipped in the package (no CDN, no build
step), and ``/static/vocabulary.json``: the labels of every code from
:mod:`monitor.vocabulary` (the one vocabulary the reports use too) with the
patterns of the desk's messages. The files are read once when the app is built and served from memory
by name, so no path from a request ever reaches the file system. Every answer
carries ``Cache-Control: no-cache`` (with an ETag, so a revalidation costs a
304), a strict Content-Security-Policy (``default-src 'self'``, no inline
script or style) and ``X-Content-Type-Options: nosniff``. The routes are left
out of the OpenAPI document.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from monitor.desk.errors import patterns
from monitor.vocabulary import as_json

__all__ = ["CSP", "mount_page"]

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


@dataclass(frozen=True, slots=True)
class _File:
    body: bytes
    media_type: str
    etag: str


def _load() -> dict[str, _File]:
    files: dict[str, _File] = {}
    folder = resources.files("monitor.desk") / "static"
    for entry in folder.iterdir():
        name = entry.name
        suffix = name[name.rfind("."):] if "." in name else ""
        if not entry.is_file() or suffix not in _TYPES:
            continue
        body = entry.read_bytes()
        files[name] = _File(body, _TYPES[suffix], '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    if "index.html" not in files:
        raise RuntimeError("monitor/desk/static/index.html is missing from the package")
    body = vocabulary_json()
    files["vocabulary.json"] = _File(body, "application/json", '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
    return files


def vocabulary_json() -> bytes:
    """The one vocabulary (monitor.vocabulary: every code's label in Chinese and English) and the patterns of the
    desk's messages (monitor.desk.errors), for the page: ``{"zh": {...}, "en": {...}, "error_patterns": [...]}``."""
    doc = {**as_json(), "error_patterns": patterns()}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _headers(f: _File) -> dict[str, str]:
    return {"Cache-Control": "no-cache", "ETag": f.etag, "Content-Security-Policy": CSP,
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}


def _serve(request: Request, f: _File) -> Response:
    match = request.headers.get("if-none-match")
    if match is not None and f.etag in (m.strip().removeprefix("W/") for m in match.split(",")):
        return Response(status_code=304, headers=_headers(f))
    return Response(f.body, media_type=f.media_type, headers=_headers(f))


def mount_page(app: FastAPI) -> None:
    """Serve the page at ``/`` and its files at ``/static/{name}`` (not in the OpenAPI document)."""
    files = _load()

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def page(request: Request) -> Response:
        return _serve(request, files["index.html"])

    @app.api_route("/static/{name}", methods=["GET", "HEAD"], include_in_schema=False)
    async def static(request: Request, name: str) -> Response:
        f = files.get(name)
        if f is None:
            return JSONResponse({"detail": f"no such file: {name[:100]!r}"}, status_code=404,
                                headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})
        return _serve(request, f)
