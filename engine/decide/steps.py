"""Stage 6, decide (continued): an allocation of steps, from assessed applicants to the record.

``decide`` hands over the ranked applicants; here each step's expressions are
computed per applicant (caps, selections, weights, reduction amounts, in whole
units), ``pipeline.run`` does the arithmetic, and the record gets each step's
totals and, per applicant, what each step gave it (and what a reduction took).
"""
from __future__ import annotations

import decimal
from decimal import Decimal
from fractions import Fraction
from typing import Any, Callable, Sequence

from ..allocate.methods import Grant, Result
from ..rules.compile import Ruleset, Step
from .evaluate import Assessment, compiled
from ..rules.facts import Facts
from ..allocate.pipeline import Member, Outcome, Plan, run
from ..rules.pyeval import CONTEXT


def whole_units(value: Any, unit: Decimal) -> int:
    """Whole units in an FTE amount, rounded down; nothing (None) and below 0 count as 0. Exact, from the two
    numbers' integer ratios (``//`` rounds down for either sign): no Fraction made for either (a fifth of
    allocating 100,000 applicants)."""
    if not value:
        return 0
    n1, d1 = value.as_integer_ratio()
    n2, d2 = unit.as_integer_ratio()
    return max(0, (n1 * d2) // (d1 * n2))


def allocate_steps(ruleset: Ruleset, assessments: Sequence[Assessment], facts: Facts) -> Outcome:
    """Run the ruleset's allocation steps over its eligible applicants, in rank order."""
    fns = compiled(ruleset)
    unit = ruleset.unit_fte
    eligible = sorted((a for a in assessments if a.eligible), key=lambda a: a.rank)
    with decimal.localcontext(CONTEXT):
        field = ruleset.allocation.split.field if ruleset.allocation.split else None
        members = [Member(a.id, whole_units(fns.cap(a.env, a.tier), unit), a.rank, a.env.get(field) if field else None)
                   for a in eligible]
        plans = [_plan(step, step_fns, eligible, facts, unit) for step, step_fns in zip(ruleset.allocation.steps, fns.steps)]
    return run(whole_units(ruleset.budget_fte, unit), members, plans)


def _plan(step: Step, fns: dict, eligible: Sequence[Assessment], facts: Facts, unit: Decimal) -> Plan:
    """The step with its expressions computed, in units, for the applicants it applies to (its ``for``): what it would
    take from or cap for the others is never read."""
    chosen = [a for a in eligible if fns["for"](a.env, a.tier)] if "for" in fns else eligible
    selected = frozenset(a.id for a in chosen) if "for" in fns else None
    caps = {a.id: whole_units(fns["cap"](a.env, a.tier), unit) for a in chosen} if "cap" in fns else None
    weights = {a.id: Fraction(fns["weight"](a.env, a.tier) or 0) for a in chosen} if "weight" in fns else None
    amounts = {a.id: whole_units(fns["amount"](a.env, a.tier), unit) for a in chosen} if "amount" in fns else None
    region_weights = None
    if step.regions:
        region_weights = {name: Fraction(region.get(step.regions.weight) or 0)
                          for name, region in sorted(facts.regions.items())}
    units = whole_units(step.fte, unit) if step.fte is not None else None
    return Plan(step.kind, step.method, units, selected, caps, weights, amounts, region_weights)


def outcome_result(outcome: Outcome) -> Result:
    """The outcome as the one-method ``Result``, from which the common part of the record is written."""
    pool = next((trace for trace in outcome.steps if trace.kind == "pool"), None)
    grants = {member_id: Grant(member_id, units, capped=member_id in outcome.capped)
              for member_id, units in outcome.granted.items()}
    return Result(grants, outcome.shares, {}, pool.rounds if pool else [], outcome.unallocated, outcome.caps)


def steps_record(ruleset: Ruleset, record: dict, outcome: Outcome, given: dict) -> dict:
    """The record of an allocation of steps: each step's totals, and what each region's decisions were ``given``
    (each decision says what each step did: ``step_tracer``, as it is written)."""
    unit = ruleset.unit_fte
    out = {}
    for key, value in record.items():
        if key == "allocated_fte" and ruleset.allocation.reduces:
            out["reduced_fte"] = sum(outcome.reduced.values()) * unit
        if key == "decisions":
            out["steps"] = [_step_total(step, trace, number, unit)
                            for number, (step, trace) in enumerate(zip(ruleset.allocation.steps, outcome.steps), 1)]
        out[key] = value
    for name, region in out["regions"].items():
        region["allocated_fte"] = given.get(name, Decimal(0))
    return out


def _step_total(step: Step, trace, number: int, unit: Decimal) -> dict:
    total = {"step": number, "kind": step.kind, "budget_fte": trace.budget * unit,
             ("reduced_fte" if step.kind == "reduce" else "allocated_fte"): sum(trace.given.values()) * unit,
             "left_fte": trace.left * unit}
    if step.kind == "pool":
        total["rounds_fte"] = [units * unit for units in trace.rounds]
    return total


def step_tracer(ruleset: Ruleset, outcome: Outcome) -> Callable[[str, Any], dict]:
    """What each step did for an applicant, as its decision's ``allocation``: its cap, whether it was reached, and
    each step that gave it (or took from it) anything, with its turn in a last round."""
    unit = ruleset.unit_fte
    steps = [(number, step.kind, "reduced_fte" if step.kind == "reduce" else "fte", trace.given, trace.turns)
             for number, (step, trace) in enumerate(zip(ruleset.allocation.steps, outcome.steps), 1)]
    caps, capped = outcome.caps, outcome.capped

    def allocation(applicant_id: str, grant: Any) -> dict:
        entries = []
        for number, kind, key, given, turns in steps:
            units = given.get(applicant_id, 0)
            if units:
                entry = {"step": number, "kind": kind, key: units * unit}
                if applicant_id in turns:
                    entry["turn"] = turns[applicant_id]
                entries.append(entry)
        return {"cap_fte": caps[applicant_id] * unit, "capped": applicant_id in capped, "steps": entries}
    return allocation
