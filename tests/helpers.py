"""Builders of small facts files for tests."""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

REFERENCE = ("2016Q3", "2016Q4", "2017Q1", "2017Q2")


def workshop(id_: str, province: str, contingent, requested: int, rate="0.97", quarters=REFERENCE) -> dict:
    c = Decimal(str(contingent))
    return {"id": id_, "name": f"Werkplaats {id_}", "province": province, "contingent_fte": c,
            "requested_fte": requested,
            "quarters": [{"quarter": q, "contingent_fte": c, "filled_fte": c * Decimal(str(rate))} for q in quarters]}


def lde_applicant(id_: str, contingent="3", requested=2, rate="0.95", merged_on=None, scores=(2, 2, 2, 2)) -> dict:
    keys = ("guidance_actions", "transition_vision", "realised_transition", "regular_cooperation")
    return {"id": id_, "name": f"Initiatief {id_}", "province": "Antwerpen", "contingent_fte": Decimal(str(contingent)),
            "requested_fte": requested, "realisation_rate": Decimal(str(rate)), "merged_on": merged_on,
            "assessment": dict(zip(keys, scores))}


def write_facts(path: Path, applicants: list, regions: dict | None = None) -> Path:
    """Write a JSON facts file (decimals written exactly)."""
    from rules_engine.decide.decision import to_json

    data = {"applicants": applicants}
    if regions is not None:
        data["regions"] = regions
    path.write_text(to_json(data), encoding="utf-8")
    return path


def approver(log, name: str, role: str = "approver") -> str:
    """An approver's token in ``log`` (made once per name): approvals are made by token holders only."""
    from rules_engine.record.audit import DecisionLog, TokenStore

    with DecisionLog(log) as opened:
        store = TokenStore(opened)
        known = {t.name for t in store.all()}
        if name in known:
            raise ValueError(f"token {name} exists; keep the secret the first call returned")
        return store.add(name, role)


def paths(value, prefix=()):
    """Every place in plain data, as a path of keys and indices: the value itself first, then what it holds."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, prefix + (key,))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, prefix + (index,))
