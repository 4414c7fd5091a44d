"""Spreadsheets: facts in and out as XLSX workbooks, and a decision as a workbook (openpyxl).

A facts workbook has a sheet ``applicants`` (one row per applicant; a nested field is a dotted
column header such as ``assessment.guidance_actions``), one sheet per list field of an applicant,
named after the field (``quarters``), whose column ``applicant`` holds the applicant's id, a sheet
``regions`` (a column ``region``, then the weights), and optionally a sheet ``call`` (columns
``key`` and ``value``). Numbers are read as Excel shows them (15 significant digits, never the
binary float behind them); dates as dates. Every value remembers its sheet and cell, so a problem is
reported as ``call.xlsx:applicants!C14: requested_fte: ...``.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal
from fractions import Fraction
from typing import Any, Iterable

from ..errors import InputError, Location, Problem, printable
from .load import Document

APPLICANTS, REGIONS, CALL = "applicants", "regions", "call"
GUIDES = ("guide", "toelichting")  # the template's sheet that explains the columns; never read as facts
MAX_ROWS = 1_000_000
MAX_UNPACKED = 512 * 1024 * 1024  # a workbook is a zip: refuse one that unpacks to more than this


class CellDocument(Document):
    """A facts document whose positions are cells: path -> (sheet, row, column)."""

    def loc(self, path=(), key: bool = False) -> Location:
        path = tuple(path)
        while path not in self.positions and path:
            path = path[:-1]
        sheet, row, col = self.positions.get(path, (APPLICANTS, 1, 1))
        return Location(self.file, row, col, f"{sheet}!{column_letter(col)}{row}")


def column_letter(col: int) -> str:
    letters = ""
    while col:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def is_xlsx(label: str, head: bytes) -> bool:
    return label.lower().endswith((".xlsx", ".xlsm")) or head[:4] == b"PK\x03\x04"


# --- reading -------------------------------------------------------------------


def read_facts_workbook(raw: bytes, label: str, problems: list | None = None) -> CellDocument:
    """The facts in a workbook, as plain data with the cell of every value.

    A problem of the workbook's layout (a column there twice, a row of an applicant not in the call, a sheet
    without its key column) does not stop the reading: with ``problems``, each is added to it and the rest is
    read (so that a caller can report them with the values' problems, all at once); without, they are raised.
    """
    sheets = {name: _from_header(rows, name) for name, rows in _open(raw, label).items()}
    if APPLICANTS not in sheets:
        raise InputError.at(Location(label), f"a facts workbook needs a sheet '{APPLICANTS}' "
                            f"(it has: {', '.join(sheets) or 'none'}); 'rules facts template RULESET' writes one")
    reader = _Reader(label, [] if problems is None else problems)
    data = reader.read(sheets)
    if problems is None and reader.problems:
        raise InputError(reader.problems)
    return CellDocument(label, "", data, reader.positions, {})


def _open(raw: bytes, label: str) -> dict[str, list[tuple]]:
    """Sheet name -> rows of cell values, from the bytes of a workbook."""
    from openpyxl import load_workbook

    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNPACKED:
                raise InputError.at(Location(label), f"the workbook unpacks to more than {MAX_UNPACKED // 2**20} MiB")
            _no_doctype(archive, label)
        book = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - openpyxl and zipfile raise many kinds for a damaged file
        raise InputError.at(Location(label), f"not a readable XLSX workbook ({printable(str(exc), 120)})") from None
    sheets = {}
    for sheet in book.worksheets:
        sheets[sheet.title] = _rows(sheet, label)
    book.close()
    return sheets


def _rows(sheet: Any, label: str) -> list[tuple]:
    """A sheet's rows of values; a cell openpyxl cannot read (a malformed value or formula) is a message at its row."""
    rows: list[tuple] = []
    cells = sheet.iter_rows(values_only=True)
    while True:
        number = len(rows) + 1
        try:
            row = next(cells, None)
        except Exception as exc:  # noqa: BLE001 - openpyxl parses each row as it is read
            raise InputError.at(Location(label, cell=f"{sheet.title}!A{number}"),
                                f"a cell of row {number} cannot be read ({printable(str(exc), 80)})") from None
        if row is None:
            return rows
        if number > MAX_ROWS + 1:
            raise InputError.at(Location(label, cell=f"{sheet.title}!A{number}"), f"more than {MAX_ROWS:,} rows")
        rows.append(tuple(_value(v) for v in row))


def _no_doctype(archive: zipfile.ZipFile, label: str) -> None:
    """No part of a workbook has a DOCTYPE or an entity declaration; one that does is an attack (external
    entities, entity expansion) and is refused before any XML parser sees it."""
    for info in archive.infolist():
        with archive.open(info) as part:
            tail = b""
            while chunk := part.read(1 << 16):
                window = tail + chunk
                if b"<!DOCTYPE" in window or b"<!ENTITY" in window:
                    raise InputError.at(Location(label), f"part {printable(info.filename, 60)} of the workbook declares a "
                                        "DOCTYPE or an entity, which no workbook needs: refused")
                tail = window[-16:]


def _value(value: Any) -> Any:
    """A cell's value as the facts hold it: exact decimals (as Excel shows them), dates, texts."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float):
        number = Decimal(format(value, ".15g"))
        return int(number) if number == number.to_integral_value() and abs(number) < 10**15 else number
    if isinstance(value, dt.datetime):
        return value.date() if value.time() == dt.time(0) else value.isoformat()
    if isinstance(value, str):
        return value if value.strip() else None
    return value


class Rows(list):
    """A sheet's rows from its header row on; ``first`` is the header's row number in the sheet (title rows
    above it, as people put them, are passed over)."""

    first = 1


KEY_COLUMNS = {APPLICANTS: "id", REGIONS: "region", CALL: "key"}  # a list sheet's is "applicant"


def _from_header(rows: list[tuple], sheet: str) -> Rows:
    """The rows from the header on: the first of the first 20 rows that has the sheet's key column (else row 1)."""
    key = KEY_COLUMNS.get(sheet, "applicant")
    at = next((i for i, row in enumerate(rows[:20]) if any(str(v).strip() == key for v in row if v is not None)), 0)
    out = Rows(rows[at:])
    out.first = at + 1
    return out


def _first(rows: list) -> int:
    return getattr(rows, "first", 1)


class _Reader:
    """Reads the sheets of a facts workbook into facts, noting the cell of every value and every layout problem."""

    def __init__(self, label: str, problems: list):
        self.label, self.problems, self.positions = label, problems, {}

    def read(self, sheets: dict) -> dict:
        applicants = self.records(sheets[APPLICANTS], APPLICANTS, (APPLICANTS,))
        by_id = {str(a.get("id")): i for i, a in enumerate(applicants)}
        data: dict = {}
        for name, rows in sheets.items():
            if name not in (APPLICANTS, REGIONS, CALL, *GUIDES):
                self.attach_list(name, rows, applicants, by_id)
        if CALL in sheets:
            data[CALL] = {str(k): v for k, v in _pairs(sheets[CALL])}
        if REGIONS in sheets:
            data[REGIONS] = self.regions(sheets[REGIONS])
        data[APPLICANTS] = applicants
        self.positions[(APPLICANTS,)] = (APPLICANTS, 1, 1)
        return data

    def problem(self, sheet: str, row: int, col: int, message: str) -> None:
        self.problems.append(Problem(Location(self.label, row, col, f"{sheet}!{column_letter(col)}{row}"), message))

    def header(self, rows: list[tuple], sheet: str) -> list[str]:
        """The column names of a sheet; a name there twice is a problem, and its second column is left out."""
        top = _first(rows)
        if not rows or not any(rows[0]):
            self.problem(sheet, top, 1, f"sheet '{sheet}' needs a header row")
            return []
        names = [str(h).strip() if h is not None else "" for h in rows[0]]
        seen: set = set()
        for col, name in enumerate(names, start=1):
            if name and name in seen:  # empty header cells (beside a merged title, say) are no columns
                self.problem(sheet, top, col, f"column '{name}' is there twice")
                names[col - 1] = ""
            seen.add(name)
        return names

    def records(self, rows: list[tuple], sheet: str, base: tuple, skip: Iterable[str] = (),
                positions: dict | None = None) -> list[dict]:
        """Each non-empty row below the header as a nested mapping (dotted headers nest)."""
        positions = self.positions if positions is None else positions
        names = self.header(rows, sheet)
        out = []
        for row_number, row in enumerate(rows[1:], start=_first(rows) + 1):
            if not names or not any(v is not None for v in row):
                continue
            index = len(out)
            record: dict = {}
            for col, (name, value) in enumerate(zip(names, row), start=1):
                if not name or name in skip:
                    continue
                parts = tuple(name.split("."))
                holder = record
                for part in parts[:-1]:
                    holder = holder.setdefault(part, {})
                holder[parts[-1]] = value
                positions[base + (index,) + parts] = (sheet, row_number, col)
            positions.setdefault(base + (index,), (sheet, row_number, 1))
            out.append(record)
        return out

    def attach_list(self, name: str, rows: list[tuple], applicants: list, by_id: dict) -> None:
        """Rows of a list sheet go to the list field ``name`` of the applicant named in column ``applicant``."""
        for applicant in applicants:
            applicant.setdefault(name, [])
        names = [str(h).strip() if h is not None else "" for h in rows[0]] if rows else []
        if "applicant" not in names:
            self.problem(name, _first(rows), 1, f"sheet '{name}' needs a column 'applicant' with the id of the "
                         "applicant each row belongs to")
            return
        owner_col = names.index("applicant")
        scratch: dict = {}
        filled = ((n, r) for n, r in enumerate(rows[1:], start=_first(rows) + 1) if any(v is not None for v in r))
        for item, (row_number, row) in zip(self.records(rows, name, ("_",), ("applicant",), scratch), filled):
            owner = by_id.get(str(row[owner_col]))
            if owner is None:
                self.problem(name, row_number, owner_col + 1, f"no applicant with id "
                             f"'{printable(str(row[owner_col]))}' in sheet '{APPLICANTS}'")
                continue
            items = applicants[owner][name]
            for path, where in list(scratch.items()):
                if where[1] == row_number:
                    self.positions[(APPLICANTS, owner, name, len(items)) + path[2:]] = where
            self.positions[(APPLICANTS, owner, name, len(items))] = (name, row_number, 1)
            items.append(item)

    def regions(self, rows: list[tuple]) -> dict:
        names = self.header(rows, REGIONS)
        self.positions[(REGIONS,)] = (REGIONS, _first(rows), 1)
        if names and "region" not in names:
            self.problem(REGIONS, _first(rows), 1, "sheet 'regions' needs a column 'region'")
        out: dict = {}
        for row_number, row in enumerate(rows[1:], start=_first(rows) + 1):
            values = dict(zip(names, row))
            if values.get("region") is None:
                continue
            region = str(values.pop("region"))
            out[region] = {k: v for k, v in values.items() if k}
            for col, name in enumerate(names, start=1):
                if name and name != "region":
                    self.positions[(REGIONS, region, name)] = (REGIONS, row_number, col)
            self.positions[(REGIONS, region)] = (REGIONS, row_number, 1)
        return out


def _pairs(rows: list[tuple]) -> list[tuple]:
    return [(row[0], row[1] if len(row) > 1 else None) for row in rows[1:] if row and row[0] is not None]


# --- writing -------------------------------------------------------------------


def facts_workbook(data: dict) -> bytes:
    """A facts mapping as a workbook that ``read_facts_workbook`` reads back to the same facts."""
    applicants = data.get(APPLICANTS) or []
    list_fields = sorted({k for a in applicants for k, v in a.items() if isinstance(v, list)})
    sheets = {APPLICANTS: _flat_table([{k: v for k, v in a.items() if k not in list_fields} for a in applicants])}
    for name in list_fields:
        rows = [{"applicant": a.get("id"), **item} for a in applicants for item in a.get(name) or []]
        sheets[name] = _flat_table(rows, first=("applicant",))
    if data.get(REGIONS):
        sheets[REGIONS] = _flat_table([{"region": r, **v} for r, v in data[REGIONS].items()], first=("region",))
    if data.get(CALL):
        sheets[CALL] = (["key", "value"], [[k, v] for k, v in data[CALL].items()])
    return write_workbook(sheets)


def _flat_table(records: list[dict], first: tuple = ()) -> tuple[list[str], list[list]]:
    flat = [_flatten(r) for r in records]
    headers = list(first) + [h for h in dict.fromkeys(k for row in flat for k in row) if h not in first]
    return headers, [[row.get(h) for h in headers] for row in flat]


def _flatten(record: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in record.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            raise InputError.at(Location("<facts>"), f"'{prefix}{key}' is a list inside a list: it has no place in "
                                "a spreadsheet")
        else:
            out[prefix + key] = value
    return out


def write_workbook(sheets: dict[str, tuple[list[str], list[list]]], widths: bool = True, notes: dict | None = None,
                   formats: dict | None = None, preamble: dict | None = None) -> bytes:
    """Sheets of (headers, rows) as XLSX bytes; decimals as numbers, dates as dates, fractions as text.

    ``notes``: per (sheet, header) a (comment, allowed values) pair: the comment goes on the header's first
    row, the allowed values become a drop-down under the header. ``formats``: per sheet, per column number
    (from 1), the number format of its cells and of the column. ``preamble``: per sheet, rows above the header
    row (a row of labels, in bold, then rows in grey italics, such as an example), which a reader skips."""
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, (headers, rows) in sheets.items():
        _write_sheet(book.create_sheet(name), headers, rows, (preamble or {}).get(name, []),
                     (formats or {}).get(name, {}), {h: n for (s, h), n in (notes or {}).items() if s == name})
        if widths:
            _widths(book[name], [*(preamble or {}).get(name, []), headers, *rows[:200]])
    out = io.BytesIO()
    book.save(out)
    return _fixed_times(out.getvalue())


def _write_sheet(sheet: Any, headers: list, rows: list, above: list, formats: dict, notes: dict) -> None:
    from openpyxl.styles import Font

    for line in above:
        sheet.append([_cell(v) for v in line])
    sheet.append(headers)
    top = len(above) + 1  # the header row
    for row in rows:
        sheet.append([_cell(v) for v in row])
    for number, line in enumerate(sheet.iter_rows(max_row=top), start=1):
        for cell in line:
            cell.font = Font(bold=True) if number == 1 else Font(italic=number < top, color="FF808080",
                                                                  size=9 if number == top else None)
    for cell, header in zip(sheet[1], headers):
        if header in notes:
            _annotate(sheet, cell, notes[header], top + 1)
    for row in sheet.iter_rows(min_row=top + 1):
        for cell in row:
            if isinstance(cell.value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            elif cell.column in formats:
                cell.number_format = formats[cell.column]
            elif cell.data_type == "f":  # a text such as '=HYPERLINK(...)' stays text, never a formula
                cell.data_type = "s"
    for column, number_format in formats.items():
        sheet.column_dimensions[column_letter(column)].number_format = number_format
    sheet.freeze_panes = f"A{top + 1}"


def _widths(sheet: Any, lines: list) -> None:
    for col in range(1, max((len(line) for line in lines), default=0) + 1):
        longest = max(len(str(line[col - 1])) if col - 1 < len(line) and line[col - 1] is not None else 0
                      for line in lines)
        sheet.column_dimensions[column_letter(col)].width = min(60, longest + 2)


def _annotate(sheet: Any, cell: Any, note: tuple, first_row: int) -> None:
    """A header's comment and, for a column of allowed values, a drop-down from ``first_row`` down."""
    from openpyxl.comments import Comment
    from openpyxl.worksheet.datavalidation import DataValidation

    text, allowed, error = note
    if text:
        cell.comment = Comment(text, "rules")
    if allowed and len(", ".join(allowed)) < 250:  # Excel's limit on a list typed into the validation itself
        check = DataValidation(type="list", formula1='"' + ",".join(allowed) + '"', allow_blank=True,
                               showErrorMessage=True)
        check.error, check.errorTitle = error, error.split(":")[0]
        sheet.add_data_validation(check)
        check.add(f"{cell.column_letter}{first_row}:{cell.column_letter}100000")


def _cell(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    if isinstance(value, (list, dict)):
        return str(value)
    return value


def _fixed_times(raw: bytes) -> bytes:
    """The same workbook with fixed timestamps, so the same input gives the same bytes."""
    source = zipfile.ZipFile(io.BytesIO(raw))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _strip_dates(data)
            fixed = zipfile.ZipInfo(info.filename, date_time=(2000, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, data)
    return out.getvalue()


def _strip_dates(core: bytes) -> bytes:
    import re

    return re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)", rb"\g<1>2000-01-01T00:00:00Z\g<3>", core)


# --- a decision as a workbook ------------------------------------------------------

RANKING = ("rank", "id", "name", "region", "eligible", "tier", "tier_rule", "requested_fte", "allocated_fte")


def decision_workbook(record: dict, record_id: str | None = None) -> bytes:
    """A decision record as a workbook: decision, ranking, regions, reasons (and steps, if any).

    Column headers are the record's JSON keys. A value Excel cannot hold exactly (a fraction that
    does not terminate) is written rounded, with its exact form in a column ``<key>_exact`` beside it.
    """
    record = {**record, "decisions": list(record["decisions"])}  # read three times: written out once (``lazy``)
    header, rows = _decision_sheet(record)
    if record_id:  # the record the log keeps of it, by its own id
        rows = [["record_id", record_id], *rows]
    sheets = {"decision": (header, rows), "ranking": _ranking_sheet(record)}
    if record["regions"]:
        sheets["regions"] = _with_exact(["region", "weight", "quota_fte", "budget_fte", "allocated_fte", "applicants",
                                         "eligible"],
                                        [{"region": name, **r} for name, r in record["regions"].items()])
    if record.get("steps"):
        keys = ["step", "kind", "budget_fte", "allocated_fte", "reduced_fte", "left_fte"]
        sheets["steps"] = _with_exact([k for k in keys if any(k in s for s in record["steps"])], record["steps"])
    rows = [{"id": d["id"], "rule": c["rule"], "passed": c["passed"],
             "values": "; ".join(f"{k} = {_text(v)}" for k, v in c["values"].items())}
            for d in record["decisions"] for c in d["reasons"] + d["tier_checks"]]
    sheets["reasons"] = (["id", "rule", "passed", "values"], [[r[k] for k in ("id", "rule", "passed", "values")]
                                                               for r in rows])
    return write_workbook(sheets)


def _decision_sheet(record: dict) -> tuple[list[str], list[list]]:
    rows = [["decision_id", record["decision_id"]], ["ruleset", record["ruleset"]["id"]],
            ["version", record["ruleset"]["version"]], ["title", record["ruleset"]["title"]],
            ["ruleset_sha256", record["ruleset"]["sha256"]], ["as_of", record["as_of"]],
            ["kind", record.get("kind", "")], ["approvals", len(record.get("approvals") or [])],
            ["engine", f"{record['engine']['version']} ({record['engine']['evaluator']})"],
            ["facts_sha256", record["facts_sha256"]]]
    for key in ("budget_fte", "unit_fte", "reduced_fte", "allocated_fte", "unallocated_fte", "applicants", "eligible"):
        if key in record:
            rows.append([key, record[key]])
    rows += [[f"parameters.{k}", _text(v) if isinstance(v, list) else v] for k, v in record["parameters"].items()]
    rows += [[f"call.{k}", v] for k, v in (record.get("call") or {}).items()]
    return ["key", "value"], rows


def _ranking_sheet(record: dict) -> tuple[list[str], list[list]]:
    reduces = "reduced_fte" in record
    keys = list(RANKING) + (["reduced_fte", "change_fte"] if reduces else []) + ["failed_rules"]
    derived = list(dict.fromkeys(k for d in record["decisions"] for k in d["derived"]))
    rows = []
    for d in record["decisions"]:
        row = {k: d.get(k) for k in keys if k != "failed_rules"}
        row["failed_rules"] = ", ".join(c["rule"] for c in d["reasons"] if not c["passed"])
        row.update({f"derived.{k}": d["derived"].get(k) for k in derived})
        rows.append(row)
    return _with_exact(keys + [f"derived.{k}" for k in derived], rows)


def _with_exact(keys: list[str], rows: list[dict]) -> tuple[list[str], list[list]]:
    """Headers and rows; a column holding a non-terminating fraction gets a ``_exact`` twin."""
    headers = []
    for key in keys:
        headers.append(key)
        if any(_inexact(r.get(key)) for r in rows):
            headers.append(f"{key}_exact")
    out = []
    for r in rows:
        line = []
        for header in headers:
            if header.endswith("_exact") and header[:-6] in keys:
                value = r.get(header[:-6])
                line.append(_fraction_text(value) if _inexact(value) else None)
            else:
                line.append(_rounded(r.get(header)))
        out.append(line)
    return headers, out


def _inexact(value: Any) -> bool:
    if isinstance(value, str) and "/" in value:
        return value.replace("/", "").lstrip("-").isdigit()
    if isinstance(value, Fraction):
        return float(value) != value
    return False


def _fraction_text(value: Any) -> str:
    return value if isinstance(value, str) else f"{value.numerator}/{value.denominator}"


def _rounded(value: Any) -> Any:
    """A fraction as the nearest float Excel can hold (its exact form goes in the ``_exact`` column)."""
    if isinstance(value, Fraction):
        return float(value)
    if _inexact(value):
        numerator, denominator = map(int, value.split("/"))
        return float(Fraction(numerator, denominator))
    return value


def _text(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_text(v) for v in value) + "]"
    if isinstance(value, Fraction):
        return f"{value.numerator}/{value.denominator}"
    return "null" if value is None else str(value)
