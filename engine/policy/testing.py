"""Policy owners' tests: YAML cases next to the rules, run with ``rules test``.

A test file in ``rules/<id>/tests/`` holds ``cases:``, each with a name, the
applicants (and regions), an ``as_of`` date or a ``version`` that picks the
rule file, optional parameter overrides (``set``) and budget override
(``budget_fte``), and ``expect``: per applicant id a subset of ``eligible``,
``tier``, ``tier_rule``, ``rank``, ``allocated_fte``, and ``totals``. Every
failure points at the line of the expectation that failed.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..rules.folder import list_versions
from ..rules.compile import Ruleset, compile_file
from ..decide.decision import decide
from ..errors import RulesError, InputError, Location
from ..tell.explain import show
from ..rules.facts import Facts, check_regions, coerce_call_dates, coerce_dates, date_paths, grouped
from ..rules.group import check_groups
from ..rules.load import Document, load_yaml_document, read_text
from ..rules.validate import shipped_schema, validate_document

APPLICANT_KEYS = ("eligible", "tier", "tier_rule", "rank", "allocated_fte")
TOTAL_KEYS = ("allocated_fte", "unallocated_fte", "eligible", "applicants")


@dataclass(frozen=True)
class Failure:
    location: Location
    subject: str
    key: str
    expected: Any
    actual: Any
    trace: list = field(default_factory=list)


@dataclass(frozen=True)
class CaseResult:
    file: str
    name: str
    ruleset: str
    failures: list
    exercised: dict  # rule id -> set of outcomes seen (True/False)
    error: str = ""  # the case (or its file) could not be run: why, with its position

    @property
    def passed(self) -> bool:
        return not self.failures and not self.error


def find_test_files(paths: list[Path]) -> list[Path]:
    """Test files: ``tests/*.yaml`` under each ruleset folder (or the files given)."""
    found = []
    for path in paths:
        if path.is_file():
            found.append(path)
        elif path.is_dir():
            found += sorted(p for p in path.rglob("*.y*ml") if p.parent.name == "tests")
        else:
            raise InputError.at(Location(str(path)), "no such file or folder", code="not-found")
    return found


def run_file(path: Path, rules_dir: Path) -> list[CaseResult]:
    """Run every case of one test file; a case that cannot be run is an error of that case, and the rest run.
    A file that is no test file at all raises (``run_files`` makes it the error of that file)."""
    doc = load_yaml_document(read_text(path), str(path))
    problems = validate_document(doc, shipped_schema("testcase.schema.json"))
    if problems:
        raise InputError(problems)
    ruleset_id = path.parent.parent.name
    return [_run_guarded(doc, index, ruleset_id, rules_dir) for index in range(len(doc.data["cases"]))]


def run_files(paths: list[Path], rules_dir: Path) -> list[CaseResult]:
    """Every case of every file; a file that cannot be read is one error, and the other files still run."""
    results = []
    for path in paths:
        try:
            results += run_file(path, rules_dir)
        except RulesError as exc:
            results.append(CaseResult(str(path), "(the file)", path.parent.parent.name, [], {}, str(exc)))
    return results


def _run_guarded(doc: Document, index: int, ruleset_id: str, rules_dir: Path) -> CaseResult:
    try:
        return _run_case(doc, index, ruleset_id, rules_dir)
    except RulesError as exc:
        case = doc.data["cases"][index]
        name = str(case.get("name", f"case {index + 1}")) if isinstance(case, dict) else f"case {index + 1}"
        return CaseResult(doc.file, name, ruleset_id, [], {}, str(exc))


def _sub(doc: Document, prefix: tuple) -> Document:
    """The part of a document under ``prefix``, with positions re-rooted there."""
    data: Any = doc.data
    for part in prefix:
        data = data[part]
    cut = len(prefix)
    positions = {k[cut:]: v for k, v in doc.positions.items() if k[:cut] == prefix}
    keys = {k[cut:]: v for k, v in doc.key_positions.items() if k[:cut] == prefix}
    return Document(doc.file, doc.text, data, positions, keys)


def _ruleset_for(case: dict, doc: Document, where: tuple, ruleset_id: str, rules_dir: Path) -> Ruleset:
    versions = list_versions(ruleset_id, rules_dir)
    if "version" not in case and "as_of" not in case:
        raise InputError.at(doc.loc(where), "a test case needs 'as_of' (a date) or 'version' to pick the rule file")
    if isinstance(case.get("as_of"), str):  # quoted in YAML, or JSON: the schema says it is a date
        try:
            case["as_of"] = dt.date.fromisoformat(case["as_of"])
        except ValueError:
            raise InputError.at(doc.loc(where + ("as_of",)), f"'{case['as_of']}' is not a date (YYYY-MM-DD)") from None
    if "version" in case:
        chosen = [r for r in versions if r.version == str(case["version"])]
    else:
        chosen = [r for r in versions if r.in_force(case["as_of"])]
    if not chosen:
        what = f"version {case['version']}" if "version" in case else f"a version in force on {case['as_of']}"
        raise InputError.at(doc.loc(where), f"ruleset '{ruleset_id}' has no {what}")
    overrides = {k: _text(v) for k, v in (case.get("set") or {}).items()}
    ruleset = compile_file(chosen[-1].label, overrides) if overrides else chosen[-1]
    if "budget_fte" in case:
        ruleset = dataclasses.replace(ruleset, budget_fte=Decimal(case["budget_fte"]), budget_from_call=False)
    return ruleset


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(map(str, value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _facts(case_doc: Document, ruleset: Ruleset) -> Facts:
    facts_doc = Document(case_doc.file, case_doc.text, {k: case_doc.data[k] for k in ("applicants", "regions")
                                                        if k in case_doc.data},
                         case_doc.positions, case_doc.key_positions)
    problems = validate_document(facts_doc, ruleset.facts_schema)
    if problems:
        raise InputError(problems)
    paths = date_paths(ruleset)
    applicants = [dict(a) for a in case_doc.data["applicants"]]
    for applicant in applicants:
        coerce_dates(applicant, paths)
    regions = case_doc.data.get("regions")
    check_regions(ruleset, applicants, regions, case_doc.text, case_doc.file)
    call = case_doc.data.get("call") or {}
    coerce_call_dates({"call": call, "regions": regions}, ruleset, case_doc.text, case_doc.file)
    if ruleset.group is not None:
        check_groups(applicants, ruleset.group, case_doc.loc)
    applicants, groups = grouped(applicants, ruleset)
    return Facts(case_doc.file, "0" * 64, applicants, regions, call, groups=groups)


def _run_case(doc: Document, index: int, ruleset_id: str, rules_dir: Path) -> CaseResult:
    where = ("cases", index)
    case_doc = _sub(doc, where)
    case = case_doc.data
    ruleset = _ruleset_for(case, doc, where, ruleset_id, rules_dir)
    as_of = case.get("as_of") or ruleset.effective_from
    record = decide(ruleset, _facts(case_doc, ruleset), as_of)
    decisions = {d["id"]: d for d in record["decisions"]}
    failures = []
    for subject, expected in case["expect"].items():
        if subject == "totals":
            failures += _compare(doc, where + ("expect", subject), subject, expected, record, [])
        elif subject not in decisions:
            failures.append(Failure(doc.loc(where + ("expect", subject), key=True), subject, "id",
                                    "an applicant of this case", "no such applicant"))
        else:
            failures += _compare(doc, where + ("expect", subject), subject, expected, decisions[subject],
                                 _trace(decisions[subject]))
    return CaseResult(doc.file, case["name"], f"{ruleset.id} {ruleset.version}", failures, _exercised(record))


def _compare(doc: Document, path: tuple, subject: str, expected: dict, actual: dict, trace: list) -> list[Failure]:
    failures = []
    for key, want in expected.items():
        got = actual.get(key)
        if not _equal(want, got):
            failures.append(Failure(doc.loc(path + (key,)), subject, key, want, got, trace))
    return failures


def _equal(want: Any, got: Any) -> bool:
    if isinstance(want, (int, Decimal)) and isinstance(got, (int, Decimal)) and not isinstance(want, bool):
        return Decimal(want) == Decimal(got)
    return want == got


def _trace(decision: dict) -> list[str]:
    lines = []
    for check in decision["reasons"] + decision["tier_checks"]:
        values = ", ".join(f"{k} = {show(v)}" for k, v in check["values"].items())
        lines.append(f"{check['rule']}: {'held' if check['passed'] else 'did not hold'} ({values})")
    if decision["eligible"]:
        lines.append(f"tier {decision['tier']} ({decision['tier_rule']}), rank {decision['rank']}, "
                     f"allocated {show(decision['allocated_fte'])} of {show(decision['requested_fte'])}")
    return lines


def _exercised(record: dict) -> dict:
    """What one case reached: per rule id, the outcomes seen; per ``cap``, whether an eligible applicant got
    its whole cap (True) or less (False); per ``step N``, whether it handed out or took anything; per
    ``derived NAME``, whether it came to a value (True) or to null (False)."""
    seen: dict = {}
    for decision in record["decisions"]:
        for check in decision["reasons"] + decision["tier_checks"]:
            seen.setdefault(check["rule"], set()).add(check["passed"])
        if decision["eligible"] and (decision.get("allocation") or {}).get("capped") is not None:
            seen.setdefault(CAP, set()).add(decision["allocation"]["capped"])
        for name, value in (decision.get("derived") or {}).items():
            seen.setdefault(f"{DERIVED}{name}", set()).add(value is not None)
    for step in record.get("steps") or ():
        moved = step.get("allocated_fte", step.get("reduced_fte", 0))
        seen.setdefault(f"{STEP}{step['step']}", set()).add(bool(moved))
    return seen


CAP, STEP, DERIVED = "\x00cap", "\x00step ", "\x00derived "  # never a rule id (ids are plain names)


@dataclass(frozen=True)
class RuleCoverage:
    """Whether the test cases saw one rule of one version holding, and not holding; or its cap binding and
    not binding; or one of its steps handing out, or one of its derived values coming to a value."""

    ruleset: Ruleset
    rule: str  # the rule's id, or "cap", "step 2 (greedy)", "derived assessment_sum"
    held: bool
    not_held: bool
    kind: str = "rule"  # rule, cap, step or derived

    @property
    def covered(self) -> bool:
        return self.held and (self.not_held or self.kind in ("step", "derived"))

    def missing(self) -> str:
        """What no test case reached, in words."""
        where = f"of {self.ruleset.id} {self.ruleset.version}"
        if self.kind == "cap":
            return (f"the cap {where} never binds (no applicant gets its whole cap)" if not self.held else
                    f"the cap {where} always binds (no case runs out of budget before an applicant's cap)")
        if self.kind == "step":
            return f"{self.rule} {where} never hands out or takes anything"
        if self.kind == "derived":
            return f"derived value '{self.rule.split(' ', 1)[1]}' {where} never comes to a value"
        never = " nor ".join(w for ok, w in ((self.held, "held"), (self.not_held, "not held")) if not ok)
        return f"rule '{self.rule}' {where} is never {never}"


def coverage(results: list[CaseResult], rulesets: list[Ruleset]) -> list[RuleCoverage]:
    """Per version and per rule: seen holding, seen not holding. A version no case used counts as unseen."""
    seen: dict = {}
    for result in results:
        for rule, outcomes in result.exercised.items():
            seen.setdefault((result.ruleset, rule), set()).update(outcomes)
    out = []
    for ruleset in sorted(rulesets, key=lambda r: (r.id, r.effective_from)):
        key = f"{ruleset.id} {ruleset.version}"
        for rule in ruleset.eligibility + ruleset.tiers:
            outcomes = seen.get((key, rule.id), set())
            out.append(RuleCoverage(ruleset, rule.id, True in outcomes, False in outcomes))
        for name, label, kind in _reachable(ruleset):
            outcomes = seen.get((key, name), set())
            out.append(RuleCoverage(ruleset, label, True in outcomes, False in outcomes, kind))
    return out


def _reachable(ruleset: Ruleset) -> list[tuple]:
    """(key in what a case exercised, label, kind) of the cap, every step and every derived value."""
    items = [(CAP, "cap", "cap")]
    items += [(f"{STEP}{number}", f"step {number} ({step.kind})", "step")
              for number, step in enumerate(ruleset.allocation.steps, start=1) if step.kind != "split"]
    items += [(f"{DERIVED}{d.name}", f"derived {d.name}", "derived") for d in ruleset.derived]
    return items


def untested(results: list[CaseResult], rulesets: list[Ruleset]) -> list[Ruleset]:
    """The published versions that no test case evaluated at all."""
    used = {r.ruleset for r in results}
    return [r for r in rulesets if r.status == "published" and f"{r.id} {r.version}" not in used]
