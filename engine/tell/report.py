"""Reports over facts that need no ruleset: the fill of the contingent per quarter."""
from __future__ import annotations

import decimal
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

from ..errors import InputError, Location
from ..rules.checker import applicant_schema
from ..rules.facts import check_unique_by, load_data, read_facts_bytes
from ..rules.pyeval import _div
from ..rules.validate import shipped_schema, validate_facts


@dataclass(frozen=True)
class FillReport:
    quarter: str
    applicants: int
    reporting: int
    contingent_fte: Decimal
    filled_fte: Decimal

    @property
    def vacant_fte(self) -> Decimal:
        with decimal.localcontext(EXACT_SUMS):
            return self.contingent_fte - self.filled_fte

    @property
    def fill_rate(self) -> Decimal | Fraction | None:
        """Exact: a decimal when the quotient terminates, else a fraction."""
        return _div(self.filled_fte, self.contingent_fte) if self.contingent_fte else None

    def as_dict(self) -> dict:
        return {"quarter": self.quarter, "applicants": self.applicants, "reporting": self.reporting,
                "contingent_fte": self.contingent_fte, "filled_fte": self.filled_fte,
                "vacant_fte": self.vacant_fte, "fill_rate": self.fill_rate}


def fill_report(path: str | Path, quarter: str) -> FillReport:
    """Contingent, filled and vacant FTE over all applicants for one quarter (e.g. 2017Q4)."""
    if not re.fullmatch(r"\d{4}Q[1-4]", quarter):
        raise InputError.at(Location("--quarter"), f"'{quarter}' is not a quarter such as 2017Q4")
    label = "<stdin>" if str(path) == "-" else str(path)
    raw, fmt = read_facts_bytes(path)
    data, text, fmt = load_data(raw, label, fmt)
    schema = shipped_schema("quarters.facts.schema.json")
    validate_facts(data, text, label, schema, from_yaml=fmt == "yaml")
    check_unique_by(data["applicants"], applicant_schema(schema).get("properties", {}), schema, text, label)
    contingent = filled = Decimal(0)
    reporting = 0
    with decimal.localcontext(EXACT_SUMS):  # input numbers are bounded, so these sums never round
        for applicant in data["applicants"]:
            rows = [q for q in applicant["quarters"] if q["quarter"] == quarter]
            reporting += bool(rows)
            contingent += sum((Decimal(q["contingent_fte"]) for q in rows), Decimal(0))
            filled += sum((Decimal(q["filled_fte"]) for q in rows), Decimal(0))
    return FillReport(quarter, len(data["applicants"]), reporting, contingent, filled)


# Facts numbers have at most 15 + 20 digits; 60 digits hold the sum of 10^20 of them. Inexact is
# trapped all the same: a sum is exact or it is an error, never rounded.
EXACT_SUMS = decimal.Context(prec=60, traps=[decimal.Inexact, decimal.InvalidOperation, decimal.Overflow])


# --- realisation: what became of a decision's extra FTE, quarter by quarter ---------------------------------


@dataclass(frozen=True)
class RealisationRow:
    """One applicant in one quarter (or the sum of a region, or of the call: ``applicant`` None)."""

    quarter: str
    applicant: str | None
    region: str | None
    allocated_fte: Decimal
    base_filled_fte: Decimal | None = None
    filled_fte: Decimal | None = None
    contingent_fte: Decimal | None = None
    extra_filled_fte: Decimal | None = None
    missing: int = 0  # applicants with an allocation and no figures for this quarter or the base quarter
    reporting_allocated_fte: Decimal | None = None  # totals: the allocation of those that reported

    @property
    def extra_vacant_fte(self) -> Decimal | None:
        if self.extra_filled_fte is None:
            return None
        allocated = self.allocated_fte if self.applicant else self.reporting_allocated_fte
        return allocated - self.extra_filled_fte

    @property
    def fill_rate(self) -> Decimal | Fraction | None:
        """The fill rate of the whole contingent: filled / contingent."""
        return _div(self.filled_fte, self.contingent_fte) if self.filled_fte is not None and self.contingent_fte else None

    @property
    def realised(self) -> Decimal | Fraction | None:
        """The share of the growth path realised: extra filled / allocated (of those that reported)."""
        allocated = self.allocated_fte if self.applicant else self.reporting_allocated_fte
        return _div(self.extra_filled_fte, allocated) if self.extra_filled_fte is not None and allocated else None

    def as_dict(self) -> dict:
        out = {"quarter": self.quarter, "applicant": self.applicant, "region": self.region,
               "allocated_fte": self.allocated_fte, "base_filled_fte": self.base_filled_fte,
               "filled_fte": self.filled_fte, "contingent_fte": self.contingent_fte,
               "extra_filled_fte": self.extra_filled_fte, "extra_vacant_fte": self.extra_vacant_fte,
               "fill_rate": self.fill_rate, "realised": self.realised}
        if self.applicant is None:
            out.update({"reporting_allocated_fte": self.reporting_allocated_fte, "missing": self.missing})
        else:
            out["missing"] = bool(self.missing)
        return out


@dataclass(frozen=True)
class Realisation:
    record_id: str
    ruleset: str
    base: str
    quarters: tuple
    rows: tuple  # per quarter: every applicant's row, then each region's total, then the call's


def previous_quarter(quarter: str) -> str:
    year, number = int(quarter[:4]), int(quarter[5])
    return f"{year - 1}Q4" if number == 1 else f"{year}Q{number - 1}"


def quarter_of_day(day) -> str:
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def realisation(record: dict, record_id: str, effective_from, settlements: str | Path | bytes, base: str | None = None,
                quarter: str | None = None, through: str | None = None) -> Realisation:
    """What became of the allocations of a logged decision: for each applicant with an allocation and each
    settled quarter, the extra FTE filled over its base quarter (at most its allocation, never below 0)."""
    for name, value in (("--base", base), ("--quarter", quarter), ("--through", through)):
        if value is not None and not re.fullmatch(r"\d{4}Q[1-4]", value):
            raise InputError.at(Location(name), f"'{value}' is not a quarter such as 2018Q3")
    base = base or previous_quarter(quarter_of_day(effective_from))
    figures = _settled(settlements)
    settled = sorted({q for rows in figures.values() for q in rows if q > base})
    chosen = [quarter] if quarter else [q for q in settled if through is None or q <= through]
    allocated = [d for d in record["decisions"] if d.get("allocated_fte")]
    rows = []
    with decimal.localcontext(EXACT_SUMS):
        for q in chosen:
            own = [_realisation_row(d, q, base, figures.get(str(d["id"]), {})) for d in allocated]
            regions = sorted({r.region for r in own if r.region is not None})
            rows += own + [_total(q, [r for r in own if r.region == name], name) for name in regions]
            rows.append(_total(q, own, None))
    return Realisation(record_id, f"{record['ruleset']['id']} {record['ruleset']['version']}", base, tuple(chosen),
                       tuple(rows))


def _settled(path: str | Path | bytes) -> dict:
    """Per applicant id, per quarter: (contingent_fte, filled_fte), from a quarterly facts file (or its bytes)."""
    if isinstance(path, bytes):
        label, raw, fmt = "<body>", path, None
    else:
        label = "<stdin>" if str(path) == "-" else str(path)
        raw, fmt = read_facts_bytes(path)
    if fmt == "xlsx":
        raise InputError.at(Location(label), "settlements are read from YAML or JSON (convert a workbook with "
                            "'rules facts convert')")
    data, text, fmt = load_data(raw, label, fmt)
    schema = shipped_schema("quarters.facts.schema.json")
    validate_facts(data, text, label, schema, from_yaml=fmt == "yaml")
    check_unique_by(data["applicants"], applicant_schema(schema).get("properties", {}), schema, text, label)
    return {str(a["id"]): {q["quarter"]: (Decimal(q["contingent_fte"]), Decimal(q["filled_fte"])) for q in a["quarters"]}
            for a in data["applicants"]}


def _realisation_row(decision: dict, quarter: str, base: str, figures: dict) -> RealisationRow:
    allocated = Decimal(decision["allocated_fte"])
    region = decision.get("region")
    if quarter not in figures or base not in figures:
        return RealisationRow(quarter, str(decision["id"]), region, allocated, missing=1)
    contingent, filled = figures[quarter]
    base_filled = figures[base][1]
    extra = min(allocated, max(Decimal(0), filled - base_filled))
    return RealisationRow(quarter, str(decision["id"]), region, allocated, base_filled, filled, contingent, extra)


def _total(quarter: str, rows: list, region: str | None) -> RealisationRow:
    reporting = [r for r in rows if not r.missing]
    add = lambda field: sum((getattr(r, field) for r in reporting), Decimal(0))  # noqa: E731
    return RealisationRow(quarter, None, region, sum((r.allocated_fte for r in rows), Decimal(0)),
                          add("base_filled_fte"), add("filled_fte"), add("contingent_fte"), add("extra_filled_fte"),
                          missing=len(rows) - len(reporting), reporting_allocated_fte=add("allocated_fte"))
