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
from rules_engine.tell.letter import Formatter, numbers_in


def _yaml(text: str = "") -> YAML:
    """A round-trip YAML that writes lists indented as ``text`` has them (``  - id:`` or ``- id:``)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never fold a long line the author wrote on one
    indented = re.search(r"^[a-z_]+:\n  - ", text, re.M) is not None
    yaml.indent(mapping=2, sequence=4 if indented else 2, offset=2 if indented else 0)
    return yaml


def fields(ruleset: Ruleset) -> dict:
    """What the form shows: the budget, the period, each parameter (value and description), each condition
    (``when`` and description) and the cap, as the text has them. A description given in several languages
    (``{nl: ..., en: ...}``) or a cap that is not one expression is edited in the text, not the form."""
    data = _yaml().load(ruleset.text)
    parameters = data.get("parameters") or {}
    effective = data.get("effective") or {}
    cap = (data.get("allocation") or {}).get("cap")
    return {"budget": _text(((data.get("budget") or {}).get("fte"))),
            "effective_from": _text(effective.get("from")), "effective_to": _text(effective.get("to")),
            "parameters": [{"name": str(name), "value": _text(spec.get("value")), "dated": "values" in spec,
                            "description": _plain(spec.get("description"))}
                           for name, spec in parameters.items() if isinstance(spec, dict)],
            "rules": [{"field": str(rule["id"]), "when": _plain(rule.get("when")),
                       "description": _plain(rule.get("description"))} for _path, rule in _rules(data)],
            "cap": _plain(cap)}


def _rules(data: Any) -> list[tuple[str, Any]]:
    """(path, mapping) of every eligibility rule and tier, as problems name them."""
    found = [(f"eligibility[{i}]", rule) for i, rule in enumerate(data.get("eligibility") or [])]
    tiers = (data.get("priority") or {}).get("tiers") or []
    found += [(f"priority.tiers[{i}]", rule) for i, rule in enumerate(tiers)]
    return [(path, rule) for path, rule in found if isinstance(rule, dict) and "id" in rule]


def _plain(value: Any) -> str | None:
    """A text the form can show in one field (None: a mapping of languages, a list, nothing)."""
    return " ".join(str(value).split()) if isinstance(value, str) else None


def field_problems(text: str, problems: list) -> list[dict]:
    """Each problem of ``text`` with the form field it comes from (``when:ID``, ``cap``, ...; '' for none) and
    its 1-based position in that field's value (0 when the value spans lines)."""
    starts = _value_starts(text)
    out = []
    for problem in problems:
        field, start = starts.get(problem.path, ("", None))
        line, col = problem.location.line, problem.location.col
        position = col - start[1] if start and line == start[0] + 1 and col > start[1] else 0
        out.append({"field": field, "position": position, "line": line, "col": col, "message": problem.message})
    return out


def _value_starts(text: str) -> dict:
    """{problem path: (form field, (0-based line, 0-based column) where its value starts)}."""
    try:
        data = _yaml(text).load(text)
    except Exception:  # noqa: BLE001 - a text YAML cannot read: its problem has its line, no field
        return {}
    if not isinstance(data, dict):
        return {}
    starts = {}
    for path, rule in _rules(data):
        for key, prefix in (("when", "when"), ("description", "desc")):
            if key in rule:
                starts[f"{path}.{key}"] = (f"{prefix}:{rule['id']}", tuple(rule.lc.value(key)))
    for name, spec in (data.get("parameters") or {}).items():
        if isinstance(spec, dict) and "description" in spec:
            starts[f"parameters.{name}.description"] = (f"pdesc:{name}", tuple(spec.lc.value("description")))
    allocation = data.get("allocation") or {}
    if "cap" in allocation:
        starts["allocation.cap"] = ("cap", tuple(allocation.lc.value("cap")))
    return starts


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
        else:
            _apply_text(data, key, value)
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()


def _apply_text(data: Any, key: str, value: str) -> None:
    """A text field of the form (a condition, a description, the cap) into the data; a field the text gives in
    another shape (a mapping of languages) is left to the text."""
    kind, _, name = key.partition(":")
    if kind == "cap" and _plain((data.get("allocation") or {}).get("cap")) is not None:
        data["allocation"]["cap"] = value
    elif kind == "pdesc" and _plain(((data.get("parameters") or {}).get(name) or {}).get("description")) is not None:
        data["parameters"][name]["description"] = value
    elif kind in ("when", "desc"):
        field = "when" if kind == "when" else "description"
        for _path, rule in _rules(data):
            if str(rule["id"]) == name and _plain(rule.get(field)) is not None:
                rule[field] = value


def fields_of_text(text: str) -> dict:
    """The form's fields as ``text`` has them, by the names the form posts."""
    data = _yaml().load(text)
    effective = data.get("effective") or {}
    out = {"budget": _text((data.get("budget") or {}).get("fte")), "effective_from": _text(effective.get("from")),
           "effective_to": _text(effective.get("to")), "cap": _plain((data.get("allocation") or {}).get("cap"))}
    for name, spec in (data.get("parameters") or {}).items():
        if isinstance(spec, dict):
            out[f"param:{name}"] = _text(spec.get("value"))
            out[f"pdesc:{name}"] = _plain(spec.get("description"))
    for _path, rule in _rules(data):
        out[f"when:{rule['id']}"] = _plain(rule.get("when"))
        out[f"desc:{rule['id']}"] = _plain(rule.get("description"))
    return out


def changes_in_words(old: Ruleset, new: Ruleset, lang: str) -> list[str]:
    """Per parameter, budget and period that differ: 'Minimale invullingsgraad ...: 0,95 → 0,90'. Each number is said
    as written (a rate of 0.95555 as 95,555 %, never rounded to 95,56 %, which would say a change as none)."""
    number = Formatter(lang, new, numbers_in(p.value for r in (old, new) for p in r.parameters.values()))
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
