"""The hand-written baseline: the 2018 decisions computed by a careful plain-Python script.

No engine code is imported: the rules, thresholds and allocation arithmetic are
written out by hand, as a programmer would without a rules engine. It reads
the same JSON facts, computes the same decisions with the same trace (the
values each rule read) and writes them as JSON, so that the benchmark compares
like with like, and cross-checks the engine's allocations.

    python bench/handwritten.py lde facts.json out.json
    python bench/handwritten.py lde facts.json out.json --no-trace

With ``--no-trace`` (LDE only) it is the floor: the same decision as a programmer would write it for
the outcome alone (eligible, tier, rank, FTE per applicant), no trace built or written.
"""
from __future__ import annotations

import gc
import json
import math
import sys
from decimal import Decimal
from fractions import Fraction

REFERENCE = ("2016Q3", "2016Q4", "2017Q1", "2017Q2")
LDE_IN_FORCE = "2015-04-01"


def lde(data: dict) -> list:
    rows = []
    for a in data["applicants"]:
        s = a["assessment"]
        total = s["guidance_actions"] + s["transition_vision"] + s["realised_transition"] + s["regular_cooperation"]
        aspects = min(s.values()) >= 1
        guidance = total >= 6
        realisation = a["realisation_rate"] >= Decimal("0.90")
        reasons = [
            {"rule": "every_aspect_scored", "passed": aspects, "values": dict(s)},
            {"rule": "sufficient_guidance", "passed": guidance, "values": {"assessment_sum": total}},
            {"rule": "sufficient_realisation", "passed": realisation,
             "values": {"realisation_rate": a["realisation_rate"]}},
        ]
        tier, tier_rule, tier_checks = None, None, []
        if aspects and guidance and realisation:
            small = a["contingent_fte"] < 5
            merged = a["merged_on"] is not None and a["merged_on"] >= LDE_IN_FORCE
            tier_checks.append({"rule": "small_with_guidance", "passed": small and total >= 8,
                                "values": {"contingent_fte": a["contingent_fte"], "assessment_sum": total}})
            if not tier_checks[-1]["passed"]:
                tier_checks.append({"rule": "small_after_merger", "passed": small and merged,
                                    "values": {"contingent_fte": a["contingent_fte"], "merged_on": a["merged_on"]}})
            tier = 1 if small and total >= 8 else 2 if small and merged else 3
            tier_rule = ("small_with_guidance", "small_after_merger", "other_initiatives")[tier - 1]
        rows.append({"id": a["id"], "name": a["name"], "eligible": tier is not None, "tier": tier, "tier_rule": tier_rule,
                     "requested_fte": a["requested_fte"], "reasons": reasons, "tier_checks": tier_checks,
                     "sum": total, "rate": a["realisation_rate"], "derived": {"assessment_sum": total}})
    eligible = [r for r in rows if r["eligible"]]
    eligible.sort(key=lambda r: r["id"])
    eligible.sort(key=lambda r: r["rate"], reverse=True)
    eligible.sort(key=lambda r: r["sum"], reverse=True)
    eligible.sort(key=lambda r: r["tier"])
    left = 155
    for rank, r in enumerate(eligible, start=1):
        r["rank"], r["allocated_fte"] = rank, min(r["requested_fte"], left)
        r["rank_keys"] = {"tier": r["tier"], "assessment_sum": r["sum"], "realisation_rate": r["rate"], "id": r["id"]}
        r["allocation"] = {"floor_fte": r["allocated_fte"], "capped": r["allocated_fte"] == r["requested_fte"]}
        left -= r["allocated_fte"]
    return _finish(rows, eligible)


def lde_plain(data: dict) -> list:
    """The LDE decision without a trace: what the outcome alone costs in plain Python."""
    rows = []
    for a in data["applicants"]:
        s = a["assessment"]
        total = s["guidance_actions"] + s["transition_vision"] + s["realised_transition"] + s["regular_cooperation"]
        tier = None
        if min(s.values()) >= 1 and total >= 6 and a["realisation_rate"] >= Decimal("0.90"):
            small = a["contingent_fte"] < 5
            merged = a["merged_on"] is not None and a["merged_on"] >= LDE_IN_FORCE
            tier = 1 if small and total >= 8 else 2 if small and merged else 3
        rows.append([a["id"], tier, total, a["realisation_rate"], a["requested_fte"], None, 0])
    eligible = sorted((r for r in rows if r[1] is not None), key=lambda r: (r[1], -r[2], -r[3], r[0]))
    left = 155
    for rank, r in enumerate(eligible, start=1):
        r[5], r[6] = rank, min(r[4], left)
        left -= r[6]
    return [{"id": r[0], "eligible": r[1] is not None, "tier": r[1], "rank": r[5], "allocated_fte": r[6]}
            for r in eligible + sorted((r for r in rows if r[1] is None), key=lambda r: r[0])]


def workshops(data: dict, weight_field: str, budget: int, equal: bool) -> list:
    rows = []
    for a in data["applicants"]:
        quarters = [q for q in a["quarters"] if q["quarter"] in REFERENCE and q["contingent_fte"] > 0]
        # exact: a mean of 28-digit decimal quotients can miss 95% by 2e-28 either way
        rate = sum(Fraction(q["filled_fte"]) / Fraction(q["contingent_fte"]) for q in quarters) / len(quarters) \
            if quarters else None
        complete = len(quarters) == len(REFERENCE)
        enough = rate is not None and rate >= Fraction(95, 100)
        rows.append({"id": a["id"], "name": a["name"], "eligible": complete and enough,
                     "tier": 1 if complete and enough else None, "tier_rule": "all_eligible" if complete and enough else None,
                     "tier_checks": [], "derived": {"reference_quarters_reported": len(quarters), "fill_rate": rate},
                     "requested_fte": a["requested_fte"], "province": a["province"], "weight": a["contingent_fte"],
                     "rate": rate, "reasons": [
                         {"rule": "complete_reference_period", "passed": complete, "values": {"quarters": len(quarters)}},
                         {"rule": "min_fill_rate", "passed": enough, "values": {"fill_rate": rate}}]})
    eligible = sorted((r for r in rows if r["eligible"]), key=lambda r: r["id"])
    eligible.sort(key=lambda r: r["rate"], reverse=True)
    for rank, r in enumerate(eligible, start=1):
        r["rank"], r["allocated_fte"] = rank, 0
        r["rank_keys"] = {"fill_rate": r["rate"], "id": r["id"]}
    weights = {p: Fraction(v[weight_field]) for p, v in sorted(data["regions"].items())}
    shares = _hamilton(budget, weights)
    for province, share in shares.items():
        members = [r for r in eligible if r["province"] == province]
        _fill(share, members, equal)
    pool = budget - sum(r["allocated_fte"] for r in eligible)
    while pool > 0:
        open_ = [r for r in eligible if r["allocated_fte"] < r["requested_fte"]]
        if not open_:
            break
        before = {r["id"]: r["allocated_fte"] for r in open_}
        for r in open_:
            r["requested_fte"], r["_granted"] = r["requested_fte"] - r["allocated_fte"], r["allocated_fte"]
            r["allocated_fte"] = 0
        _fill(pool, open_, equal)
        for r in open_:
            r["allocated_fte"] += r.pop("_granted")
            r["requested_fte"] += before[r["id"]]
        pool = budget - sum(r["allocated_fte"] for r in eligible)
        if all(r["allocated_fte"] == before[r["id"]] for r in open_):
            break
    return _finish(rows, eligible)


def _hamilton(total: int, weights: dict) -> dict:
    whole = sum(weights.values())
    quotas = {p: total * w / whole for p, w in weights.items()}
    floors = {p: math.floor(q) for p, q in quotas.items()}
    order = sorted(weights, key=lambda p: (-(quotas[p] - floors[p]), -weights[p], p))
    for p in order[: total - sum(floors.values())]:
        floors[p] += 1
    return floors


def _fill(budget: int, members: list, equal: bool) -> None:
    """Water-filling: proportional to capacity (or equal), capped by the request, floors, then remainders."""
    weight = {r["id"]: Fraction(1) if equal else Fraction(r["weight"]) for r in members}
    active = [r for r in members if weight[r["id"]] > 0]
    if sum(r["requested_fte"] for r in active) <= budget:
        for r in active:
            r["allocated_fte"] = r["requested_fte"]
        return
    left, total_weight = Fraction(budget), sum(weight[r["id"]] for r in active)
    level = left / total_weight
    for r in sorted(active, key=lambda r: (Fraction(r["requested_fte"]) / weight[r["id"]], r["id"])):
        level = left / total_weight
        if Fraction(r["requested_fte"]) / weight[r["id"]] > level:
            break
        left -= r["requested_fte"]
        total_weight -= weight[r["id"]]
    else:
        level = left / total_weight if total_weight else Fraction(0)
    ideal = {r["id"]: min(Fraction(r["requested_fte"]), level * weight[r["id"]]) for r in active}
    for r in active:
        r["allocated_fte"] = math.floor(ideal[r["id"]])
    rest = budget - sum(r["allocated_fte"] for r in active)
    for r in sorted(active, key=lambda r: (-(ideal[r["id"]] - r["allocated_fte"]), r["rank"]))[:rest]:
        r["allocated_fte"] += 1


def _finish(rows: list, eligible: list) -> list:
    """The decisions with the same trace as the engine writes: rules, tiers, ranking keys, derived values."""
    out = [{"id": r["id"], "name": r["name"], "eligible": True, "tier": r["tier"], "tier_rule": r["tier_rule"],
            "rank": r["rank"], "requested_fte": r["requested_fte"], "allocated_fte": r["allocated_fte"],
            "reasons": r["reasons"], "tier_checks": r["tier_checks"], "rank_keys": r["rank_keys"],
            "derived": r["derived"], "allocation": r.get("allocation")} for r in eligible]
    out += sorted(({"id": r["id"], "name": r["name"], "eligible": False, "tier": None, "tier_rule": None, "rank": None,
                    "requested_fte": r["requested_fte"], "allocated_fte": 0, "reasons": r["reasons"],
                    "tier_checks": [], "rank_keys": {}, "derived": r["derived"], "allocation": None}
                   for r in rows if not r["eligible"]), key=lambda r: r["id"])
    return out


def _number(value):
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    return str(value)


def main(kind: str, facts: str, output: str, *flags: str) -> None:
    gc.disable()
    with open(facts, encoding="utf-8") as fh:
        data = json.load(fh, parse_float=Decimal)
    if "--no-trace" in flags:
        decisions = lde_plain(data)
    elif kind == "lde":
        decisions = lde(data)
    else:
        social = kind == "social-workshops"
        decisions = workshops(data, "nwwz" if social else "work_disabled", 149 if social else 351, social)
    with open(output, "w", encoding="utf-8") as fh:
        fh.write("{\n  \"decisions\": [\n")
        fh.write(",\n".join("    " + json.dumps(d, default=_number, separators=(",", ":")) for d in decisions))
        fh.write("\n  ]\n}\n")


if __name__ == "__main__":
    main(*sys.argv[1:])
