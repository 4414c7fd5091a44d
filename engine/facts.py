"""Facts files (the applications of a call): load fast, validate, coerce dates.

JSON is read with the standard library (decimals for numbers); YAML with
ruamel's C loader. Both are validated against the ruleset's facts schema with
a compiled validator; only when that fails is the file parsed again with
positions, to report every problem at its line.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .compile import Ruleset, kind_of_schema
from .errors import InputError, Location, Problem
from .load import MAX_JSON_BYTES, MAX_YAML_BYTES, decode, is_json, load_json_fast, load_positions, load_yaml_fast
from .validate import validate_facts


@dataclass(frozen=True)
class Facts:
    """A validated facts file."""

    label: str
    text: str
    sha256: str
    applicants: list
    regions: dict | None
    call: dict
    raw: bytes = field(default=b"", compare=False, repr=False)


def read_facts_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise InputError.at(Location(str(path)), "facts file not found", code="not-found") from None
    except IsADirectoryError:
        raise InputError.at(Location(str(path)), "is a directory, expected a facts file") from None
    except OSError as exc:
        raise InputError.at(Location(str(path)), f"cannot read facts file: {exc.strerror}") from None


def load_facts(path: str | Path, ruleset: Ruleset) -> Facts:
    """Read, parse and validate a facts file for ``ruleset``."""
    raw = read_facts_bytes(path)
    return parse_facts(raw, str(path), ruleset)


def parse_facts(raw: bytes, label: str, ruleset: Ruleset) -> Facts:
    """Parse and validate facts from bytes (as stored in the decision log)."""
    json_input = label.lower().endswith(".json") or raw.lstrip()[:1] in (b"{", b"[")
    text = decode(raw, label, MAX_JSON_BYTES if json_input else MAX_YAML_BYTES)
    from_json = is_json(label, text)
    data = load_json_fast(text, label) if from_json else load_yaml_fast(text, label)
    if not isinstance(data, dict):
        raise InputError.at(Location(label, 1, 1), "a facts file must be a mapping with an 'applicants' list")
    validate_facts(data, text, label, ruleset.facts_schema, from_yaml=not from_json)
    paths = date_paths(ruleset)
    applicants = [coerce_dates(a, paths) for a in data["applicants"]] if paths else data["applicants"]
    regions = data.get("regions")
    check_regions(ruleset, applicants, regions, text, label)
    return Facts(label, text, hashlib.sha256(raw).hexdigest(), applicants, regions, data.get("call") or {}, raw)


def date_paths(ruleset: Ruleset) -> tuple:
    """Paths (one or two keys deep) of the applicant fields declared as dates."""
    paths = []
    for name, schema in ruleset.applicant_fields.items():
        kind = kind_of_schema(schema, ruleset.facts_schema)
        if kind.name == "date":
            paths.append((name,))
        elif kind.name == "object":
            for sub, sub_schema in kind.schema.get("properties", {}).items():
                if kind_of_schema(sub_schema, ruleset.facts_schema).name == "date":
                    paths.append((name, sub))
    return tuple(paths)


def coerce_dates(applicant: dict, paths: tuple) -> dict:
    for path in paths:
        holder = applicant
        for part in path[:-1]:
            holder = holder.get(part) if isinstance(holder, dict) else None
        if isinstance(holder, dict) and isinstance(holder.get(path[-1]), str):
            holder[path[-1]] = dt.date.fromisoformat(holder[path[-1]])
    return applicant


def check_regions(ruleset: Ruleset, applicants: list, regions: Any, text: str, label: str) -> None:
    split = ruleset.allocation.regions
    if split is None:
        return
    if not isinstance(regions, dict) or not regions:
        raise InputError.at(Location(label, 1, 1), f"this ruleset splits the budget over regions: the facts need "
                            f"'regions:' with '{split.weight}' per region", "regions")
    missing = [(i, a) for i, a in enumerate(applicants) if a.get(split.field) not in regions]
    if missing:
        doc = load_positions(text, label)
        raise InputError(
            Problem(doc.loc(("applicants", i, split.field)), f"no entry for '{a.get(split.field)}' under regions",
                    f"applicants[{i}] (id {a.get('id')}).{split.field}", "regions")
            for i, a in missing
        )
