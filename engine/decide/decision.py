"""Stage 6, decide: evaluate, allocate, and write the ranked decision record.

The record is the contract other tools rely on. It is a pure function of the
rule text, the facts bytes, the as-of date, the parameter overrides and the
engine version: no clock, no paths, no randomness; so the same input gives
the same bytes, and ``decision_id`` is a hash of exactly those inputs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import functools
import gc
import hashlib
import math
import re

import msgspec
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Iterator, Sequence

from .. import __version__
from ..allocate.methods import Claim, Result, allocate
from .steps import allocate_steps, outcome_result, step_tracer, steps_record, whole_units
from ..rules.compile import Ruleset
from .evaluate import Assessment, assess, compiled, python_outcomes
from . import parallel
from .lazy import Decisions
from ..rules.pyeval import exact
from ..rules.facts import Facts

ENGINES = ("python", "durable")


def _once_each(write: Callable[[Fraction], Any]) -> Callable[[Fraction], Any]:
    """``write``, kept for the last fraction it was given: a decision holds one fraction in several places (its
    derived value, the rule that read it, its ranking key), written one after the other. The fraction is held,
    so no other object can take its identity while it is kept; the pair is read and replaced whole (threads)."""
    last: list = [(None, None)]

    def written(value: Fraction) -> Any:
        held, text = last[0]
        if held is not value:
            text = write(value)
            last[0] = (value, text)
        return text
    return written


def _encode_other(value: Any) -> Any:
    """What msgspec cannot write itself: a Fraction, as a decimal when it terminates, else 'p/q'; decisions written
    when read, as their list."""
    if isinstance(value, Fraction):
        return _fraction_text(value)
    if isinstance(value, Decisions):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


FORMAT = "rules-decision/2"  # the record format of decisions made now; see schemas/decision.schema.json


def _encode_v2(value: Any) -> Any:
    """Format 2: a fraction that does not terminate is an object no consumer can take for text."""
    if isinstance(value, Fraction):
        return _fraction_object(value)
    if isinstance(value, Decisions):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


@_once_each
def _fraction_object(value: Fraction) -> Any:
    simple = exact(value)
    if not isinstance(simple, Fraction):
        return simple
    approx = Decimal(value.numerator) / Decimal(value.denominator)
    return {"numerator": value.numerator, "denominator": value.denominator, "approx": f"{approx:.6f}"}


# msgspec writes decimals as exact JSON numbers in C; the json module can only write them as
# floats or strings. Dicts keep their order; the record holds no sets, whose order would vary.
_ENCODER = msgspec.json.Encoder(decimal_format="number", enc_hook=_encode_other)
_SORTED = msgspec.json.Encoder(decimal_format="number", enc_hook=_encode_other, order="sorted")
_ENCODER_2 = msgspec.json.Encoder(decimal_format="number", enc_hook=_encode_v2)
_SORTED_2 = msgspec.json.Encoder(decimal_format="number", enc_hook=_encode_v2, order="sorted")


def to_json(obj: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """JSON text with decimals as exact numbers (608.01, never 608.0100000000002).

    With ``indent``, a mapping is written one key per line, and a list under a key one item per
    line; what is inside those is compact. That keeps a decision of 100,000 applicants readable
    line by line and fast to write.
    """
    return to_json_bytes(obj, indent, sort_keys).decode("utf-8")


def to_json_bytes(obj: Any, indent: int | None = 2, sort_keys: bool = False, end: bytes = b"") -> bytes:
    """``to_json`` as UTF-8 bytes (``to_json_parts`` joined); ``end`` (a newline) is joined in, not added to a
    copy.

    A record of format 2 (it says so in its first key) writes fractions as objects; anything else,
    records made before included, as 'p/q' texts, so that they replay to the same bytes.
    """
    return b"".join(to_json_parts(obj, indent, sort_keys, end))


PART = 1 << 19  # bytes of decisions encoded at a time, about: a million decisions are 800 MB of text, never held
# at once; and a part of megabytes is a buffer mapped and unmapped anew for each part (a third of the time spent
# writing 100,000 LDE decisions in parts of 20,000, and 90 MB more at the peak)
FIRST = 50  # decisions in the first part, from whose length the next parts' are judged
SPAN = 20_000  # the fewest decisions a forked process writes (``jobs``): a fork costs more than writing a few


def to_json_parts(obj: Any, indent: int | None = 2, sort_keys: bool = False, end: bytes = b"",
                  jobs: int = 1) -> Iterator[bytes]:
    """``to_json_bytes`` as the parts it is joined from, encoded as they are asked for: written one after the other,
    a large decision is never held whole as text (a million decisions are 800 MB of it). ``jobs``: processes that
    write a large record's decisions at once (forked: only from a process without other threads)."""
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        encoder = _SORTED_2 if sort_keys else _ENCODER_2
    else:
        encoder = _SORTED if sort_keys else _ENCODER
    if indent is None or not isinstance(obj, dict):
        with batch():  # decisions written when read: many objects, none cyclic
            text = encoder.encode(obj) + end
        yield text
        return
    pad = b" " * indent
    yield b"{"
    for index, key in enumerate(sorted(obj) if sort_keys else obj):
        value = obj[key]
        yield (b"," if index else b"") + b"\n" + pad + encoder.encode(key) + b": "
        if isinstance(value, (list, Decisions)) and value:
            yield b"[\n" + pad * 2
            yield from _one_a_line(encoder, value, b",\n" + pad * 2, jobs)
            yield b"\n" + pad + b"]"
        else:
            yield encoder.encode(value)
    yield b"\n}" + end


def _one_a_line(encoder: msgspec.json.Encoder, items: Sequence, separator: bytes, jobs: int = 1) -> Iterator[bytes]:
    """The items, each encoded on its own line, separated, in parts of about ``PART`` bytes (as many items as the
    last part's took); the last part a view without the last separator, so that a part is never copied whole.
    With ``jobs``, spans of at least ``SPAN`` items are written by as many processes at once (``parallel``), the
    same parts."""
    n = len(items)

    def write(start: int, stop: int) -> Iterator[bytes]:
        at, count = start, FIRST
        while at < stop:
            upto = min(at + count, stop)
            # JSON text never holds a raw newline (inside a string it is \n), so each newline ends an item
            with batch():  # a part's decisions are written and encoded: thousands of objects, none cyclic
                part = encoder.encode_lines(items[at:upto]).replace(b"\n", separator)
            count = max(1, PART * (upto - at) // len(part))
            yield part if upto < n else memoryview(part)[:-len(separator)]
            at = upto
    return parallel.written(write, n, jobs, SPAN) if jobs > 1 else write(0, n)


def canonical(obj: Any) -> bytes:
    """Canonical bytes for hashing: sorted keys, no spaces, UTF-8."""
    return to_json_bytes(obj, indent=None, sort_keys=True)


def fraction_text(value: Fraction) -> str | Decimal | int:
    """A fraction as an exact int or decimal when it has one (up to 28 decimals), else as 'p/q'."""
    simple = exact(value)
    return f"{value.numerator}/{value.denominator}" if isinstance(simple, Fraction) else simple


_fraction_text = _once_each(fraction_text)


def fte(units: int, unit: Decimal) -> Decimal:
    return units * unit


def decision_id(ruleset: Ruleset, facts_sha256: str, as_of: dt.date) -> str:
    """Content hash of everything a decision depends on (no clock in it)."""
    basis = {"ruleset_sha256": ruleset.sha256, "facts_schema_sha256": _sha(ruleset.facts_schema_text),
             "facts_sha256": facts_sha256, "as_of": as_of.isoformat(), "engine_version": __version__,
             "overrides": dict(ruleset.overrides)}
    return hashlib.sha256(canonical(basis)).hexdigest()


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def outcomes_for(engine: str):
    """The function that matches rules for the named evaluator."""
    if engine == "python":
        return python_outcomes
    if engine == "durable":
        from .durable import durable_outcomes

        return durable_outcomes
    raise ValueError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")


@contextlib.contextmanager
def batch():
    """No cyclic garbage collection while a call is decided.

    Deciding builds millions of small acyclic objects; the collector would walk them all, over
    and over, for nothing (it doubled the time of a 100,000-applicant call).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decide(ruleset: Ruleset, facts: Facts, as_of: dt.date, engine: str = "python", kind: str | None = None,
           approvals: Sequence[dict] = (), record_format: str | None = FORMAT) -> dict:
    """The full decision record for one call; its decisions are written when they are read (``lazy``).

    ``kind`` (official or simulation) and the ``approvals`` relied on are part of the record of every
    decision made since governance exists; a record replayed from before (kind None) has neither.
    ``record_format`` names the format (first key); None rebuilds a record made before formats were named.
    """
    with batch():
        assessments = assess(ruleset, facts.applicants, outcomes_for(engine), as_of, facts.call, facts.regions)
        if ruleset.budget_from_call:
            ruleset = dataclasses.replace(ruleset, budget_fte=call_budget(ruleset, assessments))
        outcome = allocate_steps(ruleset, assessments, facts) if ruleset.allocation.steps else None
        result = outcome_result(outcome) if outcome is not None else _allocate(ruleset, assessments, facts)
        # the cap each applicant had, which explanations name, is in the record of every decision with a kind
        write = _writer(ruleset, facts, result, outcome, caps=kind is not None)
        record = _record(ruleset, facts, as_of, engine, assessments, result, write)
        if outcome is not None:
            record = steps_record(ruleset, record, outcome, _given(ruleset, assessments, result))
    return _with_format(_with_kind(record, kind, approvals), kind, record_format)


def _writer(ruleset: Ruleset, facts: Facts, result: Result, outcome: Any, caps: bool):
    """The function that writes one item of a record's decisions: an assessed applicant, with what each step did
    (``outcome``), the applications merged into it (``facts.group``) and, with ``caps``, its cap; or an
    application set aside for its problems (``on_invalid: exclude``)."""
    split = ruleset.allocation.split.field if ruleset.allocation.split else None
    reduces = ruleset.allocation.reduces
    derived = tuple(d.name for d in ruleset.derived)
    unit = ruleset.unit_fte
    allocation = step_tracer(ruleset, outcome) if outcome is not None else _grant_tracer(ruleset, result, caps)
    reduced = outcome.reduced if outcome is not None and reduces else None

    def write(item: Any, brief: bool = False) -> dict:
        """The decision of ``item``; ``brief``: without its trace (``Decisions.outcomes``)."""
        if not isinstance(item, Assessment):
            return _excluded_decision(*item, reduces)
        decision = _decision(item, result.grants.get(item.id), unit, split, derived, allocation, reduced, brief)
        members = facts.groups.get(item.id) if facts.groups else None
        return _with_members(decision, members) if members else decision
    return write


def _with_members(decision: dict, members: Sequence[str]) -> dict:
    """A group's decision names the applications merged into it (``facts.group``), after its name."""
    items = list(decision.items())
    return {**dict(items[:2]), "members": list(members), **dict(items[2:])}


def _excluded_decision(applicant: Any, problems: Sequence, reduces: bool) -> dict:
    held = applicant if isinstance(applicant, dict) else {}
    requested = held.get("requested_fte")
    decision = {
        "id": str(held.get("id", "")), "name": held.get("name") if isinstance(held.get("name"), str) else None,
        "region": None, "eligible": False, "tier": None, "tier_rule": None, "rank": None,
        "requested_fte": requested if isinstance(requested, (int, Decimal)) and not isinstance(requested, bool) else None,
        "allocated_fte": Decimal(0),
        "reasons": [{"rule": "facts", "passed": False,
                     "values": {"field": _field(p.path), "problem": p.message}} for p in problems],
        "tier_checks": [], "rank_keys": {}, "derived": {}, "allocation": None,
    }
    if reduces:
        decision = {**dict(list(decision.items())[:9]), "reduced_fte": Decimal(0), "change_fte": Decimal(0),
                    **dict(list(decision.items())[9:])}
    return decision


_APPLICANT_PREFIX = re.compile(r"applicants\[\d+\](?: \(id .*\))?\.")  # greedy: a field's name holds no ')'


def _field(path: str) -> str:
    """The field of an applicant a problem is about: 'applicants[3] (id X).quarters[1].quarter' -> 'quarters[1].quarter';
    the id may hold any character, ')' and '.' too."""
    found = _APPLICANT_PREFIX.match(path)
    return path[found.end():] if found else path


def _with_format(record: dict, kind: str | None, record_format: str | None) -> dict:
    if kind is None or record_format is None:
        return record
    return {"format": record_format, **record}


def _with_kind(record: dict, kind: str | None, approvals: Sequence[dict]) -> dict:
    if kind is None:
        return record
    head = dict(list(record.items())[:list(record).index("as_of") + 1])
    return {**head, "kind": kind, "approvals": list(approvals), **record}


def call_budget(ruleset: Ruleset, assessments: Sequence[Assessment]) -> Decimal:
    """A budget over the call's eligible applicants (``sum(applicants, reduction_fte)``), rounded down to
    whole units; from 0 to 1,000,000 FTE."""
    import decimal

    from ..rules.compile import MAX_BUDGET
    from ..errors import EvaluationError
    from ..rules.pyeval import CONTEXT, HELPERS, _Writer

    constants: dict = {}
    code = _Writer(constants, ruleset.params).write(ruleset.budget_expr)
    namespace = {"__builtins__": {"len": len}, **HELPERS, **constants,
                 "_applicants": [a.env for a in assessments if a.eligible]}
    with decimal.localcontext(CONTEXT):
        value = eval(compile(code, "<budget>", "eval"), namespace)  # noqa: S307 - code written from our own tree
    if value is None or not 0 <= value <= MAX_BUDGET:
        raise EvaluationError(f"the budget of {ruleset.id} {ruleset.version} comes to "
                              f"{'nothing' if value is None else exact(Fraction(value))} FTE for this call: it must be "
                              f"from 0 to {MAX_BUDGET:,} FTE")
    units = math.floor(Fraction(value) / Fraction(ruleset.unit_fte))
    return units * ruleset.unit_fte


_ONE = Fraction(1)


def _allocate(ruleset: Ruleset, assessments: Sequence[Assessment], facts: Facts) -> Result:
    fns = compiled(ruleset)
    spec = ruleset.allocation
    unit = ruleset.unit_fte
    claims = []
    for a in assessments:
        if not a.eligible:
            continue
        cap = fns.cap(a.env, a.tier)
        weight = fns.weight(a.env, a.tier) if fns.weight else 1
        region = a.env.get(spec.regions.field) if spec.regions else None
        weight = _ONE if weight == 1 else Fraction(weight or 0)  # most weigh 1: no Fraction made for each
        claims.append(Claim(a.id, whole_units(cap, unit), weight, a.rank, region))  # a cap below 0 is 0
    budget = int(ruleset.budget_fte / unit)
    weights = None
    if spec.regions:
        weights = {name: Fraction(region.get(spec.regions.weight) or 0) for name, region in sorted(facts.regions.items())}
    return allocate(budget, claims, spec.method, weights, spec.regions.method if spec.regions else "hamilton",
                    spec.pooling)


def _record(ruleset: Ruleset, facts: Facts, as_of: dt.date, engine: str, assessments: Sequence[Assessment],
            result: Result, write: Any = None) -> dict:
    """The record of a decision; its decisions (ranked, then the ineligible by id, then the applications excluded
    for their problems) written by ``write`` (by default as a decision of one method, without caps) when they are
    read."""
    write = write or _writer(ruleset, facts, result, None, caps=False)
    unit = ruleset.unit_fte
    eligible = [a for a in assessments if a.eligible]
    ordered: list = sorted(eligible, key=lambda a: a.rank)
    ordered += sorted((a for a in assessments if not a.eligible), key=lambda a: a.id)
    return {
        "decision_id": decision_id(ruleset, facts.sha256, as_of),
        "engine": {"version": __version__, "evaluator": engine},
        "ruleset": {"id": ruleset.id, "version": ruleset.version, "title": ruleset.title, "sha256": ruleset.sha256,
                    "facts_schema_sha256": _sha(ruleset.facts_schema_text)},
        "as_of": as_of.isoformat(),
        "facts_sha256": facts.sha256,
        "call": facts.call,
        "parameters": ruleset.params,
        "overrides": {name: ruleset.params[name] for name, _ in ruleset.overrides},
        "budget_fte": ruleset.budget_fte,
        "unit_fte": unit,
        "allocated_fte": fte(result.allocated, unit),
        "unallocated_fte": fte(result.unallocated, unit),
        "applicants": len(assessments) + len(facts.excluded),
        "eligible": len(eligible),
        "requested_fte_eligible": sum((Decimal(a.env.get("requested_fte") or 0) for a in eligible), Decimal(0)),
        "regions": _regions(ruleset, result, assessments),
        "pool": {"rounds_fte": [fte(u, unit) for u in result.pool_rounds],
                 "pooled_fte": fte(sum(result.pool_rounds), unit)},
        "decisions": Decisions(ordered + list(facts.excluded), write, functools.partial(write, brief=True)),
    }


def _given(ruleset: Ruleset, assessments: Sequence[Assessment], result: Result) -> dict:
    """What the decisions of each region were given (their ``allocated_fte`` added up), per region."""
    split = ruleset.allocation.split.field if ruleset.allocation.split else None
    given: dict = {}
    for a in assessments:
        region = a.env.get(split) if split else None
        given[region] = given.get(region, Decimal(0)) + _allocated(result.grants.get(a.id), ruleset.unit_fte)
    return given


_ZERO = Decimal(0)  # what most applicants of a large call are given: one shared value, never changed


def _allocated(grant: Any, unit: Decimal) -> Decimal:
    return fte(grant.units, unit) if grant else _ZERO


def _regions(ruleset: Ruleset, result: Result, assessments: Sequence[Assessment]) -> dict:
    unit = ruleset.unit_fte
    by_region: dict = {}
    if result.shares:
        field = ruleset.allocation.split.field
        for a in assessments:
            by_region.setdefault(a.env.get(field), []).append(a)
    out = {}
    for name, share in result.shares.items():
        members = by_region.get(name, [])
        out[name] = {
            "weight": share.weight, "quota_fte": share.quota * Fraction(unit), "budget_fte": fte(share.units, unit),
            "remainder_unit": share.extra, "allocated_fte": fte(result.region_allocated.get(name, 0), unit),
            "applicants": len(members), "eligible": sum(1 for a in members if a.eligible),
        }
    return out


def _decision(a: Assessment, grant: Any, unit: Decimal, split: str | None, derived: tuple,
              allocation: Callable[[str, Any], dict], reduced: dict | None, brief: bool = False) -> dict:
    """One applicant's decision, built in the order it is written: what a reduction took (``reduced``, per id, in
    units) after what it was given; what the allocation did for it as ``allocation`` writes it."""
    env = a.env
    checks, tier_checks = ([], []) if brief else a.trace()
    allocated = _allocated(grant, unit)
    decision = {
        "id": a.id,
        "name": env.get("name"),
        "region": env.get(split) if split else None,
        "eligible": a.eligible,
        "tier": a.tier,
        "tier_rule": a.tier_rule,
        "rank": a.rank,
        "requested_fte": env.get("requested_fte"),
        "allocated_fte": allocated,
    }
    if reduced is not None:
        taken = reduced.get(a.id, 0) * unit
        decision["reduced_fte"] = taken
        decision["change_fte"] = allocated - taken
    decision["reasons"] = checks
    decision["tier_checks"] = tier_checks
    decision["rank_keys"] = dict(a.rank_keys)  # its own: what a reader does to it is not written again
    decision["derived"] = {name: env.get(name) for name in derived}
    decision["allocation"] = allocation(a.id, grant) if grant else None
    return decision


def _grant_tracer(ruleset: Ruleset, result: Result, caps: bool) -> Callable[[str, Any], dict]:
    """What an allocation of one method did for an applicant given ``grant``; with ``caps``, its cap too."""
    unit = ruleset.unit_fte
    scale = None if unit == 1 else Fraction(unit)

    def allocation(applicant_id: str, grant: Any) -> dict:
        ideal = grant.ideal if scale is None or grant.ideal is None else grant.ideal * scale
        trace = {
            "region_budget_fte": fte(grant.region_share, unit) if grant.region_share is not None else None,
            "ideal_fte": ideal,
            "floor_fte": fte(grant.floor, unit),
            "remainder_turn": grant.remainder_turn,
            "capped": grant.capped,
            "pooled_fte": fte(grant.pooled, unit),
        }
        if caps:
            trace["cap_fte"] = fte(result.caps.get(applicant_id, 0), unit)
        return trace
    return allocation
