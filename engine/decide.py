"""Stage 6, decide: evaluate, allocate, and write the ranked decision record.

The record is the contract other tools rely on. It is a pure function of the
rule text, the facts bytes, the as-of date, the parameter overrides and the
engine version: no clock, no paths, no randomness; so the same input gives
the same bytes, and ``decision_id`` is a hash of exactly those inputs.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gc
import hashlib
import json
import json.encoder
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any, Sequence

from . import __version__
from .allocate import Claim, Result, allocate
from .compile import Ruleset
from .evaluate import Assessment, assess, compiled, python_outcomes
from .expr import format_decimal
from .facts import Facts

ENGINES = ("python", "durable")
_NUMBER = re.compile(r'"\\u0000N([-0-9.]+)"')


def _convert(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _json_decimal(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Fraction):
        text = fraction_text(value)  # a Decimal when exact: convert it here, the cache must hold final forms
        return _json_decimal(text) if isinstance(text, Decimal) else text
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class _Converted(dict):
    """JSON-ready forms of values, converted once each: the same values recur (parameters, rates)."""

    def __missing__(self, value: Any) -> Any:
        out = _convert(value)
        if len(self) > 200_000:
            self.clear()
        self[value] = out
        return out


# The encoder's ``default``: a dict lookup in C for a value seen before, Python only for a new one.
_default = _Converted().__getitem__


def _json_decimal(value: Decimal) -> Any:
    """What the C encoder can write for a decimal: an int, a float whose repr is exactly this
    decimal, or else a marked string that ``_numbers`` turns back into the exact number."""
    if value == value.to_integral_value():
        return int(value)
    as_float = float(value)
    text = repr(as_float)
    return as_float if "e" not in text and Decimal(text) == value else "\x00N" + format_decimal(value)


def to_json(obj: Any, indent: int | None = 2, sort_keys: bool = False) -> str:
    """JSON text with decimals as exact numbers (608.01, never 608.0100000000002).

    With ``indent``, a mapping is written one key per line, and a list under a key one item per
    line; what is inside those is compact. That keeps a decision of 100,000 applicants readable
    line by line and fast to write (the C encoder does the work).
    """
    return "".join(_parts(obj, indent, sort_keys))


def to_json_bytes(obj: Any, indent: int | None = 2, sort_keys: bool = False) -> bytes:
    """``to_json`` as UTF-8 bytes, joined as bytes: a large decision is never one big str."""
    return b"".join(part.encode("utf-8") for part in _parts(obj, indent, sort_keys))


def _parts(obj: Any, indent: int | None, sort_keys: bool):
    if indent is None or not isinstance(obj, dict):
        yield _numbers(json.dumps(obj, default=_default, ensure_ascii=False, sort_keys=sort_keys,
                                  separators=(",", ":"), indent=indent))
        return
    pad = " " * indent
    yield "{"
    for index, key in enumerate(sorted(obj) if sort_keys else obj):
        value = obj[key]
        yield ("," if index else "") + f"\n{pad}{json.dumps(key, ensure_ascii=False)}: "
        if isinstance(value, list) and value:
            yield "["
            for number, item in enumerate(value):
                yield ("," if number else "") + "\n" + pad * 2 + _compact(item, sort_keys)
            yield f"\n{pad}]"
        else:
            yield _compact(value, sort_keys)
    yield "\n}"


def _numbers(text: str) -> str:
    """Unquote the decimals that ``_default`` had to write as marked strings."""
    return _NUMBER.sub(r"\1", text) if "\\u0000N" in text else text


def _compact(value: Any, sort_keys: bool) -> str:
    if _C_ENCODER is None or sort_keys:
        text = json.dumps(value, default=_default, ensure_ascii=False, sort_keys=sort_keys, separators=(",", ":"))
    else:
        text = "".join(_C_ENCODER(value, 0))
    return _numbers(text)


# One C encoder, made once: json.dumps would make a new one for each of 100,000 decisions.
# No circular-reference markers: a decision record is a tree.
_C_ENCODER = (json.encoder.c_make_encoder(None, _default, json.encoder.encode_basestring, None, ":", ",", False, False,
                                          True) if json.encoder.c_make_encoder else None)


def canonical(obj: Any) -> bytes:
    """Canonical bytes for hashing: sorted keys, no spaces, UTF-8."""
    return to_json(obj, indent=None, sort_keys=True).encode("utf-8")


def fraction_text(value: Fraction) -> str | Decimal:
    """A fraction as an exact decimal when it has one, else as 'p/q'."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        return Decimal(value.numerator) / Decimal(value.denominator)
    return f"{value.numerator}/{value.denominator}"


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


def decide(ruleset: Ruleset, facts: Facts, as_of: dt.date, engine: str = "python") -> dict:
    """The full decision record for one call."""
    with batch():
        assessments = assess(ruleset, facts.applicants, outcomes_for(engine))
        result = _allocate(ruleset, assessments, facts)
        return _record(ruleset, facts, as_of, engine, assessments, result)


def _allocate(ruleset: Ruleset, assessments: Sequence[Assessment], facts: Facts) -> Result:
    fns = compiled(ruleset)
    spec = ruleset.allocation
    unit = ruleset.unit_fte
    claims = []
    for a in assessments:
        if not a.eligible:
            continue
        cap = fns.cap(a.env)
        weight = fns.weight(a.env) if fns.weight else 1
        region = a.env.get(spec.regions.field) if spec.regions else None
        claims.append(Claim(a.id, int((Decimal(cap or 0) / unit).to_integral_value(rounding="ROUND_FLOOR")),
                            Fraction(weight or 0), a.rank, region))
    budget = int(ruleset.budget_fte / unit)
    weights = None
    if spec.regions:
        weights = {name: Fraction(region.get(spec.regions.weight) or 0) for name, region in sorted(facts.regions.items())}
    return allocate(budget, claims, spec.method, weights, spec.regions.method if spec.regions else "hamilton",
                    spec.pooling)


def _record(ruleset: Ruleset, facts: Facts, as_of: dt.date, engine: str, assessments: Sequence[Assessment],
            result: Result) -> dict:
    unit = ruleset.unit_fte
    ordered = sorted((a for a in assessments if a.eligible), key=lambda a: a.rank)
    ordered += sorted((a for a in assessments if not a.eligible), key=lambda a: a.id)
    eligible = [a for a in assessments if a.eligible]
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
        "applicants": len(assessments),
        "eligible": len(eligible),
        "requested_fte_eligible": sum((Decimal(a.env.get("requested_fte") or 0) for a in eligible), Decimal(0)),
        "regions": _regions(ruleset, result, assessments),
        "pool": {"rounds_fte": [fte(u, unit) for u in result.pool_rounds],
                 "pooled_fte": fte(sum(result.pool_rounds), unit)},
        "decisions": [_decision(ruleset, a, result) for a in ordered],
    }


def _regions(ruleset: Ruleset, result: Result, assessments: Sequence[Assessment]) -> dict:
    unit = ruleset.unit_fte
    out = {}
    for name, share in result.shares.items():
        members = [a for a in assessments if a.env.get(ruleset.allocation.regions.field) == name]
        out[name] = {
            "weight": share.weight, "quota_fte": share.quota * Fraction(unit), "budget_fte": fte(share.units, unit),
            "remainder_unit": share.extra, "allocated_fte": fte(result.region_allocated.get(name, 0), unit),
            "applicants": len(members), "eligible": sum(1 for a in members if a.eligible),
        }
    return out


def _decision(ruleset: Ruleset, a: Assessment, result: Result) -> dict:
    derived = {d.name: a.env.get(d.name) for d in ruleset.derived}
    grant = result.grants.get(a.id)
    return {
        "id": a.id,
        "name": a.env.get("name"),
        "region": a.env.get(ruleset.allocation.regions.field) if ruleset.allocation.regions else None,
        "eligible": a.eligible,
        "tier": a.tier,
        "tier_rule": a.tier_rule,
        "rank": a.rank,
        "requested_fte": a.env.get("requested_fte"),
        "allocated_fte": fte(grant.units, ruleset.unit_fte) if grant else Decimal(0),
        "reasons": a.checks,
        "tier_checks": a.tier_checks,
        "rank_keys": a.rank_keys,
        "derived": derived,
        "allocation": _grant_trace(ruleset, grant) if grant else None,
    }


def _grant_trace(ruleset: Ruleset, grant) -> dict:
    unit = ruleset.unit_fte
    ideal = grant.ideal if unit == 1 or grant.ideal is None else grant.ideal * Fraction(unit)
    return {
        "region_budget_fte": fte(grant.region_share, unit) if grant.region_share is not None else None,
        "ideal_fte": ideal,
        "floor_fte": fte(grant.floor, unit),
        "remainder_turn": grant.remainder_turn,
        "capped": grant.capped,
        "pooled_fte": fte(grant.pooled, unit),
    }
