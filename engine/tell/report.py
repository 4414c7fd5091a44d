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
from ..rules.facts import check_unique_by, load_data, read_facts_bytes, workbook_json
from ..rules.facts import format_of
from ..rules.load import SNIFF_BYTES
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
    warnings: tuple = ()  # what was read other than written (a number typed as text in a workbook), at its cell

    def as_dict(self) -> dict:
        out = {"record_id": self.record_id, "ruleset": self.ruleset, "base": self.base,
               "quarters": list(self.quarters), "rows": [r.as_dict() for r in self.rows]}
        return out | ({"warnings": list(self.warnings)} if self.warnings else {})


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
    warnings: list = []
    figures = _settled(settlements, warnings)
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
                       tuple(rows), tuple(warnings))


def _settled(path: str | Path | bytes, warnings: list | None = None) -> dict:
    """Per applicant id, per quarter: (contingent_fte, filled_fte), from a quarterly facts file or workbook (or
    their bytes). A workbook is checked at its cells, then read as its JSON twin, as a call's facts are."""
    if isinstance(path, bytes):
        label, raw = "<body>", path
        fmt = format_of(label, raw[:SNIFF_BYTES])
    else:
        label = "<stdin>" if str(path) == "-" else str(path)
        raw, fmt = read_facts_bytes(path)
    schema = shipped_schema("quarters.facts.schema.json")
    if fmt == "xlsx":
        raw, fmt = workbook_json(raw, label, schema, warnings), "json"
    data, text, fmt = load_data(raw, label, fmt)
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


# --- the realisation as a table, CSV and a workbook --------------------------------------------------------

REALISATION_HEADINGS = {
    "nl": ["kwartaal", "dossiernummer", "regio", "toegekend", "basis ingevuld", "ingevuld", "contingent",
           "extra ingevuld", "extra vacant", "invullingsgraad", "gerealiseerd", "ontbreekt"],
    "en": ["quarter", "applicant", "region", "allocated", "base filled", "filled", "contingent", "extra filled",
           "extra vacant", "fill rate", "realised", "missing"],
}
REALISATION_WORDS = {
    "nl": {"call": "(oproep)", "region": "(regio)", "yes": "ja", "base": "basis", "sheet": "realisatie",
           "about": "beslissing", "record": "record", "ruleset": "regelset", "base_quarter": "basiskwartaal",
           "quarters": "kwartalen", "key": "gegeven", "value": "waarde"},
    "en": {"call": "(call)", "region": "(region)", "yes": "yes", "base": "base", "sheet": "realisation",
           "about": "decision", "record": "record", "ruleset": "ruleset", "base_quarter": "base quarter",
           "quarters": "quarters", "key": "key", "value": "value"},
}
RATES = (9, 10)  # the columns of the fill rate and the share realised
NUMBERS = (3, 4, 5, 6, 7, 8)


def realisation_cells(row: RealisationRow, lang: str) -> list:
    """One row's cells in the order of ``REALISATION_HEADINGS``: numbers exact, None where there is no figure."""
    words = REALISATION_WORDS[lang]
    who = row.applicant or (words["region"] if row.region else words["call"])
    missing = (words["yes"] if row.missing else None) if row.applicant else (row.missing or None)
    return [row.quarter, who, row.region, row.allocated_fte, row.base_filled_fte, row.filled_fte, row.contingent_fte,
            row.extra_filled_fte, row.extra_vacant_fte, row.fill_rate, row.realised, missing]


def realisation_text_rows(result: Realisation, lang: str, comma: bool, dutch_numbers: bool = False) -> list[list[str]]:
    """The rows as texts: rates as percentages with two decimals; with ``comma``, decimal commas; with
    ``dutch_numbers``, FTE as a Dutch reader writes them (8.187,67)."""
    from .letter import Formatter
    from .render import percent

    def text(index: int, value) -> str:
        if value is None:
            return ""
        if index in NUMBERS and dutch_numbers:
            return Formatter.number_in("nl", value)
        shown = percent(value) if index in RATES else str(value)
        return shown.replace(".", ",") if comma and (index in RATES or index in NUMBERS) else shown
    return [[text(i, v) for i, v in enumerate(realisation_cells(row, lang))] for row in result.rows]


def realisation_table(result: Realisation, lang: str) -> str:
    """The report as an aligned text table under a line naming the decision; Dutch numbers in Dutch."""
    from .render import table

    rows = realisation_text_rows(result, lang, comma=lang == "nl", dutch_numbers=lang == "nl")
    head = f"{result.ruleset}, {result.record_id}; {REALISATION_WORDS[lang]['base']} {result.base}"
    return head + "\n" + table(REALISATION_HEADINGS[lang], rows, right=tuple(range(3, 11)))


def realisation_csv(result: Realisation, lang: str, excel: bool = False) -> str:
    """RFC 4180 CSV (``,``, decimal points, LF); with ``excel``, as a Flemish Excel opens it (``;``, decimal
    commas, a byte-order mark, CRLF). Texts that would start a formula are guarded."""
    import csv
    import io

    from .render import text_cell

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if excel else ",", lineterminator="\r\n" if excel else "\n")
    writer.writerow(REALISATION_HEADINGS[lang])
    for row in realisation_text_rows(result, lang, comma=excel):
        writer.writerow([text_cell(cell) if i in (1, 2) else cell for i, cell in enumerate(row)])
    return ("\ufeff" if excel else "") + out.getvalue()


def realisation_workbook(result: Realisation, lang: str) -> bytes:
    """The report as a workbook: the rows (FTE as numbers, rates as numbers shown as percentages, an empty cell
    where there is no figure) and a sheet naming the decision, the ruleset, the base quarter and the quarters."""
    from ..rules.xlsx import write_workbook

    words = REALISATION_WORDS[lang]
    rows = [[float(v) if i in RATES and v is not None else v for i, v in enumerate(realisation_cells(row, lang))]
            for row in result.rows]
    about = [[words["record"], result.record_id], [words["ruleset"], result.ruleset],
             [words["base_quarter"], result.base], [words["quarters"], ", ".join(result.quarters)]]
    sheets = {words["sheet"]: (REALISATION_HEADINGS[lang], rows), words["about"]: ([words["key"], words["value"]], about)}
    return write_workbook(sheets, formats={words["sheet"]: {i + 1: "0.00%" for i in RATES}})
