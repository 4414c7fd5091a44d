"""Allocation methods on hand-computed cases, and Hamilton/D'Hondt/Sainte-Laguë against `apportionment`."""
from __future__ import annotations

import heapq
import random
from fractions import Fraction

import pytest
from apportionment import methods as reference

from rules_engine.allocate import methods
from rules_engine.allocate.methods import Claim, allocate, equal, greedy, hamilton, highest_averages, water_fill


def units(grants: dict) -> dict:
    return {k: g.units for k, g in grants.items()}


def test_hamilton_exact_quotas():
    assert {r: s.units for r, s in hamilton(10, {"a": 5, "b": 3, "c": 2}).items()} == {"a": 5, "b": 3, "c": 2}


def test_hamilton_tie_on_remainder_and_weight_goes_by_name():
    # quotas 7/3 each: floors 2, one unit left; equal remainders and weights: alphabetical
    shares = hamilton(7, {"C": 1, "B": 1, "A": 1})
    assert {r: s.units for r, s in shares.items()} == {"A": 3, "B": 2, "C": 2}
    assert shares["A"].extra and not shares["B"].extra


def test_hamilton_tie_on_remainder_goes_to_larger_weight():
    # quotas 1, 1.5, 2.5: floors 1, 1, 2; B and C both have remainder 1/2: C weighs more
    shares = hamilton(5, {"A": 2, "B": 3, "C": 5})
    assert {r: s.units for r, s in shares.items()} == {"A": 1, "B": 1, "C": 3}
    assert shares["B"].quota == Fraction(3, 2)


def test_dhondt_by_hand():
    # averages A 5, 2.5, 1.67, 1.25; B 3, 1.5; C 2: the seven largest give A4 B2 C1
    assert {r: s.units for r, s in highest_averages(7, {"A": 5, "B": 3, "C": 2}, "dhondt").items()} == \
        {"A": 4, "B": 2, "C": 1}


def test_sainte_lague_by_hand():
    # divisors 1, 3, 5, 7: A 5, 1.67, 1, 0.71; B 3, 1; C 2, 0.67; the tie at 1 goes to the larger weight
    shares = highest_averages(7, {"A": 5, "B": 3, "C": 2}, "sainte-lague")
    assert {r: s.units for r, s in shares.items()} == {"A": 4, "B": 2, "C": 1}
    assert {r: s.units for r, s in highest_averages(3, {"A": 5, "B": 3, "C": 2}, "sainte-lague").items()} == \
        {"A": 1, "B": 1, "C": 1}


@pytest.mark.parametrize("ours, theirs", [("hamilton", "largest_remainder"), ("dhondt", "dhondt"),
                                          ("sainte-lague", "saintelague")])
def test_split_methods_agree_with_apportionment_package(ours, theirs):
    rng = random.Random(491)
    checked = 0
    for _ in range(300):
        weights = [rng.randint(1, 100_000) for _ in range(rng.randint(2, 6))]
        seats = rng.randint(0, 400)
        try:
            expected = reference.compute(theirs, weights, seats, tiesallowed=False, verbose=False)
        except reference.TiesException:
            continue
        names = [f"r{i}" for i in range(len(weights))]
        split = hamilton(seats, dict(zip(names, weights))) if ours == "hamilton" else \
            highest_averages(seats, dict(zip(names, weights)), ours)
        assert [split[n].units for n in names] == list(expected)
        checked += 1
    assert checked > 250


def test_water_fill_uncapped_is_proportional():
    grants = water_fill(10, [Claim("x", 3, Fraction(10), 1), Claim("y", 20, Fraction(30), 2), Claim("z", 20, Fraction(10), 3)])
    # level 10/50: ideal shares 2, 6, 2
    assert units(grants) == {"x": 2, "y": 6, "z": 2}
    assert grants["y"].ideal == 6 and not grants["y"].capped


def test_water_fill_binding_cap_raises_the_level_for_the_others():
    # level 10/40 = 0.25 would give x 2.5 > cap 1: x is capped at 1; then 9 over weights 10 and 20
    grants = water_fill(10, [Claim("x", 1, Fraction(10), 1), Claim("y", 20, Fraction(10), 2), Claim("z", 20, Fraction(20), 3)])
    assert units(grants) == {"x": 1, "y": 3, "z": 6}
    assert grants["x"].capped and grants["y"].ideal == 3


def test_water_fill_remainder_goes_by_order():
    # ideal 10/3 each: floors 3, one unit left for the first in the declared order
    grants = water_fill(10, [Claim("a", 9, Fraction(1), 3), Claim("b", 9, Fraction(1), 1), Claim("c", 9, Fraction(1), 2)])
    assert units(grants) == {"a": 3, "b": 4, "c": 3}
    assert grants["b"].remainder_turn == 1


def test_water_fill_everyone_served_when_budget_suffices():
    assert units(water_fill(10, [Claim("a", 3, Fraction(5)), Claim("b", 4, Fraction(1))])) == {"a": 3, "b": 4}


def test_water_fill_larger_fraction_first_then_order():
    # weights 1 and 2 over 4 units: ideal 4/3 and 8/3; floors 1 and 2; remainders 1/3 and 2/3: b gets the unit
    grants = water_fill(4, [Claim("a", 9, Fraction(1), 1), Claim("b", 9, Fraction(2), 2)])
    assert units(grants) == {"a": 1, "b": 3}


def test_equal_fewer_units_than_claims():
    assert units(equal(2, [Claim("x", 3, order=2), Claim("y", 3, order=1), Claim("z", 3, order=3)])) == \
        {"x": 1, "y": 1, "z": 0}


def test_equal_never_above_request():
    # 10 over caps 1, 5, 5: 1 for a, then 9 split evenly: 4.5 each: floors 4, the unit goes by order
    assert units(equal(10, [Claim("a", 1, order=3), Claim("b", 5, order=2), Claim("c", 5, order=1)])) == \
        {"a": 1, "b": 4, "c": 5}


def test_greedy_in_order():
    assert units(greedy(5, [Claim("a", 4, order=2), Claim("b", 3, order=1), Claim("c", 2, order=3)])) == \
        {"a": 2, "b": 3, "c": 0}


def test_pooling_moves_unused_regional_shares():
    claims = [Claim("a", 1, region="A"), Claim("b", 10, region="B")]
    result = allocate(9, claims, "equal", {"A": 1, "B": 1, "C": 1}, pooling=True)
    # shares 3, 3, 3: a uses 1 (2 left), b 3, C nobody (3 left): pool 5 goes to b
    assert {k: g.units for k, g in result.grants.items()} == {"a": 1, "b": 8}
    assert result.pool_rounds == [5] and result.unallocated == 0
    assert result.region_allocated == {"A": 1, "B": 8, "C": 0}
    assert result.grants["b"].pooled == 5


def test_without_pooling_unused_shares_stay_unallocated():
    result = allocate(9, [Claim("a", 1, region="A"), Claim("b", 10, region="B")], "equal", {"A": 1, "B": 1, "C": 1})
    assert result.allocated == 4 and result.unallocated == 5


def test_pool_larger_than_all_requests_leaves_the_rest_unallocated():
    result = allocate(20, [Claim("a", 2, region="A"), Claim("b", 3, region="B")], "proportional",
                      {"A": 1, "B": 3}, pooling=True)
    assert result.allocated == 5 and result.unallocated == 15


def test_dhondt_takes_steps_per_region_not_per_unit(monkeypatch):
    """10^9 units over 5 regions: the seats are exact, in a handful of heap steps."""
    pops = []
    real = heapq.heappop
    monkeypatch.setattr(methods.heapq, "heappop", lambda heap: pops.append(1) or real(heap))
    weights = {"A": 72_000, "B": 41_000, "C": 39_000, "D": 31_000, "E": 29_000}
    for method in ("dhondt", "sainte-lague"):
        pops.clear()
        shares = highest_averages(10**9, weights, method)
        assert sum(s.units for s in shares.values()) == 10**9
        assert len(pops) <= len(weights) + 1
        for share in shares.values():  # with 10^9 seats both methods land within one seat of the quota
            assert abs(share.units - share.quota) < 1


def _one_at_a_time(total: int, weights: dict, step: int) -> dict:
    """The textbook procedure, unit by unit: an independent reference for the arithmetic version."""
    seats = {r: 0 for r in weights}
    for _ in range(total):
        best = max((r for r in weights if weights[r] > 0),
                   key=lambda r: (Fraction(weights[r], step * seats[r] + 1), weights[r], [-ord(c) for c in r]))
        seats[best] += 1
    return seats


@pytest.mark.parametrize("seed", range(40))
def test_arithmetic_divisor_methods_match_one_at_a_time(seed):
    import random

    rng = random.Random(seed)
    weights = {chr(65 + i): rng.choice([0, rng.randint(1, 50), rng.randint(1, 5000)]) for i in range(rng.randint(1, 7))}
    total = rng.randint(0, 120)
    for method, step in (("dhondt", 1), ("sainte-lague", 2)):
        got = {r: s.units for r, s in highest_averages(total, weights, method).items()}
        assert got == (_one_at_a_time(total, weights, step) if any(weights.values()) else {r: 0 for r in weights})


@pytest.mark.parametrize("budget", [3, 10])
def test_a_claim_without_room_takes_no_part_in_the_proportional_split(budget):
    # a cap of 0 leaves no room: the claim gets nothing and has no ideal share (it is not in the level), whether
    # all caps fit the budget (10) or the level is computed (3: 3 over weights 1 and 1, capped at 5 each)
    grants = water_fill(budget, [Claim("none", 0, Fraction(4), 1), Claim("x", 5, Fraction(1), 2),
                                 Claim("y", 5, Fraction(1), 3)])
    assert grants["none"] == methods.Grant("none")
    assert units(grants) == ({"none": 0, "x": 2, "y": 1} if budget == 3 else {"none": 0, "x": 5, "y": 5})


def test_round_robin_over_a_billion_units_takes_steps_per_claim_not_per_unit():
    # by hand: 500,000,001 units over two caps of 10^9, one at a time in turn: 250,000,000 whole rounds give
    # each 250,000,000, and the one unit left goes to the first in order (a bisection, not a loop over units)
    grants = methods.round_robin(500_000_001, [Claim("a", 10**9, Fraction(1), 1), Claim("b", 10**9, Fraction(1), 2)])
    assert (grants["a"].units, grants["b"].units) == (250_000_001, 250_000_000)
    assert (grants["a"].remainder_turn, grants["b"].remainder_turn) == (1, None)


def test_round_robin_gives_what_one_unit_at_a_time_in_turn_gives():
    # an independent method: hand out literally one unit at a time, cycling in order over the claims still below
    # their cap; whole rounds first, so the units of the last, partial round are the turns (1, 2, ...)
    rng = random.Random(24)
    for _ in range(3000):
        claims = [Claim(f"c{i}", rng.choice([-2, 0, 1, 2, 3, 5, 8, rng.randint(0, 40)]), Fraction(1), rng.randint(0, 9))
                  for i in range(rng.randint(0, 9))]
        budget = rng.randint(0, 120)
        ordered = sorted(claims, key=lambda c: (c.order, c.id))
        given, left, rounds = {c.id: 0 for c in claims}, budget, 0
        while left and any(given[c.id] < c.cap for c in ordered):
            below = [c for c in ordered if given[c.id] < c.cap]
            if len(below) > left:  # the last, partial round: one each in order while units last
                turns = {c.id: n for n, c in enumerate(below[:left], start=1)}
                for c in below[:left]:
                    given[c.id] += 1
                break
            for c in below:
                given[c.id] += 1
            left -= len(below)
            rounds += 1
        else:
            turns = {}
        grants = methods.round_robin(budget, claims)
        assert {i: g.units for i, g in grants.items()} == given, (budget, claims)
        assert {i: g.remainder_turn for i, g in grants.items() if g.remainder_turn} == turns, (budget, claims)
        assert all(g.floor == min(max(0, c.cap), rounds) for c in claims for g in [grants[c.id]]), (budget, claims)
