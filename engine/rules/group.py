"""Applications that belong together, decided as one: workshops that merged during the reference period.

A rule file says how (``facts.group``)::

    group:
      by: merged_into                    # the field naming the application this one was merged into
      sum: [contingent_fte]              # applicant fields added up over the group
      lists:                             # list fields whose items are added up per key over the group
        quarters: {key: quarter, sum: [contingent_fte, filled_fte]}

An application whose ``by`` field names another is a *member* of that one's group; the one it names is the
group's *head* and applies for the group: its own fields, except that the ``sum`` fields are the group's
sums, and the items of each listed list are the items of every member with the same key, the ``sum`` fields
added up. An item is kept only when every member of the group has one with its key: a quarter one of them
did not report is missing for the group (never a smaller sum). The head's decision names its members; the
members get no decision of their own. Exact: numbers are added as decimals.
"""
from __future__ import annotations

import decimal
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from ..errors import InputError, Problem


@dataclass(frozen=True)
class ListSum:
    name: str
    key: str
    sum: tuple


@dataclass(frozen=True)
class Group:
    """How applications are grouped (``facts.group``)."""

    by: str
    sum: tuple = ()
    lists: tuple = ()  # ListSum

    @property
    def fields(self) -> tuple:
        """Every applicant field the grouping adds up (a list's as ``quarters.filled_fte``)."""
        return self.sum + tuple(f"{item.name}.{name}" for item in self.lists for name in item.sum)


def compile_group(spec: Any, fields: dict, kind_of: Callable[[Any], Any], problem: Callable[..., None]) -> Group | None:
    """The rule file's ``facts.group`` checked against the applicant ``fields`` of the facts schema; each
    problem reported with ``problem(path_under_group, message)``. None when there is no grouping."""
    if not isinstance(spec, dict):
        return None
    by = str(spec.get("by", ""))
    if by not in fields:
        problem(("by",), f"'{by}' is not an applicant field of the facts schema")
    for index, name in enumerate(spec.get("sum") or []):
        if kind_of(fields.get(name)).name != "number":
            problem(("sum", index), f"'{name}' is not a number field of the applicants: only numbers are added up")
    lists = []
    for name, item in (spec.get("lists") or {}).items():
        kind = kind_of(fields.get(name))
        items = kind_of(kind.schema).schema.get("properties", {}) if kind.name == "list" else None
        if not isinstance(items, dict) or not items:
            problem(("lists", name), f"'{name}' is not a list of objects among the applicant fields")
            continue
        if item.get("key") not in items:
            problem(("lists", name, "key"), f"the items of '{name}' have no field '{item.get('key')}'")
        for index, field_name in enumerate(item.get("sum") or []):
            if kind_of(items.get(field_name)).name != "number":
                problem(("lists", name, "sum", index), f"'{field_name}' is not a number field of the items of '{name}'")
        lists.append(ListSum(str(name), str(item.get("key")), tuple(map(str, item.get("sum") or ()))))
    return Group(by, tuple(map(str, spec.get("sum") or ())), tuple(lists))


def check_groups(applicants: list, group: Group, locate: Callable[[tuple], Any]) -> None:
    """Refuse, each at its place, a ``by`` that names no application of the call, or one that was itself merged
    into another (name the last one: groups do not chain)."""
    heads = _heads(applicants, group)
    ids = {str(a.get("id")) for a in applicants}
    problems = []
    for index, target in heads.items():
        own = str(applicants[index].get("id"))
        path = ("applicants", index, group.by)
        where = f"applicants[{index}] (id {own}).{group.by}"
        if target not in ids:
            problems.append(Problem(locate(path), f"'{target}' is no application of this call", where))
        elif target in {str(applicants[i].get("id")) for i in heads}:
            further = heads[next(i for i in heads if str(applicants[i].get("id")) == target)]
            problems.append(Problem(locate(path), f"'{target}' was itself merged into '{further}': name '{further}' "
                                    "(a group has one head)", where))
    if problems:
        raise InputError(problems)


def merge(applicants: list, group: Group) -> tuple[list, dict]:
    """(the applications as decided: each group's head carrying the group's sums, in the order of the call; per
    head's id, its members' ids in the order of the call). Call ``check_groups`` first."""
    heads = _heads(applicants, group)
    members: dict = {}
    for index, target in heads.items():
        members.setdefault(target, []).append(applicants[index])
    out = []
    for index, applicant in enumerate(applicants):
        if index in heads:
            continue
        own = members.get(str(applicant.get("id")))
        out.append(_summed(applicant, own, group) if own else applicant)
    return out, {head: tuple(str(m.get("id")) for m in own) for head, own in members.items()}


def _heads(applicants: list, group: Group) -> dict:
    """Index of each member -> the id of the application it was merged into (itself or nothing: no member)."""
    out = {}
    for index, applicant in enumerate(applicants):
        target = applicant.get(group.by) if isinstance(applicant, dict) else None
        if target not in (None, "") and str(target) != str(applicant.get("id")):
            out[index] = str(target)
    return out


def _summed(head: dict, members: list, group: Group) -> dict:
    everyone = [head] + members
    out = dict(head)
    for name in group.sum:
        out[name] = _add(a.get(name) for a in everyone)
    for spec in group.lists:
        out[spec.name] = _summed_items(everyone, spec)
    return out


def _summed_items(everyone: list, spec: ListSum) -> list:
    """The head's items whose key every member has, each with its ``sum`` fields added up over the group."""
    by_key = [{item.get(spec.key): item for item in (a.get(spec.name) or []) if isinstance(item, dict)}
              for a in everyone]
    out = []
    for key, item in by_key[0].items():
        if all(key in own for own in by_key[1:]):
            out.append({**item, **{name: _add(own[key].get(name) for own in by_key) for name in spec.sum}})
    return out


EXACT = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow])


def _add(values) -> Any:
    """The exact sum; None when one of them has no value (a group's figure is known or it is not)."""
    values = list(values)
    if any(v is None for v in values):
        return None
    with decimal.localcontext(EXACT):  # facts numbers are bounded: the sum of a call's fits in 60 digits
        return sum((v if isinstance(v, int) else Decimal(v) for v in values), 0)
