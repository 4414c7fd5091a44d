"""The hand-written baseline: the 2018 decisions computed by a careful plain-Python script.

No engine code is imported: the rules, thresholds and allocation arithmetic are
written out by hand, as a programmer would without a rules engine. It reads
the same JSON facts, computes the same decisions with the same trace (the
values each rule read) and writes them as JSON, so that the benchmark compares
like with like, and cross-checks the engine's allocations.

    python bench/handwritten.py lde facts.json out.json
    python bench/handwritten.py lde facts.json out.json --no-trace

With ``--no-trace`` it is the floor: the same decision as a programmer would write it for the outcome alone
(eligible, tier, rank, FTE per applicant), no trace built or written; for LDE 2018, and for the social workshops'
2019.1 round of allocation steps (D'Hondt over the provinces, 2 FTE each, one at a time round the province, the rest
round all of them) and for the maatwerkbedrijven's 2020.1 redistribution (a reduction, then one at a time round the
best filled): the floors of the rulesets of steps.

    python bench/handwritten.py social-workshops-2019 facts.json out.json --no-trace
    python bench/handwritten.py maatwerk-2020 facts.json out.json --no-trace
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


REFERENCE_2019 = frozenset(REFERENCE)


def social_2019_plain(data: dict) -> list:
    """The social workshops' 2019.1 decision without a trace: the exact mean fill rate, ranked, then 149 FTE split over
    the provinces by D'Hondt on their job seekers; in each province 2 FTE per workshop in rank order while its share
    lasts, the rest of it one FTE at a time round its workshops; what is left one at a time round all of them."""
    rows = []
    for a in data["applicants"]:
        # exact, as a careful programmer would once Fractions show their cost: the sum of the quotients as one
        # integer pair, the threshold cross-multiplied, one Fraction per workshop for its rank
        num, den, count = 0, 1, 0
        for q in a["quarters"]:
            if q["quarter"] in REFERENCE_2019 and q["contingent_fte"] > 0:
                n1, d1 = q["filled_fte"].as_integer_ratio()
                n2, d2 = q["contingent_fte"].as_integer_ratio()
                num, den, count = num * d1 * n2 + n1 * d2 * den, den * d1 * n2, count + 1
        eligible = count == len(REFERENCE) and num * 100 >= 95 * den * count
        rate = Fraction(num, den * count) if eligible else None
        rows.append([a["id"], eligible, rate, a["requested_fte"], a["province"], None, 0])
    eligible = sorted((r for r in rows if r[1]), key=lambda r: r[0])
    eligible.sort(key=lambda r: (float(r[2]), r[2]), reverse=True)  # equal floats compared exactly
    for rank, r in enumerate(eligible, start=1):
        r[5] = rank
    pots = _dhondt(149, {p: v["nwwz"] for p, v in sorted(data["regions"].items())})
    for province, pot in pots.items():
        members = [r for r in eligible if r[4] == province]
        for r in members:  # the minimum, greedy in rank order
            units = min(2, r[3], pot)
            r[6], pot = units, pot - units
        pots[province] = pot - _round_robin(pot, members)
    _round_robin(sum(pots.values()), eligible)
    return [{"id": r[0], "eligible": r[1], "tier": 1 if r[1] else None, "rank": r[5], "allocated_fte": r[6]}
            for r in eligible + sorted((r for r in rows if not r[1]), key=lambda r: r[0])]


def maatwerk_2020_plain(data: dict) -> list:
    """The maatwerkbedrijven's 2020.1 redistribution without a trace: below 90% filled, the part under 90% of the
    contingent is taken (whole FTE, at least 20 FTE kept); what is taken goes one FTE at a time, in rank order (the
    exact mean fill rate, highest first), round those above 95%, within their request."""
    reference = frozenset(("2019Q1", "2019Q2", "2019Q3", "2019Q4"))
    rows = []
    for a in data["applicants"]:
        num, den, count = 0, 1, 0
        for q in a["quarters"]:
            if q["quarter"] in reference and q["contingent_fte"] > 0:
                n1, d1 = q["filled_fte"].as_integer_ratio()
                n2, d2 = q["contingent_fte"].as_integer_ratio()
                num, den, count = num * d1 * n2 + n1 * d2 * den, den * d1 * n2, count + 1
        eligible, den = count == len(reference), den * max(count, 1)
        taken = 0
        if eligible and num * 10 < 9 * den:  # below 90%: (0.9 - rate) * contingent, whole FTE, 20 FTE kept
            cn, cd = a["contingent_fte"].as_integer_ratio()
            taken = max(0, min((9 * den - 10 * num) * cn // (10 * den * cd), math.floor(a["contingent_fte"]) - 20))
        rows.append([a["id"], eligible, Fraction(num, den) if eligible else None, a["requested_fte"], None, 0,
                     eligible and num * 100 > 95 * den, taken])
    eligible = sorted((r for r in rows if r[1]), key=lambda r: r[0])
    eligible.sort(key=lambda r: (float(r[2]), r[2]), reverse=True)  # equal floats compared exactly
    for rank, r in enumerate(eligible, start=1):
        r[4] = rank
    pool = sum(r[7] for r in eligible)
    given, open_ = 0, [r for r in eligible if r[6] and r[3] > 0]
    while given < pool and open_:
        for r in open_:
            if given == pool:
                break
            r[5], given = r[5] + 1, given + 1
        open_ = [r for r in open_ if r[5] < r[3]]
    return [{"id": r[0], "eligible": r[1], "tier": 1 if r[1] else None, "rank": r[4], "allocated_fte": r[5],
             "reduced_fte": r[7]} for r in eligible + sorted((r for r in rows if not r[1]), key=lambda r: r[0])]


def _dhondt(total: int, weights: dict) -> dict:
    """Seats one at a time to the highest quotient weight / (seats + 1); ties by larger weight, then name."""
    seats = dict.fromkeys(weights, 0)
    for _ in range(total):
        best = min(weights, key=lambda p: (-Fraction(weights[p], seats[p] + 1), -weights[p], p))
        seats[best] += 1
    return seats


def _round_robin(budget: int, rows: list) -> int:
    """One FTE at a time in rank order round the rows below their request, until ``budget`` is spent; what it gave."""
    given, open_ = 0, [r for r in rows if r[6] < r[3]]
    while given < budget and open_:
        for r in open_:
            if given == budget:
                break
            r[6], given = r[6] + 1, given + 1
        open_ = [r for r in open_ if r[6] < r[3]]
    return given


PLAIN = {"lde": lde_plain, "social-workshops-2019": social_2019_plain, "maatwerk-2020": maatwerk_2020_plain}


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
        decisions = PLAIN[kind](data)
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
