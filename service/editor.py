"""The draft editor's arithmetic of texts: the form's fields from a rule text, the form's changes written back
into the text (ruamel.yaml's round trip: every comment and every other line as it was), and what a draft
changes against the version it replaces, in words for the approver."""
from __future__ import annotations

import difflib
import io
import re
from typing import Any

from ruamel.yaml import YAML

from rules_engine.rules.compile import Ruleset
from rules_engine.tell.letter import Formatter


def _yaml(text: str = "") -> YAML:
    """A round-trip YAML that writes lists indented as ``text`` has them (``  - id:`` or ``- id:``)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the author wrote on one
    indented = re.search(r"^[a-z_]+:\n  - ", text, re.M) is not None
    yaml.indent(mapping=2, sequence=4 if indented else 2, offset=2 if indented else 0)
    return yaml


def fields(ruleset: Ruleset) -> dict:
    """What the form shows: the budget, the period, and each parameter with its value as the text has it."""
    data = _yaml().load(ruleset.text)
    parameters = data.get("parameters") or {}
    effective = data.get("effective") or {}
    return {"budget": _text(((data.get("budget") or {}).get("fte"))),
            "effective_from": _text(effective.get("from")), "effective_to": _text(effective.get("to")),
            "parameters": [{"name": str(name), "value": _text(spec.get("value")), "dated": "values" in spec,
                            "description": str(spec.get("description") or "")}
                           for name, spec in parameters.items() if isinstance(spec, dict)]}


def apply(text: str, changes: dict) -> str:
    """``text`` with the form's changes (``budget``, ``effective_from``, ``effective_to``, ``param:NAME``), each
    value typed as YAML would read it (0.90 a number, 2019-04-01 a date, [a, b] a list); an emptied
    ``effective_to`` removes the period's end. Unchanged fields leave their lines as they are."""
    current = fields_of_text(text)
    wanted = {key: value.strip() for key, value in changes.items() if value is not None}
    edits = {key: value for key, value in wanted.items() if current.get(key) != value}
    if not edits:
        return text
    yaml = _yaml(text)
    data = yaml.load(text)
    for key, value in edits.items():
        if key == "budget":
            data["budget"]["fte"] = _typed(value)
        elif key == "effective_from":
            data["effective"]["from"] = _typed(value)
        elif key == "effective_to":
            if value:
                data["effective"]["to"] = _typed(value)
            else:
                data["effective"].pop("to", None)
        elif key.startswith("param:") and key[6:] in (data.get("parameters") or {}):
            data["parameters"][key[6:]]["value"] = _typed(value)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def fields_of_text(text: str) -> dict:
    data = _yaml().load(text)
    effective = data.get("effective") or {}
    out = {"budget": _text((data.get("budget") or {}).get("fte")), "effective_from": _text(effective.get("from")),
           "effective_to": _text(effective.get("to"))}
    for name, spec in (data.get("parameters") or {}).items():
        if isinstance(spec, dict):
            out[f"param:{name}"] = _text(spec.get("value"))
    return out


def changes_in_words(old: Ruleset, new: Ruleset, lang: str) -> list[str]:
    """Per parameter, budget and period that differ: 'Minimale invullingsgraad ...: 0,95 → 0,90'."""
    number = Formatter(lang, new)
    lines = []
    for name, parameter in new.parameters.items():
        before = old.parameters.get(name)
        if before is None or before.value != parameter.value:
            label = parameter.description or name
            was = number.value(name, before.value) if before is not None else "—"
            lines.append(f"{label}: {was} → {number.value(name, parameter.value)}")
    if old.budget_fte != new.budget_fte:
        lines.append(f"{'budget' if lang == 'en' else 'budget'} (FTE): {number.number(old.budget_fte)} → "
                     f"{number.number(new.budget_fte)}")
    if (old.effective_from, old.effective_to) != (new.effective_from, new.effective_to):
        lines.append(f"{'period' if lang == 'en' else 'geldigheid'}: {_period(old, number)} → {_period(new, number)}")
    return lines


def line_diff(old: str, new: str) -> list[tuple[str, str]]:
    """The lines of a unified diff as (kind, text): kind is 'del', 'add', 'at' or ''."""
    out = []
    for line in list(difflib.unified_diff(old.splitlines(), new.splitlines(), "before", "after", lineterm="", n=2))[2:]:
        kind = {"-": "del", "+": "add", "@": "at"}.get(line[:1], "")
        out.append((kind, line))
    return out


def _period(ruleset: Ruleset, number: Formatter) -> str:
    start = number.date(ruleset.effective_from)
    return f"{start} – {number.date(ruleset.effective_to)}" if ruleset.effective_to else f"{start} –"


def _typed(value: str) -> Any:
    return _yaml().load(value) if value else None


def _text(value: Any) -> str:
    if value is None:
        return ""
    out = io.StringIO()
    yaml = _yaml()
    yaml.dump(value, out)
    text = out.getvalue().strip()
    return text[:-4].strip() if text.endswith("\n...") else text.removesuffix("...").strip()
