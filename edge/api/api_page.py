"""The OpenAPI document read as rows (operations, schemas) and rendered as one plain HTML page.

The page is built on the server from the same document as ``/api/v1/openapi.json``: no
JavaScript, no stylesheet or font from another host (clinics may be offline). The rows also feed
``docs/reference/api.md`` (``edge/docs_gen.py``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from html import escape


@dataclass(frozen=True)
class OperationRow:
    method: str
    path: str
    summary: str
    roles: str
    request: str
    status: str


@dataclass(frozen=True)
class FieldRow:
    name: str
    schema: dict
    required: bool


@dataclass(frozen=True)
class SchemaRow:
    name: str
    fields: tuple[FieldRow, ...]


def _request_body(entry: dict) -> str:
    content = entry.get("requestBody", {}).get("content", {})
    for media_type, spec in content.items():
        schema = spec.get("schema", {})
        refs = [part["$ref"] for part in schema.get("allOf", [schema]) if "$ref" in part]
        name = refs[0].rsplit("/", 1)[-1] if refs else ""
        return f"{name} ({media_type})" if media_type != "application/json" else name
    return ""


def operations(document: dict) -> list[OperationRow]:
    """Every operation of the document, in path order."""
    rows = []
    for path in sorted(document["paths"]):
        for method, entry in document["paths"][path].items():
            roles = entry.get("description", "").removeprefix("Roles: ").rstrip(".") if "security" not in entry \
                else "public"
            # Every success status: an idempotent upload answers 201, or 200 when already stored.
            status = ", ".join(f"{code} ({entry['responses'][code]['description']})" if index else code
                               for index, code in enumerate(c for c in entry["responses"] if c[0] == "2"))
            rows.append(OperationRow(method.upper(), path, entry.get("summary", ""), roles, _request_body(entry), status))
    return rows


def schemas(document: dict) -> list[SchemaRow]:
    """Every schema of the document with its fields."""
    rows = []
    for name, schema in sorted(document["components"]["schemas"].items()):
        required = set(schema.get("required", []))
        fields = tuple(FieldRow(field, prop, field in required) for field, prop in schema.get("properties", {}).items())
        rows.append(SchemaRow(name, fields))
    return rows


STYLE = ("body{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.25em .5em;"
         "text-align:left;vertical-align:top}code{font-size:.95em}")


def _field_type(prop: dict) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{escape(name)}">{escape(name)}</a>'
    if "anyOf" in prop:
        return " or ".join(_field_type(option) for option in prop["anyOf"])
    if prop.get("type") == "array":
        return "list of " + _field_type(prop.get("items", {}))
    if "enum" in prop:
        return " | ".join(f"<code>{escape(json.dumps(value))}</code>" for value in prop["enum"])
    return escape(str(prop.get("type", "any")))


def render_html(document: dict) -> str:
    """The whole API reference as one self-contained HTML page."""
    info = document["info"]
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(info['title'])} API {escape(info['version'])}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>{escape(info['title'])} API <small>{escape(info['version'])}</small></h1>",
        f"<p>{escape(info.get('description', ''))} Machine-readable: "
        '<a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.</p>',
        "<h2>Operations</h2>",
        "<table><tr><th>method</th><th>path</th><th>what</th><th>roles</th><th>request body</th>"
        "<th>success</th></tr>",
    ]
    for op in operations(document):
        body_name = op.request.split(" ")[0]
        body = f'<a href="#schema-{escape(body_name)}">{escape(op.request)}</a>' if op.request else ""
        parts.append(f"<tr><td>{op.method}</td><td><code>{escape(op.path)}</code></td><td>{escape(op.summary)}</td>"
                     f"<td>{escape(op.roles)}</td><td>{body}</td><td>{escape(op.status)}</td></tr>")
    parts += ["</table>", "<h2>Schemas</h2>"]
    for schema in schemas(document):
        parts.append(f'<h3 id="schema-{escape(schema.name)}">{escape(schema.name)}</h3>')
        if not schema.fields:
            parts.append("<p>No fields.</p>")
            continue
        parts.append("<table><tr><th>field</th><th>type</th><th>required</th><th>meaning</th></tr>")
        for field in schema.fields:
            parts.append(f"<tr><td><code>{escape(field.name)}</code></td><td>{_field_type(field.schema)}</td>"
                         f"<td>{'yes' if field.required else ''}</td>"
                         f"<td>{escape(field.schema.get('description', ''))}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
