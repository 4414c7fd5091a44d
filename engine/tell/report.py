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
