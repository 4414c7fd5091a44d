"""Stage 8, replay: rebuild a logged decision from the stored texts and compare.

Replay reads only the log: the rule text, facts schema and facts stored with
the record, its as-of date, overrides and evaluator. It never reads the rules
folder, so a decision replays after the rule files were changed or deleted.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field

from .. import __version__
from ..record.audit import NOT_DECISIONS, DecisionLog, Entry
from ..rules.compile import Ruleset, compile_text
from ..decide.decision import batch, decide, to_json_bytes
from ..errors import AuditFailure, RulesError
from .diff import FIELDS, changed_applicants
from ..rules.facts import parse_facts


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
    error: str = ""  # why the record could not be replayed (it does not check out, or does not rebuild)


def rebuild(log: DecisionLog, entry: Entry) -> tuple[Ruleset, dict]:
    """The ruleset and decision record, recomputed from what the log stored."""
    ruleset = stored_ruleset(log, entry)
    raw = log.blob(entry.facts_sha256)
    kind = entry.extras.get("kind")  # None: written before kinds existed, and so without them
    approvals = log.approvals(entry.ruleset_sha256, entry.schema_sha256, entry.requested_by, entry.seq) if kind else ()
    with batch():
        facts = parse_facts(raw, f"log#{entry.seq}:facts", ruleset, entry.facts_format or legacy_format(raw),
                            limited=False)
        record = decide(ruleset, facts, _as_of(entry), entry.evaluator, kind, approvals, stored_format(entry.text))
    return ruleset, record


def stored_format(text: str | bytes) -> str | None:
    """The format a stored record names in its first key, or None for a record made before formats were named."""
    head = text[:64].decode("utf-8", "replace") if isinstance(text, bytes) else text[:64]
    if not head.startswith('{\n  "format": "'):
        return None
    return head.split('"format": "', 1)[1].split('"', 1)[0]


def legacy_format(raw: bytes) -> str:
    """The parser of facts logged before the format was recorded: JSON if they are JSON, else YAML.

    (Those records were parsed as JSON when the file name said so or the text began with '{' or '[';
    a '.yaml' file in flow style begins with '{' too, but is no JSON, and was read as YAML.)
    """
    if raw.lstrip()[:1] not in (b"{", b"["):
        return "yaml"
    try:
        json.loads(raw)
    except ValueError:
        return "yaml"
    return "json"


def _as_of(entry: Entry) -> dt.date:
    try:
        return dt.date.fromisoformat(entry.as_of)
    except (TypeError, ValueError):
        raise AuditFailure(f"record {entry.seq}: its as-of date {entry.as_of!r} is not a date") from None


def stored_ruleset(log: DecisionLog, entry: Entry, overrides: bool = True) -> Ruleset:
    """The ruleset a record was decided with, compiled from the stored texts (``overrides``: with its --set)."""
    rule_text = _text(log, entry.ruleset_sha256, entry, "rule text")
    schema_text = _text(log, entry.schema_sha256, entry, "facts schema")
    label = f"log#{entry.seq}:{entry.ruleset_id}-{entry.ruleset_version}.yaml"
    return compile_text(rule_text, label, None, entry.override_map if overrides else {}, schema_text=schema_text,
                        as_of=_as_of(entry))


def _text(log: DecisionLog, digest: str, entry: Entry, what: str) -> str:
    try:
        return log.blob(digest).decode("utf-8")
    except UnicodeDecodeError:
        raise AuditFailure(f"record {entry.seq}: the stored {what} is not UTF-8 text") from None


def replay(log: DecisionLog, entry: Entry) -> Replay:
    """Recompute one record and compare it byte for byte with what was stored."""
    _ruleset, record = rebuild(log, entry)
    output = to_json_bytes(record, end=b"\n")
    stored = entry.text
    identical = output == stored
    changes = [] if identical else diff_outputs(_json(stored, entry), json.loads(output))
    return Replay(entry, output, identical, entry.engine_version != __version__, changes)


def replay_checked(log: DecisionLog, entry: Entry) -> Replay:
    """``replay`` of a record once ``log.checked`` accepts it; a failure is returned, not raised."""
    try:
        log.checked(entry)
        if entry.kind in NOT_DECISIONS:  # nothing to recompute: its hash, link and texts were checked
            return Replay(entry, entry.text, True, False)
        return replay(log, entry)
    except RulesError as exc:
        return Replay(entry, b"", False, entry.engine_version != __version__, [], str(exc))


def diff_outputs(before: dict, after: dict) -> list[Change]:
    """Per-applicant differences in eligibility, tier, rank and FTE, then in totals."""
    changes = [Change(c["id"], name, c["before"][name], c["after"][name])
               for c in changed_applicants(before, after) for name in FIELDS if c["before"][name] != c["after"][name]]
    for name in ("allocated_fte", "unallocated_fte", "decision_id"):
        if before.get(name) != after.get(name):
            changes.append(Change("(total)", name, before.get(name), after.get(name)))
    return changes


def _json(data: bytes, entry: Entry) -> dict:
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise AuditFailure(f"record {entry.seq}: the stored output is not a decision record")
    return value
