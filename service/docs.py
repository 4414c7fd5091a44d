"""Human-readable API documentation, rendered on the server from the OpenAPI document: no script, no CDN."""
from __future__ import annotations

from html import escape

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rules API</title>
<style>body{{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.4}}
code{{background:#f3f3f3;padding:0 .2rem}} .op{{border-top:1px solid #ccc;padding:.5rem 0}}
.m{{font-weight:bold;display:inline-block;width:4rem}}</style></head>
<body><h1>rules API {version}</h1><p>{description}</p>
<p>Every route but <code>/healthz</code> and <code>/readyz</code> needs <code>Authorization: Bearer TOKEN</code>
(<code>rules token add NAME --role ROLE</code>). Errors are <code>application/problem+json</code> (RFC 9457).
The machine-readable document: <a href="/openapi.json">/openapi.json</a>; every call tried from the browser, with
your token: <a href="/docs/try">/docs/try</a>.</p>
{operations}</body></html>
"""


TRY = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rules API: try it</title>
<link rel="stylesheet" href="/docs/swagger/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/docs/swagger/swagger-ui-bundle.js"></script><script src="/static/try.js"></script></body></html>
"""
# the try-it page runs Swagger UI's own scripts, from this server only
TRY_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
               "frame-ancestors 'none'", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def swagger_folder() -> str:
    """Swagger UI's files (version 5: OpenAPI 3.1), as the swagger-ui-py package ships them."""
    import os

    import swagger_ui

    return os.path.join(os.path.dirname(swagger_ui.__file__), "static")


def docs_page(openapi: dict) -> str:
    """An HTML page listing every operation with its parameters and responses."""
    parts = []
    for path, item in openapi.get("paths", {}).items():
        for method, op in item.items():
            params = ", ".join(f"<code>{escape(p['name'])}</code> ({escape(p['in'])})" for p in op.get("parameters", []))
            statuses = ", ".join(f"{escape(code)} {escape(r.get('description', ''))}"
                                 for code, r in sorted(op.get("responses", {}).items()))
            parts.append(f"<div class='op'><span class='m'>{escape(method.upper())}</span> <code>{escape(path)}</code>"
                         f"<p>{escape(op.get('description') or op.get('summary') or '')}</p>"
                         + (f"<p>Parameters: {params}</p>" if params else "")
                         + f"<p>Responses: {statuses}</p></div>")
    return PAGE.format(version=escape(openapi.get("info", {}).get("version", "")),
                       description=escape(openapi.get("info", {}).get("description", "")),
                       operations="\n".join(parts))
