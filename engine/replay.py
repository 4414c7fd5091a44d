"""Stage 8, replay: rebuild a logged decision from the stored texts and compare.

Replay reads only the log: the rule text, facts schema and facts stored with
the record, its as-of date, overrides and evaluator. It never reads the rules
folder, so a decision replays after the rule files were changed or deleted.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from . import __version__
from .audit import DecisionLog, Entry
from .compile import Ruleset, compile_text
from .decide import batch, decide, to_json_bytes
from .diff import FIELDS, changed_applicants
from .facts import parse_facts


@dataclass(frozen=True)
class Change:
    applicant: str
    field: str
    before: object
    after: object


@dataclass(frozen=True)
class Replay:
    entry: Entry
    output: bytes
    identical: bool
    engine_changed: bool
    changes: list = field(default_factory=list)


def rebuild(log: DecisionLog, entry: Entry) -> tuple[Ruleset, dict]:
    """The ruleset and decision record, recomputed from what the log stored."""
    ruleset = stored_ruleset(log, entry)
    with batch():
        facts = parse_facts(log.blob(entry.facts_sha256), f"log#{entry.seq}:facts", ruleset)
        record = decide(ruleset, facts, dt.date.fromisoformat(entry.as_of), entry.evaluator)
    return ruleset, record


def stored_ruleset(log: DecisionLog, entry: Entry) -> Ruleset:
    """The ruleset a record was decided with, compiled from the stored texts."""
    rule_text = log.blob(entry.ruleset_sha256).decode("utf-8")
    schema_text = log.blob(entry.schema_sha256).decode("utf-8")
    label = f"log#{entry.seq}:{entry.ruleset_id}-{entry.ruleset_version}.yaml"
    return compile_text(rule_text, label, None, entry.override_map, schema_text=schema_text)


def replay(log: DecisionLog, entry: Entry) -> Replay:
    """Recompute one record and compare it byte for byte with what was stored."""
    _ruleset, record = rebuild(log, entry)
    output = to_json_bytes(record) + b"\n"
    stored = entry.text
    identical = output == stored
    changes = [] if identical else diff_outputs(json.loads(stored), json.loads(output))
    return Replay(entry, output, identical, entry.engine_version != __version__, changes)


def diff_outputs(before: dict, after: dict) -> list[Change]:
    """Per-applicant differences in eligibility, tier, rank and FTE, then in totals."""
    changes = [Change(c["id"], name, c["before"][name], c["after"][name])
               for c in changed_applicants(before, after) for name in FIELDS if c["before"][name] != c["after"][name]]
    for name in ("allocated_fte", "unallocated_fte", "decision_id"):
        if before.get(name) != after.get(name):
            changes.append(Change("(total)", name, before.get(name), after.get(name)))
    return changes
