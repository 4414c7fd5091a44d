"""Impact of a rule change: evaluate two rulesets on the same facts and compare."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..rules.compile import Ruleset
from ..decide.decision import decide
from ..decide.lazy import Decisions
from ..rules.facts import parse_facts, read_facts_bytes

FIELDS = ("eligible", "tier", "rank", "allocated_fte")
REDUCTION_FIELDS = ("reduced_fte", "change_fte")  # compared when either side has a reduction step


@dataclass(frozen=True)
class Impact:
    old: dict
    new: dict
    old_label: str
    new_label: str
    changed: list  # [{"id", "name", "before": {...}, "after": {...}}]
    regions: dict  # name -> {"before", "after"}


def impact(old: Ruleset, new: Ruleset, facts_path: str | Path, as_of: dt.date) -> Impact:
    """Evaluate ``old`` and ``new`` on the same facts file; list the applicants whose outcome changed."""
    raw, fmt = read_facts_bytes(facts_path)
    return impact_of(old, new, raw, "<stdin>" if str(facts_path) == "-" else str(facts_path), fmt, as_of)


def impact_of(old: Ruleset, new: Ruleset, raw: bytes, label: str, fmt: str | None, as_of: dt.date) -> Impact:
    """``impact`` on facts given as bytes (a request body)."""
    before = decide(old, parse_facts(raw, label, old, fmt), as_of)
    after = decide(new, parse_facts(raw, label, new, fmt), as_of)
    return Impact(before, after, old.label, new.label, changed_applicants(before, after), _regions(before, after))


def changed_applicants(before: dict, after: dict) -> list[dict]:
    """The applicants whose outcome differs (``FIELDS``), each with both; the decisions compared without their trace
    (a fresh record writes only what was decided)."""
    old = {d["id"]: d for d in _outcomes(before["decisions"])}
    new = {d["id"]: d for d in _outcomes(after["decisions"])}
    fields = FIELDS + (REDUCTION_FIELDS if "reduced_fte" in before or "reduced_fte" in after else ())
    out = []
    for applicant in sorted(set(old) | set(new)):
        a, b = old.get(applicant, {}), new.get(applicant, {})
        if any(a.get(f) != b.get(f) for f in fields):
            out.append({"id": applicant, "name": (b or a).get("name"),
                        "before": {f: a.get(f) for f in fields}, "after": {f: b.get(f) for f in fields}})
    return out


def _outcomes(decisions: Iterable[dict]) -> Iterable[dict]:
    return decisions.outcomes() if isinstance(decisions, Decisions) else decisions


def _regions(before: dict, after: dict) -> dict:
    names = sorted(set(before["regions"]) | set(after["regions"]))
    return {n: {"before": before["regions"].get(n, {}).get("allocated_fte"),
                "after": after["regions"].get(n, {}).get("allocated_fte")} for n in names}


def as_dict(result: Impact) -> dict:
    def side(record: dict) -> dict:
        return {"ruleset": record["ruleset"], "overrides": record["overrides"], "eligible": record["eligible"],
                "allocated_fte": record["allocated_fte"], "unallocated_fte": record["unallocated_fte"]}
    return {"as_of": result.new["as_of"], "old": dict(side(result.old), file=result.old_label),
            "new": dict(side(result.new), file=result.new_label),
            "changed": result.changed, "regions": result.regions}
