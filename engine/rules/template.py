"""The facts workbook a clerk fills in: its sheets and columns from a facts schema, in Dutch or English.

Each data sheet has, above the row of names the engine reads (row 3), a row of the columns' names in the
reader's language (row 1, from the schema's ``x-label``, with the description as a comment) and an example
(row 2, marked as such): rows above the names are never read as facts, so the example cannot be decided.
Data goes from row 4. A sheet ``toelichting`` (``guide``) explains every column; it is never read either.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Iterable

from .checker import deref
from .xlsx import APPLICANTS, CALL, REGIONS, write_workbook

WORDS = {
    "nl": {"guide": "toelichting", "example": "Voorbeeld: deze rij wordt niet gelezen. Vul de gegevens in vanaf rij 4.",
           "required": "verplicht", "yes": "ja", "no": "nee", "text": "voorbeeld",
           "columns": ["blad", "kolom", "naam", "verplicht", "toegelaten waarden", "omschrijving", "voorbeeld"],
           "applicant": ("dossiernummer van de aanvrager", "Het dossiernummer van de aanvrager waartoe deze rij hoort"),
           "region": ("regio", ""), "allowed": "Niet toegelaten: kies een van"},
    "en": {"guide": "guide", "example": "Example: this row is not read. Fill in the data from row 4.",
           "required": "required", "yes": "yes", "no": "no", "text": "example",
           "columns": ["sheet", "column", "name", "required", "allowed values", "description", "example"],
           "applicant": ("applicant's file number", "The id of the applicant this row belongs to"),
           "region": ("region", ""), "allowed": "Not allowed: choose one of"},
}
FORMATS = {"integer": "0", "number": "#,##0.00", "date": "dd/mm/yyyy", "string": "@"}
EXAMPLE_DATE = dt.date(2018, 4, 1)


def template_workbook(schema: dict, applicant_schema: dict, region_fields: list[str], lang: str = "nl") -> bytes:
    """An empty facts workbook for a facts schema, in ``lang``: per sheet the columns' names, an example and the
    names the engine reads; drop-downs for allowed values, number and date formats, and a sheet that explains
    every column."""
    words = WORDS[lang]
    sheets = _sheets(schema, applicant_schema, region_fields)
    columns = {(sheet, header): _column(sheet, header, schema, applicant_schema, lang)
               for sheet, headers in sheets.items() for header in headers}
    example_id = columns[(APPLICANTS, "id")].example if (APPLICANTS, "id") in columns else None
    preamble = {sheet: [[columns[(sheet, h)].label for h in headers],
                        [example_id if h == "applicant" else columns[(sheet, h)].example for h in headers]]
                for sheet, headers in sheets.items()}
    notes = {key: (c.note(words), c.allowed, f"{words['allowed']} {', '.join(c.allowed)}") for key, c in columns.items()}
    formats = {sheet: {i: FORMATS[columns[(sheet, h)].kind] for i, h in enumerate(headers, start=1)
                       if columns[(sheet, h)].kind in FORMATS} for sheet, headers in sheets.items()}
    book = {sheet: (headers, []) for sheet, headers in sheets.items()}
    book[CALL] = (["key", "value"], [["name", None]])
    book[words["guide"]] = (words["columns"], [[sheet, header, c.label, words["yes" if c.required else "no"],
                                                 ", ".join(c.allowed), c.description, c.example]
                                                for (sheet, header), c in columns.items()])
    raw = write_workbook(book, notes=notes, formats=formats, preamble=preamble)
    return _marked(raw, list(sheets), words["example"])


class Column:
    """What a column holds and how it is shown: its label, whether required, allowed values, kind, example."""

    def __init__(self, label: str, required: bool, field: dict, lang: str, description: str = ""):
        self.label, self.required, self.lang = label, required, lang
        self.allowed = [str(v) for v in field.get("enum", [])]
        self.kind = _kind(field)
        self.description = description or _description(field, lang)
        self.example = _example(field, self.kind, WORDS[lang]["text"])

    def note(self, words: dict) -> str:
        return "\n".join(part for part in (self.description, words["required"] if self.required else "") if part)


def _sheets(schema: dict, applicant_schema: dict, region_fields: list[str]) -> dict[str, list[str]]:
    list_fields, columns = {}, []
    for name, field_schema in applicant_schema.get("properties", {}).items():
        field_schema = deref(field_schema, schema)
        if field_schema.get("type") == "array":
            items = deref(field_schema.get("items", {}), schema)
            list_fields[name] = ["applicant"] + list(_columns(items, schema))
        else:
            columns += list(_columns(field_schema, schema, name))
    sheets = {APPLICANTS: columns, **list_fields}
    if region_fields:
        sheets[REGIONS] = ["region"] + region_fields
    return sheets


def _column(sheet: str, header: str, schema: dict, applicant_schema: dict, lang: str) -> Column:
    words = WORDS[lang]
    field, required = _field_of(sheet, header, schema, applicant_schema)
    if header == "applicant" and sheet not in (APPLICANTS, REGIONS):
        id_field = _field_of(APPLICANTS, "id", schema, applicant_schema)[0]
        return Column(words["applicant"][0], True, id_field, lang, words["applicant"][1])
    labels = field.get("x-label") if isinstance(field.get("x-label"), dict) else {}
    fallback = words["region"][0] if header == "region" else header
    return Column(str(labels.get(lang) or fallback), required, field, lang)


def _field_of(sheet: str, header: str, schema: dict, applicant_schema: dict) -> tuple[dict, bool]:
    """The schema of a column, and whether it is required."""
    if sheet == APPLICANTS:
        node, required = applicant_schema, True
    elif sheet == REGIONS:
        regions = deref(schema.get("properties", {}).get("regions", {}), schema)
        node = deref(regions.get("additionalProperties", {}), schema) if isinstance(regions, dict) else {}
        required = True
        if header == "region":
            return deref(regions.get("propertyNames", {}), schema) if isinstance(regions, dict) else {}, True
    elif sheet in applicant_schema.get("properties", {}):
        node = deref(deref(applicant_schema["properties"][sheet], schema).get("items", {}), schema)
        required = True
    else:
        return {}, False
    for part in header.split("."):
        required = required and part in (node.get("required") or [])
        node = deref((node.get("properties") or {}).get(part, {}), schema) if isinstance(node, dict) else {}
    return (node if isinstance(node, dict) else {}), required


def _columns(field_schema: dict, root: dict, prefix: str = "") -> Iterable[str]:
    field_schema = deref(field_schema, root)
    if field_schema.get("type") == "object" and field_schema.get("properties"):
        for name, sub in field_schema["properties"].items():
            yield from _columns(sub, root, f"{prefix}.{name}" if prefix else name)
    elif prefix:
        yield prefix


def _kind(field: dict) -> str:
    kinds = field.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else [k for k in kinds if k != "null"]
    if field.get("format") == "date":
        return "date"
    return kinds[0] if len(kinds) == 1 else ""


def _description(field: dict, lang: str) -> str:
    """The field's description in ``lang``: ``x-description`` per language; the plain ``description`` is English
    (JSON Schema's own keyword, for integrators) and is shown only in English."""
    described = field.get("x-description")
    if isinstance(described, dict) and described.get(lang):
        return str(described[lang])
    return str(field.get("description", "")) if lang == "en" else ""


def _example(field: dict, kind: str, text: str) -> Any:
    """The schema's first ``examples`` value, else one that fits the field (never one it would refuse)."""
    if isinstance(field.get("examples"), list) and field["examples"]:
        return field["examples"][0]
    if field.get("enum"):
        return field["enum"][0]
    low, high = field.get("minimum", 0), field.get("maximum")
    if kind in ("integer", "number"):
        value = max(Decimal(str(low)), Decimal(10 if kind == "integer" else "12.5"))
        return min(value, Decimal(str(high))) if high is not None else value
    if kind == "date":
        return EXAMPLE_DATE
    if kind == "boolean":
        return True
    if kind == "string" and not field.get("pattern"):
        return text
    return None


def _marked(raw: bytes, sheets: list[str], text: str) -> bytes:
    """The example row's first cell gets a comment saying it is an example (the bytes stay reproducible)."""
    import io

    from openpyxl import load_workbook
    from openpyxl.comments import Comment

    from .xlsx import _fixed_times

    book = load_workbook(io.BytesIO(raw))
    for name in sheets:
        book[name]["A2"].comment = Comment(text, "rules")
    out = io.BytesIO()
    book.save(out)
    return _fixed_times(out.getvalue())
