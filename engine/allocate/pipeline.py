"""Stage 5, allocate (continued): allocation as an ordered list of steps.

Each step is a small building block over the functions of ``allocate``; all of
them count whole units, in exact integers, and none hands out one unit at a
time. The state passed from step to step is the budget that is left (one pot,
or one pot per region after a ``split``), what each applicant holds so far, and
what reductions took. A step sees every applicant's cap minus what earlier
steps gave it, so caps hold over the whole pipeline.

- ``reserve``: set part of the budget aside for the applicants a condition
  selects, hand it out with a method; what they cannot use flows on.
- ``split``: split what is left over regions (Hamilton, D'Hondt, Sainte-Laguë);
  the steps that follow work inside each region's share.
- ``minimum``: in rank order, top every applicant up to N units while the
  budget lasts.
- ``greedy``, ``equal``, ``proportional``, ``round-robin``: hand out what is
  left (per region after a split).
- ``pool``: merge what the regions could not use and hand it out over all
  applicants still below their cap.
- ``reduce``: take units from applicants; they join the budget of the steps
  that follow.

Nothing here reads rule files or does I/O: ``decide`` computes each step's
per-applicant numbers (caps, weights, selections, amounts) and passes them in.
"""
from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import repeat
from typing import Mapping, NamedTuple, Sequence

from .methods import WITHIN, Claim, Share, split

_claim = functools.partial(tuple.__new__, Claim)
_ids, _orders, _regions = (functools.partial(map, operator.attrgetter(name)) for name in ("id", "order", "region"))

KINDS = ("reserve", "split", "minimum", "greedy", "equal", "proportional", "round-robin", "pool", "reduce")
DISTRIBUTE = ("greedy", "equal", "proportional", "round-robin")


class Member(NamedTuple):
    """One eligible applicant: its cap over the whole pipeline, its rank and its region (units); a named tuple,
    as ``Claim``."""

    id: str
    cap: int
    order: int
    region: str | None = None


@dataclass(frozen=True)
class Plan:
    """One step, with what it needs per applicant already computed, in units."""

    kind: str
    method: str = ""  # reserve and pool: how they hand out; split: hamilton, dhondt or sainte-lague
    units: int | None = None  # reserve: the units set aside; minimum: the units each applicant is topped up to
    selected: frozenset | None = None  # the applicant ids the step applies to; None: all
    caps: Mapping[str, int] | None = None  # the step's own cap per applicant, besides the pipeline's
    weights: Mapping[str, Fraction] | None = None  # proportional: each applicant's weight
    amounts: Mapping[str, int] | None = None  # reduce: the units taken from each applicant
    region_weights: Mapping[str, Fraction] | None = None  # split: each region's weight


@dataclass
class StepTrace:
    """What one step had, gave (or took) and left."""

    kind: str
    budget: int  # units the step could hand out (for reduce: the units it took)
    given: dict[str, int]  # per applicant, units given (for reduce: taken); only those above 0
    left: int  # units left after the step, over all pots
    turns: dict[str, int] = field(default_factory=dict)  # turn in a last partial round or remainder queue
    shares: dict[str, Share] = field(default_factory=dict)
    rounds: list[int] = field(default_factory=list)  # pool: units given per round


@dataclass
class Outcome:
    granted: dict[str, int]
    reduced: dict[str, int]
    steps: list[StepTrace]
    shares: dict[str, Share]
    unallocated: int
    caps: dict[str, int]
    capped: set = field(default_factory=set)

    @property
    def allocated(self) -> int:
        return sum(self.granted.values())


class _State:
    def __init__(self, budget: int, members: Sequence[Member]):
        self.members = list(members)
        self.left = budget
        self.pots: dict[str, int] | None = None
        self.granted = {m.id: 0 for m in members}
        self.reduced = {m.id: 0 for m in members}
        self.shares: dict[str, Share] = {}
        self._by_region: dict | None = None

    def by_region(self) -> dict[str | None, list[Member]]:
        """Each region's members in order, found in one pass the first time a step asks."""
        if self._by_region is None:
            self._by_region = {}
            for member in self.members:
                self._by_region.setdefault(member.region, []).append(member)
        return self._by_region

    def total_left(self) -> int:
        return self.left + sum((self.pots or {}).values())


def run(budget: int, members: Sequence[Member], plans: Sequence[Plan]) -> Outcome:
    """Run the steps in order over ``budget`` units; the outcome has each step's trace."""
    state = _State(budget, members)
    traces = [_STEP[plan.kind](state, plan) for plan in plans]
    caps = {m.id: max(0, m.cap) for m in members}
    capped = {m.id for m in members if state.granted[m.id] >= caps[m.id]}
    return Outcome(state.granted, state.reduced, traces, state.shares, state.total_left(), caps, capped)


def _rooms(state: _State, plan: Plan, members: Sequence[Member]) -> list[int]:
    """What the step may still give each member: its cap less what it holds, within the step's own cap (and, for a
    minimum, up to the minimum); one pass over all members, none looked up twice."""
    granted = state.granted
    rooms = [max(0, m.cap) - granted[m.id] for m in members]
    if plan.caps is not None:
        rooms = [min(room, max(0, plan.caps.get(m.id, 0))) for room, m in zip(rooms, members)]
    if plan.kind == "minimum":
        rooms = [min(room, (plan.units or 0) - granted[m.id]) for room, m in zip(rooms, members)]
    return [max(0, room) for room in rooms]


def _hand_out(state: _State, plan: Plan, method: str, budget: int, members: Sequence[Member]) -> tuple[dict, dict]:
    """Give ``budget`` units over ``members`` with ``method``; returns (units given, turns) per id."""
    chosen = members if plan.selected is None else [m for m in members if m.id in plan.selected]
    one = Fraction(1)
    weights = map(plan.weights.get, _ids(chosen), repeat(one)) if plan.weights else repeat(one)
    # made in C, as Claim(id, room, weight, order, region) would be: one for each applicant at each step
    claims = list(map(_claim, zip(_ids(chosen), _rooms(state, plan, chosen), weights, _orders(chosen),
                                  _regions(chosen))))
    grants = WITHIN[method](budget, claims)
    given = {g.id: g.units for g in grants.values() if g.units}
    for member_id, units in given.items():
        state.granted[member_id] += units
    return given, {g.id: g.remainder_turn for g in grants.values() if g.remainder_turn}


def _distribute(state: _State, plan: Plan, method: str) -> StepTrace:
    budget = state.total_left()
    if state.pots is None:
        given, turns = _hand_out(state, plan, method, state.left, state.members)
        state.left -= sum(given.values())
        return StepTrace(plan.kind, budget, given, state.total_left(), turns)
    given, turns = {}, {}
    for region, pot in state.pots.items():
        region_given, region_turns = _hand_out(state, plan, method, pot, state.by_region().get(region, []))
        state.pots[region] -= sum(region_given.values())
        given.update(region_given)
        turns.update(region_turns)
    return StepTrace(plan.kind, budget, given, state.total_left(), turns)


def _step_method(state: _State, plan: Plan) -> StepTrace:
    return _distribute(state, plan, plan.kind)


def _step_minimum(state: _State, plan: Plan) -> StepTrace:
    return _distribute(state, plan, "greedy")


def _step_reserve(state: _State, plan: Plan) -> StepTrace:
    reserved = min(plan.units or 0, state.left)
    given, turns = _hand_out(state, plan, plan.method or "greedy", reserved, state.members)
    state.left -= sum(given.values())
    return StepTrace("reserve", reserved, given, state.total_left(), turns)


def _step_split(state: _State, plan: Plan) -> StepTrace:
    budget = state.left
    state.shares = split(budget, dict(sorted((plan.region_weights or {}).items())), plan.method)
    state.pots = {region: share.units for region, share in state.shares.items()}
    state.left = budget - sum(state.pots.values())  # regions of no weight get nothing: it stays in the pot
    return StepTrace("split", budget, {}, state.total_left(), shares=state.shares)


def _step_pool(state: _State, plan: Plan) -> StepTrace:
    """One round over all applicants: every method gives the whole budget or fills every room it can fill, so a
    second round would give nothing (and must not: it would apply the step's own cap again)."""
    state.left, state.pots = state.total_left(), None
    budget = state.left
    given, _turns = _hand_out(state, plan, plan.method or "greedy", budget, state.members)
    state.left -= sum(given.values())
    return StepTrace("pool", budget, given, state.left, rounds=[sum(given.values())] if given else [])


def _step_reduce(state: _State, plan: Plan) -> StepTrace:
    taken = {}
    for member in state.members:
        if plan.selected is not None and member.id not in plan.selected:
            continue
        units = max(0, (plan.amounts or {}).get(member.id, 0))
        if units:
            taken[member.id] = units
            state.reduced[member.id] += units
    state.left += sum(taken.values())
    return StepTrace("reduce", sum(taken.values()), taken, state.total_left())


_STEP = {"reserve": _step_reserve, "split": _step_split, "minimum": _step_minimum, "pool": _step_pool,
         "reduce": _step_reduce, **{kind: _step_method for kind in DISTRIBUTE}}
