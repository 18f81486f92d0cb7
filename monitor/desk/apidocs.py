"""``GET /docs``: the desk's API reference, rendered on the server from its OpenAPI document.

FastAPI's own ``/docs`` loads Swagger UI from a public CDN into the origin where the desk's page keeps
its token, with inline script. This page is plain HTML and one stylesheet, both served from the
package: no script at all, no request to any other host, the page's strict Content-Security-Policy.
Every text from the OpenAPI document is escaped. ``/openapi.json`` stays the machine-readable form.
``MONITOR_API_DOCS=false`` turns the page off (404).
"""

from __future__ import annotations

import html
import json
from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response

from monitor.desk.page import CSP

__all__ = ["mount_api_docs", "render"]

_CSS = b"""body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem 2rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #ccd}
.op{border:1px solid #d8dde3;border-radius:6px;margin:.8rem 0;padding:.5rem .9rem}
.m{display:inline-block;min-width:4.5rem;font-weight:700;font-family:monospace}
code,.p{font-family:ui-monospace,monospace}table{border-collapse:collapse;margin:.4rem 0}
td,th{border:1px solid #e1e4e8;padding:.2rem .5rem;text-align:left;vertical-align:top}
.d{color:#444;white-space:pre-wrap}
"""
_HEADERS = {"Cache-Control": "no-cache", "Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
_METHODS = ("get", "post", "put", "patch", "delete")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(_type(s) for s in schema["anyOf"])
    if schema.get("type") == "array":
        return f"array of {_type(schema.get('items', {}))}"
    kind = str(schema.get("type", "object"))
    if "enum" in schema:
        kind += " (" + ", ".join(str(v) for v in schema["enum"]) + ")"
    return kind


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    out = [f'<div class="op" id="{_e(op.get("operationId", method + path))}">',
           f'<div><span class="m">{_e(method.upper())}</span> <span class="p">{_e(path)}</span> '
           f'&nbsp;{_e(op.get("summary", ""))}</div>']
    if op.get("description"):
        out.append(f'<div class="d">{_e(op["description"])}</div>')
    params = op.get("parameters", [])
    if params:
        out.append("<table><tr><th>parameter</th><th>in</th><th>type</th><th>required</th><th>meaning</th></tr>")
        for p in params:
            out.append(f"<tr><td><code>{_e(p.get('name'))}</code></td><td>{_e(p.get('in'))}</td>"
                       f"<td>{_e(_type(p.get('schema', {})))}</td><td>{'yes' if p.get('required') else ''}</td>"
                       f"<td>{_e(p.get('description', ''))}</td></tr>")
        out.append("</table>")
    body = op.get("requestBody", {}).get("content", {})
    for media, spec in body.items():
        out.append(f"<div>body ({_e(media)}): <code>{_e(_type(spec.get('schema', {})))}</code></div>")
    responses = op.get("responses", {})
    if responses:
        out.append("<table><tr><th>status</th><th>meaning</th><th>body</th></tr>")
        for status, spec in responses.items():
            kinds = ", ".join(_type(c.get("schema", {})) for c in spec.get("content", {}).values())
            out.append(f"<tr><td>{_e(status)}</td><td>{_e(spec.get('description', ''))}</td>"
                       f"<td><code>{_e(kinds)}</code></td></tr>")
        out.append("</table>")
    out.append("</div>")
    return out


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f'<div class="op" id="schema-{_e(name)}"><div><b>{_e(name)}</b></div>']
    if schema.get("description"):
        out.append(f'<div class="d">{_e(schema["description"])}</div>')
    props = schema.get("properties", {})
    if props:
        required = set(schema.get("required", ()))
        out.append("<table><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr>")
        for field, spec in props.items():
            out.append(f"<tr><td><code>{_e(field)}</code></td><td>{_e(_type(spec))}</td>"
                       f"<td>{'yes' if field in required else ''}</td><td>{_e(spec.get('description', ''))}</td></tr>")
        out.append("</table>")
    elif "enum" in schema:
        out.append(f"<div>{_e(_type(schema))}</div>")
    out.append("</div>")
    return out


def render(spec: dict[str, Any]) -> str:
    """The reference page for an OpenAPI document (every text escaped)."""
    info = spec.get("info", {})
    out = ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{_e(info.get('title', 'API'))}: API reference</title>",
           '<link rel="icon" href="/static/favicon.png"><link rel="stylesheet" href="/docs/docs.css"></head><body>',
           f"<h1>{_e(info.get('title', 'API'))} <small>v{_e(info.get('version', ''))}</small></h1>",
           f'<p class="d">{_e(info.get("description", ""))}</p>',
           '<p>Send <code>Authorization: Bearer &lt;token&gt;</code> (from <code>monitor users add</code>). '
           'The machine-readable document: <a href="/openapi.json">/openapi.json</a>.</p>']
    by_tag: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in _METHODS:
            if method in item:
                op = item[method]
                by_tag.setdefault((op.get("tags") or ["other"])[0], []).append((method, path, op))
    for tag, ops in by_tag.items():
        out.append(f"<h2>{_e(tag)}</h2>")
        for method, path, op in ops:
            out.extend(_operation(method, path, op))
    schemas = spec.get("components", {}).get("schemas", {})
    if schemas:
        out.append("<h2>Schemas</h2>")
        for name, schema in sorted(schemas.items()):
            out.extend(_schema(name, schema))
    out.append("</body></html>")
    return "\n".join(out)


def mount_api_docs(app: FastAPI, enabled: bool = True) -> None:
    """Serve the reference at ``/docs`` and its stylesheet at ``/docs/docs.css`` (not in the OpenAPI
    document). Create the app with ``docs_url=None, redoc_url=None`` so FastAPI's CDN pages are off."""
    if not enabled:
        return
    page: list[bytes] = []

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    async def docs() -> Response:
        if not page:  # rendered once, on first use (every route is known by then)
            page.append(render(json.loads(json.dumps(app.openapi()))).encode())
        return Response(page[0], media_type="text/html; charset=utf-8", headers=_HEADERS)

    @app.api_route("/docs/docs.css", methods=["GET", "HEAD"], include_in_schema=False)
    async def css() -> Response:
        return Response(_CSS, media_type="text/css; charset=utf-8", headers=_HEADERS)
