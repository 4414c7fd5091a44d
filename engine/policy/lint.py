"""The publish gate: static checks of compiled rulesets that need no facts.

- ``shadowed-tier``: a tier that an earlier tier always catches first;
- ``never-holds`` / ``always-holds``: a condition that the facts schema's
  ranges (minimum, maximum, enum, required) decide on their own;
- ``unused-parameter``: a parameter no expression reads;
- ``unused-field``: an applicant field no expression reads (``id`` and
  ``name`` are identity, not policy, and are exempt);
- ``ranking-not-total``: the ranking does not end in the unique ``id``;
- ``expired``: ``effective.to`` has passed and no later version exists;
- ``negative-cap``: a cap (or a reduction's amount) can be below 0 for some
  applicant the facts schema allows; it then counts as 0, which is seldom
  what was meant (``max(0, ...)`` says so);
- ``gap``: days between two consecutive versions on which none is in force;
- ``published-tests-fail``: a published version whose own test cases fail;
- ``stale-figure``: a text a letter quotes (a condition's, a derived value's or a parameter's description,
  or their translations) states a figure its parameters no longer have: the old value after a change from
  the previous version, or one of a dated parameter's values only (``policy.figures``).

Reasoning is by intervals over conjunctions of ``name op constant``
comparisons; what it cannot decide it leaves alone (no false alarms).
A rule file can silence a finding with ``lint: {ignore: ["code:subject"]}``.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable

from ..rules import expr as E
from ..rules.checker import deref as _deref, kind_of_schema
from ..rules.compile import Ruleset
from ..tell.letter import field_label, label
from .figures import stale_figures
from .findings import Finding


@dataclass(frozen=True)
class Interval:
    lo: Any = None
    lo_open: bool = False
    hi: Any = None
    hi_open: bool = False
    exact: bool = True  # False when null is possible: then nothing 'always' holds

    def empty(self) -> bool:
        if self.lo is None or self.hi is None:
            return False
        try:
            return self.lo > self.hi or (self.lo == self.hi and (self.lo_open or self.hi_open))
        except TypeError:
            return False

    def within(self, other: "Interval") -> bool:
        """Every value of self is in other."""
        return _le_lo(other, self) and _ge_hi(other, self)

    def meet(self, other: "Interval") -> "Interval":
        lo, lo_open = (self.lo, self.lo_open) if _le_lo(other, self) else (other.lo, other.lo_open)
        hi, hi_open = (self.hi, self.hi_open) if _ge_hi(other, self) else (other.hi, other.hi_open)
        return Interval(lo, lo_open, hi, hi_open, self.exact and other.exact)


def _le_lo(a: Interval, b: Interval) -> bool:
    """a's lower bound is at or below b's."""
    if a.lo is None:
        return True
    if b.lo is None:
        return False
    try:
        return a.lo < b.lo or (a.lo == b.lo and (not a.lo_open or b.lo_open))
    except TypeError:
        return False


def _ge_hi(a: Interval, b: Interval) -> bool:
    if a.hi is None:
        return True
    if b.hi is None:
        return False
    try:
        return a.hi > b.hi or (a.hi == b.hi and (not a.hi_open or b.hi_open))
    except TypeError:
        return False


def _op_interval(op: str, c: Any) -> Interval | None:
    return {">=": Interval(c, False, None), ">": Interval(c, True, None), "<=": Interval(None, False, c),
            "<": Interval(None, False, c, True), "==": Interval(c, False, c)}.get(op)


class _Ranges:
    """What the facts schema says about the values of names."""

    def __init__(self, ruleset: Ruleset):
        self.ruleset = ruleset
        self.derived = {d.name: d.expr for d in ruleset.derived}

    def of(self, node: Any) -> Interval | None:
        if isinstance(node, E.Literal) and isinstance(node.value, (int, Decimal, dt.date)):
            return Interval(node.value, False, node.value)
        if isinstance(node, E.Name):
            return self._name(node)
        if isinstance(node, E.Arith) and node.op in "+-":
            left, right = self.of(node.left), self.of(node.right)
            if left and right and None not in (left.lo, left.hi, right.lo, right.hi):
                if node.op == "+":
                    return Interval(left.lo + right.lo, False, left.hi + right.hi, False, left.exact and right.exact)
                return Interval(left.lo - right.hi, False, left.hi - right.lo, False, left.exact and right.exact)
        return None

    def _name(self, node: E.Name) -> Interval | None:
        if node.binding not in ("env", "params"):  # an item inside an aggregate, or the tier
            return None
        if node.path[0] == "params":
            value = self.ruleset.params.get(node.path[1])
            return Interval(value, False, value) if isinstance(value, (int, Decimal, dt.date)) else None
        if node.path[0] in self.derived and len(node.path) == 1:
            return self.of(self.derived[node.path[0]])
        schema: Any = {"type": "object", "properties": self.ruleset.applicant_fields,
                       "required": list(self.ruleset.applicant_fields)}
        required = True
        for part in node.path:
            schema = _deref(schema, self.ruleset.facts_schema)
            if not isinstance(schema, dict) or part not in schema.get("properties", {}):
                return None
            required = required and part in schema.get("required", [])
            schema = _deref(schema["properties"][part], self.ruleset.facts_schema)
        return _schema_interval(schema, required and not kind_of_schema(schema, self.ruleset.facts_schema).nullable)

    def constant(self, node: Any) -> tuple[bool, Any]:
        if isinstance(node, E.Literal):
            return True, node.value
        if isinstance(node, E.Name) and node.path[0] == "params":
            return True, self.ruleset.params.get(node.path[1])
        return False, None


def _schema_interval(schema: dict, exact: bool) -> Interval | None:
    if not isinstance(schema, dict) or not ({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"} & set(schema)):
        return Interval(exact=exact) if schema.get("type") in ("number", "integer") else None
    lo, lo_open = (schema["exclusiveMinimum"], True) if "exclusiveMinimum" in schema else (schema.get("minimum"), False)
    hi, hi_open = (schema["exclusiveMaximum"], True) if "exclusiveMaximum" in schema else (schema.get("maximum"), False)
    return Interval(lo, lo_open, hi, hi_open, exact)


def _verdict(node: Any, ranges: _Ranges) -> str | None:
    """'never', 'always' or None (cannot tell) for a normalised condition."""
    if isinstance(node, E.BoolOp):
        verdicts = [_verdict(i, ranges) for i in node.items]
        if node.op == "and":
            if "never" in verdicts or _conflicting(node.items, ranges):
                return "never"
            return "always" if all(v == "always" for v in verdicts) else None
        if all(v == "never" for v in verdicts):
            return "never"
        return "always" if "always" in verdicts else None
    if isinstance(node, E.Compare):
        return _compare_verdict(node, ranges)
    return None


def _compare_verdict(node: E.Compare, ranges: _Ranges) -> str | None:
    is_const, value = ranges.constant(node.right)
    field = ranges.of(node.left)
    if not is_const or field is None or node.op == "!=":
        return None
    wanted = _op_interval(node.op, value)
    if wanted is None:
        return None
    if field.meet(wanted).empty():
        return "never"
    if field.exact and field.within(wanted):
        return "always"
    return None


def _box(items: Iterable[Any], ranges: _Ranges) -> tuple[dict, set]:
    """A conjunction as intervals per name, plus the text of atoms it cannot read."""
    box: dict = {}
    opaque: set = set()
    for item in items:
        is_const, value = ranges.constant(item.right) if isinstance(item, E.Compare) else (False, None)
        interval = _op_interval(item.op, value) if is_const and isinstance(item.left, E.Name) else None
        if interval is None:
            opaque.add(E.to_text(item))
            continue
        key = item.left.dotted
        box[key] = box[key].meet(interval) if key in box else interval
    return box, opaque


def _conflicting(items: tuple, ranges: _Ranges) -> bool:
    box, _ = _box(items, ranges)
    return any(interval.empty() for interval in box.values())


def _disjuncts(node: Any) -> list[list]:
    if isinstance(node, E.BoolOp) and node.op == "or":
        return [d for item in node.items for d in _disjuncts(item)]
    if isinstance(node, E.BoolOp) and node.op == "and":
        return [list(node.items)]
    return [[node]]


def implies(a: Any, b: Any, ranges: _Ranges) -> bool:
    """Whether condition ``a`` holding means ``b`` holds (when this can be shown)."""
    if E.to_text(a) == E.to_text(b):
        return True
    return all(any(_conj_implies(da, db, ranges) for db in _disjuncts(b)) for da in _disjuncts(a))


def _conj_implies(a: list, b: list, ranges: _Ranges) -> bool:
    box_a, opaque_a = _box(a, ranges)
    box_b, opaque_b = _box(b, ranges)
    if not opaque_b <= opaque_a:
        return False
    return all(name in box_a and box_a[name].within(interval) for name, interval in box_b.items())


def _reads(ruleset: Ruleset) -> set:
    trees = [d.expr for d in ruleset.derived] + [r.condition for r in ruleset.eligibility + ruleset.tiers]
    trees += [k.expr for k in ruleset.ranking] + [ruleset.allocation.cap]
    trees += [ruleset.allocation.weight] if ruleset.allocation.weight is not None else []
    trees += [ruleset.budget_expr] if ruleset.budget_expr is not None else []
    for step in ruleset.allocation.steps:
        trees += [tree for tree in (step.fte_expr, step.when, step.cap, step.weight, step.amount) if tree is not None]
    names: set = set()
    for tree in trees:
        _collect(tree, names)
    if ruleset.allocation.split:
        names.add(ruleset.allocation.split.field)
    if ruleset.group is not None:  # grouping reads the field naming the head (what it adds up, no rule may read)
        names.add(ruleset.group.by)
    return names


def _collect(node: Any, names: set) -> None:
    """Names of the applicant a tree reads (not the items of lists inside aggregates, as the checker bound them)."""
    for current in E.walk(node):
        if isinstance(current, E.Name) and current.binding in ("env", "params"):
            names.add(current.dotted)


def lint_ruleset(ruleset: Ruleset, later_exists: bool = False, today: dt.date | None = None,
                 previous: Ruleset | None = None) -> list[Finding]:
    """Every finding for one ruleset, minus those its rule file says to ignore; ``previous`` is the version it
    follows (its texts must not keep a figure that version had and this one has not)."""
    findings: list[Finding] = []
    ranges = _Ranges(ruleset)
    for rule in ruleset.eligibility + ruleset.tiers:
        verdict = _verdict(rule.condition, ranges)
        if verdict:
            findings.append(Finding(rule.location, f"{verdict}-holds", rule.id,
                                    f"rule '{rule.id}' {verdict} holds within the ranges of the facts schema: "
                                    f"{' '.join(rule.text.split())}"))
    for j, later in enumerate(ruleset.tiers):
        for earlier in ruleset.tiers[:j]:
            if implies(later.condition, earlier.condition, ranges):
                findings.append(Finding(later.location, "shadowed-tier", later.id,
                                        f"tier '{later.id}' never applies: every applicant it matches is caught "
                                        f"first by tier '{earlier.id}'"))
                break
    findings += _unused(ruleset)
    findings += _untranslated(ruleset)
    findings += _unlabelled(ruleset)
    findings += _negative_caps(ruleset)
    findings += stale_figures(previous, ruleset)
    findings += _ranking_and_period(ruleset, later_exists, today or dt.date.today())
    return [f for f in findings if not f.ignored_by(ruleset.lint_ignore)]


def _unused(ruleset: Ruleset) -> list[Finding]:
    reads = _reads(ruleset)
    findings = []
    for name, param in ruleset.parameters.items():
        if f"params.{name}" not in reads:
            findings.append(Finding(param.location, "unused-parameter", name, f"parameter '{name}' is never used"))
    for name in ruleset.applicant_fields:
        if name not in ("id", "name") and not any(r == name or r.startswith(name + ".") for r in reads):
            findings.append(Finding(ruleset.locations["facts"], "unused-field", name,
                                    f"field '{name}' of the facts schema is read by no rule"))
    return findings


def _untranslated(ruleset: Ruleset) -> list[Finding]:
    """A ruleset that gives some texts in English should give all that a letter quotes: otherwise an English
    letter quotes Dutch (and a Dutch letter never shows English)."""
    languages = {lang for texts in ruleset.translations.values() for lang in texts}
    texts = [(rule.location, rule.id, rule.description) for rule in ruleset.eligibility + ruleset.tiers]
    texts += [(rule.location, rule.id, rule.reason) for rule in ruleset.eligibility if rule.reason]
    texts += [(d.location, d.name, d.description) for d in ruleset.derived]
    findings = []
    for lang in sorted(languages):
        for location, subject, text in texts:
            if lang not in ruleset.translations.get(text, {}):
                findings.append(Finding(location, "missing-translation", subject,
                                        f"'{subject}' has no {lang} text, though others do: an {lang} letter would "
                                        "quote it in Dutch ({nl: ..., " + lang + ": ...})"))
    return findings


INF = float("inf")


def _unlabelled(ruleset: Ruleset) -> list[Finding]:
    """A field a letter names (what a rule read, a ranking key; with ``on_invalid: exclude``, any) has a Dutch label
    in the facts schema (``x-label``): else a Dutch letter calls it by its field's name, in English words."""
    derived = {d.name for d in ruleset.derived}
    named = [name for rule in ruleset.eligibility + ruleset.tiers for name in rule.reads]
    named += [key.text for key in ruleset.ranking]
    if ruleset.on_invalid == "exclude":  # a letter to an application set aside names the field that was wrong
        named += list(ruleset.applicant_fields)
    findings = []
    for name in dict.fromkeys(named):
        path = name.split(".")
        if path[0] in derived or path[0] not in ruleset.applicant_fields or name in ("id", "name"):
            continue
        if field_label(ruleset, path, "nl") is None:
            findings.append(Finding(ruleset.locations["facts"], "missing-label", name,
                                    f"field '{name}' is named in letters but has no Dutch label: a Dutch letter would "
                                    f"call it '{label(ruleset, name)}' (\"x-label\": {{\"nl\": ...}} in the facts "
                                    "schema)"))
    return findings


def _negative_caps(ruleset: Ruleset) -> list[Finding]:
    ranges = _Ranges(ruleset)
    places = [(ruleset.locations.get("cap"), "cap", ruleset.allocation.cap)]
    for number, step in enumerate(ruleset.allocation.steps, 1):
        places += [(step.location, f"steps[{number - 1}].{key}", tree)
                   for key, tree in (("cap", step.cap), ("amount", step.amount)) if tree is not None]
    findings = []
    for location, subject, tree in places:
        bounds = _bounds(tree, ranges, len(ruleset.tiers) + 1)
        if location is not None and bounds is not None and bounds[0] < 0:
            low = "without a lower bound" if bounds[0] == -INF else f"as low as {E.format_decimal(Decimal(bounds[0]))}"
            findings.append(Finding(location, "negative-cap", subject,
                                    f"the {subject.split('.')[-1]} can go below 0 ({low}) for applicants the facts "
                                    "schema allows; below 0 counts as 0: say so with max(0, ...)"))
    return findings


def _bounds(node: Any, ranges: _Ranges, tiers: int) -> tuple | None:
    """(lowest, highest) value a numeric expression can take (with -inf and inf), or None: cannot tell."""
    if isinstance(node, E.Literal) and isinstance(node.value, (int, Decimal)) and not isinstance(node.value, bool):
        return node.value, node.value
    if isinstance(node, E.Name):
        if node.binding == "tier":
            return 1, tiers
        interval = ranges.of(node)
        if interval is None or not interval.exact:
            return None
        return (-INF if interval.lo is None else interval.lo), (INF if interval.hi is None else interval.hi)
    parts = [_bounds(child, ranges, tiers) for child in _numeric_children(node)]
    if any(part is None for part in parts) or not parts:
        return None
    return _combine(node, parts)


def _numeric_children(node: Any) -> list:
    if isinstance(node, E.Neg):
        return [node.operand]
    if isinstance(node, E.Arith) and node.op in "+-":
        return [node.left, node.right]
    if isinstance(node, E.Func) and node.func in ("min", "max", "floor", "ceil"):
        return list(node.args)
    if isinstance(node, E.If):
        return [node.then, node.otherwise]
    return []


def _combine(node: Any, parts: list) -> tuple:
    if isinstance(node, E.Neg):
        return -parts[0][1], -parts[0][0]
    if isinstance(node, E.Arith):
        (a_lo, a_hi), (b_lo, b_hi) = parts
        return (a_lo + b_lo, a_hi + b_hi) if node.op == "+" else (a_lo - b_hi, a_hi - b_lo)
    if isinstance(node, E.Func) and node.func in ("floor", "ceil"):
        lo, hi = parts[0]
        return (lo if lo == -INF else math.floor(lo)), (hi if hi == INF else math.ceil(hi))
    if isinstance(node, E.Func):
        pick = min if node.func == "min" else max
        return pick(p[0] for p in parts), pick(p[1] for p in parts)
    return min(p[0] for p in parts), max(p[1] for p in parts)  # if: either branch


def _ranking_and_period(ruleset: Ruleset, later_exists: bool, today: dt.date) -> list[Finding]:
    findings = []
    last = ruleset.ranking[-1].expr if ruleset.ranking else None
    unique = (isinstance(last, E.Name) and last.path == ("id",)) or (isinstance(last, E.Func) and last.func == "lottery")
    if not unique:
        findings.append(Finding(ruleset.locations["ranking"], "ranking-not-total", "ranking",
                                "the ranking must end with 'id' or a lottery (unique) so that no two applicants tie; "
                                "ties left are ordered by id"))
    if ruleset.effective_to and ruleset.effective_to < today and not later_exists:
        findings.append(Finding(ruleset.locations["effective"], "expired", "effective",
                                f"{ruleset.id} {ruleset.version} ended on {ruleset.effective_to} and no later "
                                "version exists"))
    return findings


def lint_rulesets(rulesets: Iterable[Ruleset], today: dt.date | None = None) -> list[Finding]:
    """Lint several rulesets; versions of one id are checked against each other for expiry."""
    by_id: dict = defaultdict(list)
    for r in rulesets:
        by_id[r.id].append(r)
    findings = []
    for versions in by_id.values():
        ordered = sorted(versions, key=lambda r: (r.effective_from, r.version))
        for previous, r in zip([None] + ordered, ordered):
            later = any(o.effective_from > r.effective_from for o in versions)
            findings += lint_ruleset(r, later, today, previous)
        findings += _gaps(versions)
        findings += [f for r in versions if r.status == "published" for f in _failing_tests(r)]
    return sorted(findings, key=lambda f: (f.location, f.code))


def _gaps(versions: list[Ruleset]) -> list[Finding]:
    """Days on which no version is in force, between two consecutive versions."""
    ordered = sorted(versions, key=lambda r: r.effective_from)
    findings = []
    for before, after in zip(ordered, ordered[1:]):
        if before.effective_to and after.effective_from > before.effective_to + dt.timedelta(days=1):
            days = (after.effective_from - before.effective_to).days - 1
            findings.append(Finding(after.locations["effective"], "gap", after.version,
                                    f"no version of '{after.id}' is in force for {days} day(s): {before.version} ends "
                                    f"{before.effective_to}, {after.version} starts {after.effective_from}"))
    return findings


def _failing_tests(ruleset: Ruleset) -> list[Finding]:
    """A published version must pass its own test cases (rules/<id>/tests/)."""
    from pathlib import Path

    from ..errors import RulesError
    from .testing import find_test_files, run_file

    folder = Path(ruleset.label).parent
    if folder.name != ruleset.id or not (folder / "tests").is_dir():
        return []
    key = f"{ruleset.id} {ruleset.version}"
    failed = []
    for path in find_test_files([folder / "tests"]):
        try:
            failed += [f"{r.file}: {r.name}" for r in run_file(path, folder.parent)
                       if (r.ruleset == key or r.error) and not r.passed]  # a case that cannot run fails them all
        except RulesError as exc:
            failed.append(f"{path}: {str(exc).splitlines()[0]}")
    return [Finding(ruleset.locations["effective"], "published-tests-fail", ruleset.version,
                    f"{key} is published but its tests fail: {'; '.join(failed)}")] if failed else []
