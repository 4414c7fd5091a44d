"""Generate the example calls of 2018 (seeded, so the files are reproducible).

    python examples/generate.py            # rewrites examples/*-2018.yaml and maatwerk-2020.yaml

What is published and what is made up is listed in examples/README.md. The
generator fixes the published totals exactly (counts of organisations, the
2017Q4 contingent and filled FTE) and makes up everything per organisation.
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROVINCES = ["Antwerpen", "Limburg", "Oost-Vlaanderen", "Vlaams-Brabant", "West-Vlaanderen"]
PROVINCE_SHARE = [0.31, 0.14, 0.24, 0.15, 0.16]
QUARTERS = ["2016Q3", "2016Q4", "2017Q1", "2017Q2", "2017Q3", "2017Q4"]
# Estimates: about 33,000 job seekers with a work disability and 212,000 non-working job seekers
# in Flanders in 2017 (Antwerpen about 72,000); the split over the other provinces is made up.
WORK_DISABLED = {"Antwerpen": 9800, "Limburg": 4700, "Oost-Vlaanderen": 7900, "Vlaams-Brabant": 5000,
                 "West-Vlaanderen": 5600}
NWWZ = {"Antwerpen": 72000, "Limburg": 29000, "Oost-Vlaanderen": 52000, "Vlaams-Brabant": 29000,
        "West-Vlaanderen": 30000}
TOWNS = {"Antwerpen": ["Antwerpen", "Mechelen", "Turnhout", "Lier", "Geel"],
         "Limburg": ["Hasselt", "Genk", "Lommel", "Tongeren"],
         "Oost-Vlaanderen": ["Gent", "Aalst", "Sint-Niklaas", "Ronse"],
         "Vlaams-Brabant": ["Leuven", "Vilvoorde", "Tienen", "Halle"],
         "West-Vlaanderen": ["Brugge", "Kortrijk", "Oostende", "Roeselare", "Ieper"]}


def q(value: Decimal | float, places: str) -> Decimal:
    return Decimal(str(value)).quantize(Decimal(places), rounding=ROUND_HALF_EVEN)


def split_total(rng: random.Random, total: Decimal, count: int, places: str, spread: float) -> list[Decimal]:
    """``count`` positive amounts with ``places`` decimals that add up to ``total`` exactly."""
    weights = [rng.lognormvariate(0, spread) for _ in range(count)]
    scale = float(total) / sum(weights)
    amounts = [q(w * scale, places) for w in weights]
    amounts[amounts.index(max(amounts))] += total - sum(amounts)
    return amounts


def province(rng: random.Random) -> str:
    return rng.choices(PROVINCES, PROVINCE_SHARE)[0]


def workshops(rng: random.Random, prefix: str, kind: str, count: int, contingent_total: str, filled_total: str,
              request_range: tuple[int, int]) -> list[dict]:
    contingents = split_total(rng, Decimal(contingent_total), count, "0.1", 0.6)
    target = Decimal(filled_total) / Decimal(contingent_total)
    rates = [min(Decimal("0.999"), max(Decimal("0.86"), q(rng.gauss(float(target), 0.03), "0.0001")))
             for _ in range(count)]
    filled = [q(c * r, "0.01") for c, r in zip(contingents, rates)]
    _fix_total(filled, contingents, Decimal(filled_total))
    out = []
    for i, (contingent, filled_q4) in enumerate(zip(contingents, filled), start=1):
        base = float(filled_q4 / contingent)
        quarters = _quarters(rng, contingent, base, filled_q4)
        where = province(rng)
        out.append({"id": f"{prefix}-{i:03d}", "name": f"{kind} {rng.choice(TOWNS[where])} {i}", "province": where,
                    "contingent_fte": contingent, "requested_fte": rng.randint(*request_range), "quarters": quarters})
    _special_cases(out)
    return out


def _fix_total(filled: list[Decimal], contingents: list[Decimal], total: Decimal) -> None:
    """Make the filled FTE add up to ``total`` without any exceeding its contingent."""
    gap = total - sum(filled)
    order = sorted(range(len(filled)), key=lambda i: contingents[i] - filled[i], reverse=True)
    for i in order:
        room = contingents[i] - filled[i] if gap > 0 else filled[i]
        step = min(abs(gap), room)
        filled[i] += step if gap > 0 else -step
        gap -= step if gap > 0 else -step
        if gap == 0:
            return


def _quarters(rng: random.Random, contingent: Decimal, base: float, filled_q4: Decimal) -> list[dict]:
    rows = []
    for quarter in QUARTERS:
        c = contingent if quarter in ("2017Q3", "2017Q4") else q(float(contingent) * rng.uniform(0.96, 1.0), "0.1")
        f = filled_q4 if quarter == "2017Q4" else min(c, q(float(c) * min(0.999, rng.gauss(base, 0.015)), "0.01"))
        rows.append({"quarter": quarter, "contingent_fte": c, "filled_fte": f})
    return rows


def _special_cases(applicants: list[dict]) -> None:
    """Boundary cases worth seeing in an example: exactly 95% and a missing reference quarter."""
    exact = applicants[4]
    for row in exact["quarters"][:4]:
        row["filled_fte"] = row["contingent_fte"] * Decimal("0.95")
    missing = applicants[7]
    missing["quarters"] = [row for row in missing["quarters"] if row["quarter"] != "2017Q1"]


def lde(rng: random.Random) -> list[dict]:
    small = [q(rng.uniform(1.0, 4.9), "0.01") for _ in range(132)]
    large = [q(rng.uniform(5.0, 25.0), "0.01") for _ in range(94)]
    contingents = small + large
    rng.shuffle(contingents)
    out = []
    for i, contingent in enumerate(contingents, start=1):
        merged = None
        if rng.random() < 0.12:
            merged = dt.date(2014, 1, 1) + dt.timedelta(days=rng.randint(0, 4 * 365))
        scores = {k: rng.choices([0, 1, 2, 3], [0.05, 0.25, 0.45, 0.25])[0]
                  for k in ("guidance_actions", "transition_vision", "realised_transition", "regular_cooperation")}
        requested = rng.randint(1, 5 - int(contingent) if contingent < 5 else 8) if contingent < 4 else rng.randint(1, 8)
        where = province(rng)
        out.append({"id": f"LDE-{i:03d}", "name": f"LDE-initiatief {rng.choice(TOWNS[where])} {i}", "province": where,
                    "contingent_fte": contingent, "requested_fte": max(1, requested),
                    "realisation_rate": q(min(1.0, rng.gauss(0.93, 0.05)), "0.001"), "merged_on": merged,
                    "assessment": scores})
    out[2]["merged_on"] = dt.date(2015, 4, 1)  # exactly the day the LDE regulation came into force
    return out


def yaml_value(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, Decimal):
        text = format(value, "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    if isinstance(value, (dt.date, int)):
        return str(value)
    return f'"{value}"' if any(ch in str(value) for ch in ":#'\"") else str(value)


def write(path: Path, header: str, applicants: list[dict], regions: dict | None, weight: str | None,
          seed: int = 2018) -> None:
    lines = [f"# {line}" if line else "#" for line in header.strip().splitlines()]
    lines += ["call:", f"  name: {header.splitlines()[0]}", f"  source: examples/generate.py (seed {seed})"]
    if regions:
        lines.append("regions:")
        lines += [f"  {name}: {{{weight}: {count}}}" for name, count in regions.items()]
    lines.append("applicants:")
    for a in applicants:
        first = True
        for key, value in a.items():
            lead = "  - " if first else "    "
            first = False
            if key == "quarters":
                lines.append(f"{lead}quarters:")
                lines += [f"      - {{quarter: {r['quarter']}, contingent_fte: {yaml_value(r['contingent_fte'])}, "
                          f"filled_fte: {yaml_value(r['filled_fte'])}}}" for r in value]
            elif key == "assessment":
                inner = ", ".join(f"{k}: {v}" for k, v in value.items())
                lines.append(f"{lead}assessment: {{{inner}}}")
            else:
                lines.append(f"{lead}{key}: {yaml_value(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    rng = random.Random(2018)
    sheltered = workshops(rng, "BW", "Beschutte werkplaats", 55, "14507.3", "13899.29", (2, 24))
    social = workshops(rng, "SW", "Sociale werkplaats", 92, "3969", "3905.32", (1, 6))
    write(HERE / "sheltered-workshops-2018.yaml", "Oproep beschutte werkplaatsen 2018 (voorbeeld, deels verzonnen)\n"
          "55 workshops; 2017Q4 totals as published: contingent 14507.3 FTE, filled 13899.29 FTE.\n"
          "Per-workshop figures, requests and the regional weights are made up (see examples/README.md).",
          sheltered, WORK_DISABLED, "work_disabled")
    write(HERE / "social-workshops-2018.yaml", "Oproep sociale werkplaatsen 2018 (voorbeeld, deels verzonnen)\n"
          "92 workshops; 2017Q4 totals as published: contingent 3969 FTE, filled 3905.32 FTE.\n"
          "Per-workshop figures, requests and the regional weights are made up (see examples/README.md).",
          social, NWWZ, "nwwz")
    write(HERE / "lde-2018.yaml", "Oproep lokale diensteneconomie 2018 (voorbeeld, verzonnen)\n"
          "226 LDE initiatives, 132 of them under 5 FTE (end of 2016, as published).\n"
          "Everything per initiative is made up (see examples/README.md).", lde(rng), None, None)


def maatwerk(rng: random.Random) -> list[dict]:
    """Sustained-employment companies with 2019 figures: some fill well, some not, a few near 20 FTE."""
    out = []
    for i in range(1, 41):
        where = province(rng)
        contingent = q(rng.choice([rng.uniform(20, 30), rng.uniform(30, 400)]), "0.1")
        rate = rng.choice([rng.uniform(0.78, 0.90), rng.uniform(0.90, 0.95), rng.uniform(0.95, 0.999)])
        quarters = []
        for quarter in ("2019Q1", "2019Q2", "2019Q3", "2019Q4"):
            filled = min(contingent, q(float(contingent) * min(0.999, rng.gauss(rate, 0.01)), "0.01"))
            quarters.append({"quarter": quarter, "contingent_fte": contingent, "filled_fte": filled})
        out.append({"id": f"MB-{i:03d}", "name": f"Maatwerkbedrijf {rng.choice(TOWNS[where])} {i}", "province": where,
                    "contingent_fte": contingent, "requested_fte": rng.randint(1, 8), "quarters": quarters})
    out[5]["quarters"] = out[5]["quarters"][1:]  # misses 2019Q1: neither reduced nor a recipient
    return out


def main_2020() -> None:
    rng = random.Random(2020)
    write(HERE / "maatwerk-2020.yaml", "Herverdeling maatwerkbedrijven 2020 (voorbeeld, verzonnen)\n"
          "40 sustained-employment companies with their 2019 quarters; every figure is made up.\n"
          "The regions are required by the shared facts schema; the redistribution does not split over them.",
          maatwerk(rng), WORK_DISABLED, "work_disabled", seed=2020)


SETTLED = ["2018Q1", "2018Q2", "2018Q3", "2018Q4", "2019Q1", "2019Q2", "2019Q3", "2019Q4"]


def settlements(rng: random.Random, call: dict, allocated: dict) -> list[dict]:
    """What the sheltered workshops of 2018 filled afterwards, quarter by quarter (2018Q1, the base, to 2019Q4):
    from 2018Q2 each contingent holds the FTE the 2018 decision gave it; some fill all of them, some part, a few
    fall back. The same file is the next round's facts (the workshops are maatwerkbedrijven from 2019)."""
    out = []
    for workshop in call["applicants"]:
        last = next(row for row in workshop["quarters"] if row["quarter"] == "2017Q4")
        base_c, base_f = Decimal(str(last["contingent_fte"])), Decimal(str(last["filled_fte"]))
        extra = Decimal(str(allocated.get(workshop["id"], 0)))
        share = rng.choice([1.0, 1.0, rng.uniform(0.3, 0.9), rng.uniform(-0.5, 0.2)])  # of the extra FTE, in the end
        quarters = [{"quarter": "2018Q1", "contingent_fte": base_c, "filled_fte": base_f}]
        for step, quarter in enumerate(SETTLED[1:], start=1):
            contingent = base_c + extra
            filled = base_f + extra * Decimal(str(round(share * min(1.0, step / 4), 4)))
            filled = max(Decimal(0), min(contingent, q(filled + Decimal(str(rng.uniform(-0.3, 0.3))), "0.01")))
            quarters.append({"quarter": quarter, "contingent_fte": contingent, "filled_fte": filled})
        out.append({"id": workshop["id"], "name": workshop["name"], "province": workshop["province"],
                    "contingent_fte": base_c + extra, "requested_fte": rng.randint(1, 6), "quarters": quarters})
    out[4]["quarters"] = [row for row in out[4]["quarters"] if row["quarter"] != "2018Q3"]  # BW-005: 2018Q3 not settled
    return out


def main_settlements() -> None:
    """examples/settlements-2018-2019.yaml, from the 2018 call and the engine's decision on it."""
    import json
    import subprocess
    import sys

    from ruamel.yaml import YAML

    call = json.loads(json.dumps(YAML(typ="safe").load((HERE / "sheltered-workshops-2018.yaml").read_text(
        encoding="utf-8")), default=str))
    decided = subprocess.run([sys.executable, "-c", "import sys; from rules_cli.cli import entry; entry()",
                              "evaluate", "sheltered-workshops", str(HERE / "sheltered-workshops-2018.yaml"),
                              "--as-of", "2018-06-20", "--rules-dir", str(HERE.parent / "rules"), "--no-log",
                              "--format", "json"], capture_output=True, check=True)
    allocated = {d["id"]: d["allocated_fte"] for d in json.loads(decided.stdout)["decisions"]}
    rng = random.Random(2019)
    write(HERE / "settlements-2018-2019.yaml", "Afrekening beschutte werkplaatsen 2018-2019 (voorbeeld, verzonnen)\n"
          "The 55 workshops of the 2018 call, quarter by quarter from 2018Q1 (the base) to 2019Q4, after the 2018\n"
          "decision; every figure after 2017Q4 is made up. It is also the facts of the 2020 redistribution.",
          settlements(rng, call, allocated), WORK_DISABLED, "work_disabled", seed=2019)


if __name__ == "__main__":
    main()
    main_2020()
    main_settlements()
