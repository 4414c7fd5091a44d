"""Stage 5, allocate: pure apportionment functions in exact arithmetic.

Everything here counts in whole *units* (1 FTE in 2018, 0.5 FTE in other
rounds) and computes with ``Fraction``; nothing here does I/O or knows about
rule files. Ties are always broken by a declared order (``Claim.order``, the
applicant's rank), never by chance or by position in a file.

- ``hamilton``: largest remainder; ties by larger weight, then region name.
- ``highest_averages``: D'Hondt or Sainte-Laguë; same ties.
- ``water_fill``: proportional to a weight, capped by the request; the level
  L solves sum(min(cap_i, L * w_i)) = budget; floors, then one unit at a time
  by largest fractional part. ``equal`` is water_fill with all weights 1.
- ``greedy``: in order, each claim gets min(cap, what is left).
- ``round_robin``: one unit at a time in order, cycling, within caps; computed
  as whole rounds plus a last partial round, never one unit at a time.
- ``allocate``: optional split over regions, the method within each region,
  then pooling of unused regional shares over all unmet claims.
"""
from __future__ import annotations

import bisect
import heapq
import itertools
import math
import operator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Mapping, NamedTuple, Sequence

SPLIT_METHODS = ("hamilton", "dhondt", "sainte-lague")
METHODS = ("proportional", "equal", "greedy", "round-robin")


class Claim(NamedTuple):
    """One applicant's claim on a budget, in units. A named tuple, as immutable as a frozen dataclass and made
    three times as fast: one is made for every applicant at every step."""

    id: str
    cap: int
    weight: Fraction = Fraction(1)
    order: int = 0
    region: str | None = None


@dataclass(frozen=True)
class Share:
    """A region's part of the budget (units) and how it was computed."""

    region: str
    weight: Fraction
    quota: Fraction
    units: int
    extra: bool  # got a unit for its remainder (Hamilton) / last seat order (divisor methods)


@dataclass
class Grant:
    """What one claim received, with the arithmetic behind it."""

    id: str
    units: int = 0
    ideal: Fraction | None = None
    floor: int = 0
    remainder_turn: int | None = None  # 1-based turn in the remainder queue, if it got a unit there
    capped: bool = False
    pooled: int = 0  # units received from the pool
    region_share: int | None = None


@dataclass
class Result:
    grants: dict[str, Grant]
    shares: dict[str, Share] = field(default_factory=dict)
    region_allocated: dict[str, int] = field(default_factory=dict)
    pool_rounds: list[int] = field(default_factory=list)
    unallocated: int = 0
    caps: dict[str, int] = field(default_factory=dict)  # each claim's cap, in units

    @property
    def allocated(self) -> int:
        return sum(g.units for g in self.grants.values())


def hamilton(total: int, weights: Mapping[str, Fraction | int]) -> dict[str, Share]:
    """Largest-remainder split of ``total`` units over regions by weight."""
    weight_sum = sum(Fraction(w) for w in weights.values())
    if weight_sum == 0:
        return {r: Share(r, Fraction(w), Fraction(0), 0, False) for r, w in weights.items()}
    quotas = {r: Fraction(total) * Fraction(w) / weight_sum for r, w in weights.items()}
    floors = {r: math.floor(q) for r, q in quotas.items()}
    left = total - sum(floors.values())
    queue = sorted(weights, key=lambda r: (-(quotas[r] - floors[r]), -Fraction(weights[r]), r))
    lucky = set(queue[:left])
    return {r: Share(r, Fraction(weights[r]), quotas[r], floors[r] + (r in lucky), r in lucky) for r in weights}


def highest_averages(total: int, weights: Mapping[str, Fraction | int], method: str) -> dict[str, Share]:
    """D'Hondt (divisors 1, 2, 3, ...) or Sainte-Laguë (1, 3, 5, ...) split of ``total`` units.

    The same seats as handing them out one at a time to the highest quotient (ties by larger weight,
    then region name), computed in a number of steps that grows with the regions, not the units:
    first every seat whose quotient is above a threshold at which fewer than ``total`` seats are
    due (a state the one-at-a-time order passes through), then the last few, at most one per region,
    one at a time.
    """
    step = {"dhondt": 1, "sainte-lague": 2}[method]
    weight_sum = sum(Fraction(w) for w in weights.values())
    seats = _seats_above_threshold(total, weights, step)
    heap = [(-Fraction(w) / (step * seats[r] + 1), -Fraction(w), r) for r, w in weights.items() if w > 0]
    heapq.heapify(heap)
    for _ in range(total - sum(seats.values()) if heap else 0):
        _avg, neg_weight, region = heapq.heappop(heap)
        seats[region] += 1
        heapq.heappush(heap, (neg_weight / (step * seats[region] + 1), neg_weight, region))
    quota = (lambda w: Fraction(total) * Fraction(w) / weight_sum) if weight_sum else (lambda w: Fraction(0))
    return {r: Share(r, Fraction(w), quota(w), seats[r], False) for r, w in weights.items()}


def _seats_above_threshold(total: int, weights: Mapping[str, Fraction | int], step: int) -> dict[str, int]:
    """Per region, how many of its quotients w / (step * k - step + 1), k = 1, 2, ..., exceed a threshold t.

    With W / t = step * total - (step - 1) * n (n regions of positive weight) the counts add up to
    less than ``total`` and more than ``total - n``: every such seat is given before any other in
    the one-at-a-time order, and at most n are left to give one at a time.
    """
    positive = {r: Fraction(w) for r, w in weights.items() if w > 0}
    seats = {r: 0 for r in weights}
    scale = step * total - (step - 1) * len(positive)
    if not positive or scale <= 0:
        return seats
    weight_sum = sum(positive.values())
    for region, weight in positive.items():
        x = (weight * scale / weight_sum + step - 1) / step  # a quotient k exceeds t exactly when k < x
        seats[region] = max(0, math.ceil(x) - 1)
    return seats


def split(total: int, weights: Mapping[str, Fraction | int], method: str) -> dict[str, Share]:
    """Split ``total`` units over regions with the named method."""
    if method == "hamilton":
        return hamilton(total, weights)
    if method in SPLIT_METHODS:
        return highest_averages(total, weights, method)
    raise ValueError(f"unknown split method {method!r}")


def water_fill(budget: int, claims: Sequence[Claim]) -> dict[str, Grant]:
    """Proportional to weight, capped by each claim's cap; whole units; ties by ``order``.

    The level L solves sum(min(cap_i, L * w_i)) = budget. All of it is done in integers: the
    weights are scaled to whole numbers, and L = G / W is kept as a numerator and denominator.
    """
    grants = {c.id: Grant(c.id) for c in claims}
    active = [c for c in claims if c.cap > 0 and c.weight > 0]
    if sum(c.cap for c in active) <= budget:
        for c in active:
            grants[c.id] = Grant(c.id, c.cap, Fraction(c.cap), c.cap, None, True)
        return grants
    weights = _integer_weights(active)
    capped, free, share, total = _level(budget, active, weights)
    for c in capped:
        grants[c.id] = Grant(c.id, c.cap, Fraction(c.cap), c.cap, None, True)
    remainders = {}
    for c in free:
        whole, remainders[c.id] = divmod(share * weights[c.id], total)
        grants[c.id] = Grant(c.id, whole, Fraction(share * weights[c.id], total), whole, None, False)
    left = budget - sum(g.units for g in grants.values())
    queue = sorted(free, key=lambda c: (-remainders[c.id], c.order, c.id))
    for turn, claim in enumerate(queue[:left], start=1):
        grants[claim.id].units += 1
        grants[claim.id].remainder_turn = turn
    return grants


def _integer_weights(claims: Sequence[Claim]) -> dict[str, int]:
    """The weights scaled by a common denominator, so that they are whole numbers."""
    ratios = {c.id: Fraction(c.weight) for c in claims}
    scale = 1
    for ratio in ratios.values():
        scale = scale * ratio.denominator // math.gcd(scale, ratio.denominator)
    return {k: r.numerator * (scale // r.denominator) for k, r in ratios.items()}


def _level(budget: int, active: Sequence[Claim], weights: dict[str, int]) -> tuple:
    """(capped claims, uncapped claims, G, W): the level is G / W, given sum(cap_i) > budget.

    A claim is capped when its cap is below its share at the level: cap_i * W < G * w_i. Fixing
    the capped ones raises the level for the rest, so repeat until nothing more is capped.
    """
    capped: list = []
    free = list(active)
    share, total = budget, sum(weights[c.id] for c in free)
    while True:  # the caps of the free claims always exceed the share, so some claim stays free
        newly = [c for c in free if c.cap * total <= share * weights[c.id]]
        if not newly:
            return capped, free, share, total
        capped += newly
        free = [c for c in free if c.cap * total > share * weights[c.id]]
        share -= sum(c.cap for c in newly)
        total -= sum(weights[c.id] for c in newly)


def equal(budget: int, claims: Sequence[Claim]) -> dict[str, Grant]:
    """Equal whole units for all, within caps; the rest one unit at a time by ``order``."""
    return water_fill(budget, [Claim(c.id, c.cap, Fraction(1), c.order, c.region) for c in claims])


_IN_ORDER = operator.attrgetter("order", "id")  # a claim's place: its order, then its id


def greedy(budget: int, claims: Sequence[Claim]) -> dict[str, Grant]:
    """In ``order``, each claim gets min(cap, what is left)."""
    grants = {}
    left = budget
    for claim in sorted(claims, key=_IN_ORDER):
        units = min(claim.cap, left)
        grants[claim.id] = Grant(claim.id, units, None, units, None, units == claim.cap)
        left -= units
    return grants


def round_robin(budget: int, claims: Sequence[Claim]) -> dict[str, Grant]:
    """One unit at a time in ``order``, cycling over the claims below their cap, until the budget is spent.

    Computed arithmetically: k whole rounds give every claim min(cap, k) units; k is the largest
    number of rounds the budget pays for in full (found by bisection), and the units left after
    them go one each, in order, to the claims still below their cap. The cost grows with the
    number of claims (times log of the largest cap), never with the number of units.
    """
    ordered = sorted(claims, key=_IN_ORDER)
    caps = [max(0, c.cap) for c in ordered]
    rounds = _rounds_paid(budget, caps)
    low = rounds(None)
    left = budget - rounds(low)
    grants, turns = {}, 0
    for claim, cap in zip(ordered, caps):
        units, turn = min(cap, low), None
        if turns < left and cap > low:
            turns += 1
            units, turn = units + 1, turns
        grants[claim.id] = Grant(claim.id, units, None, min(cap, low), turn, units == cap)
    return grants


def _rounds_paid(budget: int, caps: Sequence[int]) -> Callable[[int | None], int]:
    """``rounds(k)``: the units k whole rounds give, sum(min(cap, k)), read off the sorted caps and their running
    sums (the caps below k in full, k for each other); ``rounds(None)``: the largest k the budget pays for."""
    ascending = sorted(caps)
    below = [0, *itertools.accumulate(ascending)]  # below[i]: the sum of the i smallest caps

    def rounds(k: int | None) -> int:
        if k is None:
            low, high = 0, ascending[-1] if ascending else 0
            while low < high:  # the largest k with rounds(k) <= budget
                mid = (low + high + 1) // 2
                low, high = (mid, high) if rounds(mid) <= budget else (low, mid - 1)
            return low
        i = bisect.bisect_left(ascending, k)  # the caps below k
        return below[i] + k * (len(ascending) - i)
    return rounds


WITHIN: dict[str, Callable[[int, Sequence[Claim]], dict[str, Grant]]] = {
    "proportional": water_fill, "equal": equal, "greedy": greedy, "round-robin": round_robin,
}


def allocate(budget: int, claims: Sequence[Claim], method: str, region_weights: Mapping[str, Fraction | int] | None = None,
             split_method: str = "hamilton", pooling: bool = False) -> Result:
    """Hand out ``budget`` units over ``claims``: split by region if weights are given, then ``method``."""
    within = WITHIN[method]
    if region_weights is None:
        grants = within(budget, claims)
        result = Result(grants)
    else:
        result = _by_region(budget, claims, within, region_weights, split_method)
    if pooling:
        _pool(result, claims, within, budget)
    result.unallocated = budget - result.allocated
    result.caps = {c.id: c.cap for c in claims}
    return result


def _by_region(budget: int, claims: Sequence[Claim], within: Callable, weights: Mapping, method: str) -> Result:
    shares = split(budget, weights, method)
    grants: dict[str, Grant] = {}
    allocated: dict[str, int] = {}
    for region, share in shares.items():
        members = [c for c in claims if c.region == region]
        region_grants = within(share.units, members)
        for grant in region_grants.values():
            grant.region_share = share.units
        grants.update(region_grants)
        allocated[region] = sum(g.units for g in region_grants.values())
    return Result(grants, shares, allocated)


def _pool(result: Result, claims: Sequence[Claim], within: Callable, budget: int) -> None:
    """Hand out what the regions could not use over all claims still below their cap."""
    pool = budget - result.allocated
    region_of = {c.id: c.region for c in claims}
    while pool > 0:
        open_claims = [Claim(c.id, c.cap - result.grants[c.id].units, c.weight, c.order, c.region)
                       for c in claims if c.cap > result.grants[c.id].units]
        extra = {g.id: g.units for g in within(pool, open_claims).values() if g.units}
        if not extra:
            break
        for claim_id, units in extra.items():
            result.grants[claim_id].units += units
            result.grants[claim_id].pooled += units
            if region_of[claim_id] in result.region_allocated:
                result.region_allocated[region_of[claim_id]] += units
        result.pool_rounds.append(sum(extra.values()))
        pool -= sum(extra.values())
