"""The library's front door: what the CLI (and any other program) calls.

Nothing here prints or exits; errors are raised as ``engine.errors`` types.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .compile import Ruleset, compile_file, compile_text
from .decide import batch, decide
from .errors import InputError, Location, LookupFailure, Problem, did_you_mean
from .audit import DecisionLog, Entry, Submission
from .facts import Facts, load_facts, parse_facts

RULE_SUFFIXES = (".yaml", ".yml")


def find_rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Rule files under the given files or folders (``tests/`` folders excluded)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.suffix in RULE_SUFFIXES and p.is_file()
                         and "tests" not in p.relative_to(path).parts)
        elif path.exists():
            found.append(path)
        else:
            raise InputError.at(Location(str(path)), "no such file or folder", code="not-found")
    return found


@dataclass(frozen=True)
class Validation:
    files: int
    rulesets: list
    problems: list


def validate_paths(paths: Iterable[str | Path]) -> Validation:
    """Compile every rule file under ``paths``; collect all problems, then check version overlaps."""
    problems: list[Problem] = []
    rulesets: list[Ruleset] = []
    files = find_rule_files(paths)
    for path in files:
        try:
            rulesets.append(compile_file(path))
        except InputError as exc:
            problems.extend(exc.problems)
    problems.extend(overlaps(rulesets))
    return Validation(len(files), rulesets, sorted(problems, key=Problem.sort_key))


def overlaps(rulesets: Iterable[Ruleset]) -> list[Problem]:
    """Versions of one ruleset whose effective periods overlap, or that repeat a version."""
    by_id: dict[str, list[Ruleset]] = defaultdict(list)
    for r in rulesets:
        by_id[r.id].append(r)
    problems = []
    for versions in by_id.values():
        versions.sort(key=lambda r: (r.effective_from, r.version))
        for before, after in zip(versions, versions[1:]):
            if before.version == after.version:
                problems.append(Problem(_loc(after), f"version {after.version} of '{after.id}' also in {before.label}"))
            elif before.effective_to is None or before.effective_to >= after.effective_from:
                end = before.effective_to.isoformat() if before.effective_to else "open-ended"
                problems.append(Problem(_loc(after), f"effective period of {after.id} {after.version} (from "
                                        f"{after.effective_from}) overlaps {before.version} in {before.label} "
                                        f"(from {before.effective_from}, to {end})", "effective.from", "overlap"))
    return problems


def _loc(r: Ruleset) -> Location:
    for number, line in enumerate(r.text.splitlines(), start=1):
        if line.startswith("effective:"):
            return Location(r.label, number + 1, 3)
    return Location(r.label, 1, 1)


def list_versions(ruleset_id: str, rules_dir: str | Path) -> list[Ruleset]:
    """All versions of a ruleset in ``rules_dir/<id>/``, oldest first."""
    folder = Path(rules_dir) / ruleset_id
    if not Path(rules_dir).is_dir():
        raise LookupFailure(f"no rules folder '{rules_dir}' here: run from the folder that holds rules/, "
                            "pass --rules-dir, or give the path of a rule file")
    if not folder.is_dir():
        known = sorted(p.name for p in Path(rules_dir).iterdir() if p.is_dir()) if Path(rules_dir).is_dir() else []
        raise LookupFailure(f"no ruleset '{ruleset_id}' in {rules_dir}{did_you_mean(ruleset_id, known)}"
                            + (f"; known: {', '.join(known)}" if known else ""))
    versions = [compile_file(p) for p in find_rule_files([folder])]
    return sorted(versions, key=lambda r: (r.effective_from, r.version))


def resolve(spec: str, rules_dir: str | Path, as_of: dt.date, overrides: Mapping[str, str] | None = None) -> Ruleset:
    """A ruleset from a path, an id (the version in force on ``as_of``) or ``id@version``."""
    path = Path(spec)
    if path.suffix in RULE_SUFFIXES or path.is_file():
        return compile_file(path, overrides)
    ruleset_id, _, version = spec.partition("@")
    candidates = list_versions(ruleset_id, rules_dir)
    if version:
        chosen = [r for r in candidates if r.version == version]
        if not chosen:
            raise LookupFailure(f"ruleset '{ruleset_id}' has no version {version}; versions: "
                                + ", ".join(r.version for r in candidates))
    else:
        chosen = [r for r in candidates if r.in_force(as_of)]
        if not chosen:
            raise LookupFailure(f"no version of '{ruleset_id}' is in force on {as_of.isoformat()}; versions: "
                                + "; ".join(_period(r) for r in candidates))
    return compile_file(chosen[-1].label, overrides) if overrides else chosen[-1]


def _period(r: Ruleset) -> str:
    if r.effective_to is None:
        return f"{r.version} from {r.effective_from.isoformat()}, with no end"
    return f"{r.version} from {r.effective_from.isoformat()} to {r.effective_to.isoformat()}"


def evaluate(spec: str, facts: str | Path | bytes | Mapping, as_of: dt.date, rules_dir: str | Path = "rules",
             engine: str = "python", overrides: Mapping[str, str] | None = None, label: str = "<facts>",
             fmt: str | None = None) -> tuple[Ruleset, dict, Facts]:
    """Resolve the ruleset, load the facts and decide: (ruleset, record, facts).

    ``facts`` is a path (``-`` for standard input), the bytes themselves (named ``label`` in
    messages; ``fmt`` is ``json`` or ``yaml``, else told from the bytes), or the parsed data (a
    mapping, as a JSON document would give it; it is written as JSON, which is what is logged).
    """
    if isinstance(facts, Mapping):
        from .decide import to_json_bytes

        facts, fmt = to_json_bytes(dict(facts), indent=None), "json"
    ruleset = resolve(spec, rules_dir, as_of, overrides)
    with batch():
        loaded = parse_facts(facts, label, ruleset, fmt) if isinstance(facts, bytes) else load_facts(facts, ruleset)
        record = decide(ruleset, loaded, as_of, engine)
    return ruleset, record, loaded


def submission(ruleset: Ruleset, record: dict, output: bytes, facts: Facts, requested_by: str | None = None) -> Submission:
    """What the decision log stores for one decision: the exact texts it depended on and its output."""
    return Submission(
        decision_id=record["decision_id"], engine_version=record["engine"]["version"],
        evaluator=record["engine"]["evaluator"], ruleset_id=ruleset.id, ruleset_version=ruleset.version,
        rule_text=ruleset.text.encode("utf-8"), schema_text=ruleset.facts_schema_text.encode("utf-8"),
        facts=facts.raw, as_of=record["as_of"], overrides=dict(ruleset.overrides),
        applicants=record["applicants"], allocated_fte=str(record["allocated_fte"]), output=output,
        facts_format=facts.format, requested_by=requested_by)


def record_decision(log: DecisionLog, ruleset: Ruleset, record: dict, output: bytes, facts: Facts,
                    requested_by: str | None = None) -> Entry:
    """Append a decision to the log; returns the committed record (read back, its hash checked).

    ``requested_by`` (the service's token name) is part of the chained record, not of the decision id.
    """
    return log.append(submission(ruleset, record, output, facts, requested_by))


def list_rulesets(rules_dir: str | Path) -> dict[str, list[Ruleset]]:
    """Every ruleset id under ``rules_dir`` with its versions, oldest first."""
    folder = Path(rules_dir)
    if not folder.is_dir():
        raise LookupFailure(f"no rules folder '{rules_dir}'")
    return {p.name: list_versions(p.name, rules_dir) for p in sorted(folder.iterdir()) if p.is_dir()
            and find_rule_files([p])}


def resolve_text_or_spec(spec: str, rules_dir: str | Path, as_of: dt.date,
                         overrides: Mapping[str, str] | None = None, label: str = "<rule text>") -> Ruleset:
    """A ruleset from an id, ``id@version``, or the text of a rule file (anything with a newline)."""
    if "\n" in spec:
        return compile_text(spec, label, None, overrides)
    return resolve(spec, rules_dir, as_of, overrides)


@dataclass(frozen=True)
class TextCheck:
    """``rules validate --strict`` on one rule text: the problems, or the lint findings of a valid text."""

    problems: list
    findings: list
    ruleset: Ruleset | None


def check_text(text: str, label: str = "<rule text>") -> TextCheck:
    """Validate a rule text (nothing is written anywhere) and lint it if it is valid."""
    from .lint import lint_ruleset

    try:
        ruleset = compile_text(text, label)
    except InputError as exc:
        return TextCheck(exc.problems, [], None)
    return TextCheck([], lint_ruleset(ruleset), ruleset)


def explain_record(log: DecisionLog, ref: str, applicant: str | None = None, lang: str = "nl") -> dict:
    """The statement of reasons of a logged decision (one applicant, or the whole call), from the log alone."""
    import json
    from decimal import Decimal

    from .explain import explain_applicant, explain_call, with_requester
    from .replay import stored_ruleset

    entry = log.checked(log.get(ref))
    record = json.loads(entry.text, parse_float=Decimal)
    if applicant:
        result = explain_applicant(record, stored_ruleset(log, entry), applicant, lang)
    else:
        result = explain_call(record, lang)
    return with_requester(result, entry.requested_by)


def replay_record(log: DecisionLog, ref: str):
    """Recompute a logged decision from the stored texts and compare it byte for byte (a ``Replay``)."""
    from .replay import replay_checked

    return replay_checked(log, log.get(ref))
