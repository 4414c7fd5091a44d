"""Seeded synthetic calls for the benchmark: LDE, sheltered and social workshops, and a maatwerk redistribution, as
JSON."""
from __future__ import annotations

import json
import random
from pathlib import Path

PROVINCES = ["Antwerpen", "Limburg", "Oost-Vlaanderen", "Vlaams-Brabant", "West-Vlaanderen"]
QUARTERS = ["2016Q3", "2016Q4", "2017Q1", "2017Q2", "2017Q3", "2017Q4"]
SCORES = ("guidance_actions", "transition_vision", "realised_transition", "regular_cooperation")


def lde(n: int, rng: random.Random) -> dict:
    applicants = []
    for i in range(n):
        merged = None if rng.random() < 0.85 else f"{rng.randint(2013, 2018)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        applicants.append({
            "id": f"LDE-{i:07d}", "name": f"Initiatief {i}", "province": rng.choice(PROVINCES),
            "contingent_fte": round(rng.uniform(0.5, 30), 2), "requested_fte": rng.randint(1, 8),
            "realisation_rate": round(rng.uniform(0.7, 1.0), 3), "merged_on": merged,
            "assessment": {k: rng.choice([0, 1, 2, 2, 3, 3]) for k in SCORES}})
    return {"applicants": applicants}


def workshops(n: int, rng: random.Random, weight: str, quarters_of=QUARTERS) -> dict:
    applicants = []
    for i in range(n):
        contingent = round(rng.uniform(5, 400), 1)
        base = rng.uniform(0.88, 1.0)
        quarters = [{"quarter": q, "contingent_fte": contingent,
                     "filled_fte": round(contingent * min(1.0, rng.gauss(base, 0.01)), 2)} for q in quarters_of
                    if rng.random() > 0.01]
        applicants.append({"id": f"W-{i:07d}", "name": f"Werkplaats {i}", "province": rng.choice(PROVINCES),
                           "contingent_fte": contingent, "requested_fte": rng.randint(1, 20), "quarters": quarters})
    regions = {p: {weight: rng.randint(1000, 80000)} for p in PROVINCES}
    return {"regions": regions, "applicants": applicants}


def generate(kind: str, n: int, folder: Path, seed: int = 2018) -> Path:
    rng = random.Random(f"{kind}-{n}-{seed}")
    if kind == "lde":
        data = lde(n, rng)
    elif kind == "maatwerk-redistribution":  # the year 2019: who filled under 90% gives back, over 95% receives
        data = workshops(n, rng, "work_disabled", [f"2019Q{q}" for q in range(1, 5)])
    else:
        data = workshops(n, rng, "work_disabled" if kind == "sheltered-workshops" else "nwwz")
    path = folder / f"{kind}-{n}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
