"""Text renderings of a decision record: a table for people, CSV for spreadsheets."""
from __future__ import annotations

import csv
import io
import itertools
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any, Sequence

from ..errors import escape_text
from ..rules.expr import format_decimal
from .rounding import ALL, NONE, on_its_side


def terminal_width() -> int:
    """The width to fit: the terminal's, else $COLUMNS, else 80."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)


def wrap(text: str, indent: str = "    ", width: int | None = None) -> str:
    """A line of output wrapped to fit the terminal; continuation lines are indented. A word longer
    than the line (a file path) is never broken: it stays whole, to be copied or clicked."""
    import textwrap

    lead = text[:len(text) - len(text.lstrip(" "))]
    lines = textwrap.wrap(text.strip(), width=width or terminal_width(), initial_indent=lead,
                          subsequent_indent=lead + indent, break_on_hyphens=False, break_long_words=False)
    return "\n".join(lines) if lines else ""


def cell(value: Any) -> str:
    if isinstance(value, Fraction):
        exact = value.denominator & (value.denominator - 1) == 0 or 10**12 % value.denominator == 0
        value = Decimal(value.numerator) / Decimal(value.denominator) if exact else on_its_side(value, 4, (NONE,))
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format_decimal(value)
    return escape_text(str(value))


def problem_lines(problems: Sequence, shown: int = 10) -> list[str]:
    """Problems as ``file:line:col: field: message`` lines; the same message at the same field of many
    applicants is printed at its first ``shown`` places, then counted."""
    groups: dict = {}
    for problem in problems:
        key = (re.sub(r"\[\d+\]( \(id [^)]*\))?", "[]", problem.path), problem.message)
        groups.setdefault(key, []).append(problem)
    lines = []
    for (field, _message), members in groups.items():
        lines += [str(p) for p in members[:shown]]
        if len(members) > shown:
            lines.append(f"  ... and {len(members) - shown} more with the same problem at {field}")
    return lines


def percent(rate: Decimal | Fraction | None) -> str:
    """A rate as a percentage with two decimals, rounded half to even from its exact value; with more where two would
    say all or nothing of what is not (99.996%, never 100.00%)."""
    if rate is None:
        return "-"
    return f"{on_its_side(Fraction(rate), 2, (NONE, ALL), scale=100)}%"


def shorten(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, with an ellipsis where it was cut."""
    return text if len(text) <= width else text[:width - 1] + "…"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: Sequence[int] = (), fixed: Sequence[int] = (),
          optional: Sequence[int] = (), width: int | None = None) -> str:
    """An aligned text table that fits ``width`` (default: the terminal's, else $COLUMNS, else 80).

    Numbers (the ``right`` columns) and ``fixed`` columns keep their width. When the table is too
    wide, the ``optional`` columns are left out, in their order, as long as the rest cannot fit; then
    the widest other column gives way first (down to 8 characters, or its header), and rich cuts
    what no longer fits with an ellipsis.
    """
    from rich.cells import cell_len

    width = width or terminal_width()
    text_rows = [[cell(v) for v in row] for row in rows]
    natural = [max([cell_len(h)] + [cell_len(r[i]) for r in text_rows]) for i, h in enumerate(headers)]
    keep = list(range(len(headers)))
    floors = [w if i in right or i in fixed else min(w, max(8, cell_len(h))) for i, (w, h) in enumerate(zip(natural, headers))]
    for column in optional:
        if sum(floors[i] for i in keep) + 2 * (len(keep) - 1) <= width:
            break
        keep.remove(column)
    widths = _shrink([natural[i] for i in keep], [floors[i] for i in keep], width)
    return _render([headers[i] for i in keep], [[r[i] for i in keep] for r in text_rows],
                   [keep.index(i) for i in right if i in keep], widths)


def _render(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int], widths: list[int]) -> str:
    """The table laid out in ``widths``: directly when every character of every cell takes one cell (rich takes
    a minute for 100,000 rows), else by rich; the same text either way."""
    if all(map(_ONE_CELL_EACH.fullmatch, itertools.chain(headers, *rows))):
        return _render_plain(headers, rows, frozenset(right), widths)
    return _render_rich(headers, rows, right, widths)


# Printable characters that each take one cell (ASCII, Latin letters with their accents, dashes, quotes, the
# ellipsis, the euro sign): a text of these is as many cells wide as it is long (tests/test_widths.py checks each)
_ONE_CELL_EACH = re.compile("[\x20-\x7e\xa1-\xac\xae-\u024f\u2013\u2014\u2018-\u201d\u2026\u20ac]*")


def _render_plain(headers: Sequence[str], rows: Sequence[Sequence[str]], right: frozenset, widths: list[int]) -> str:
    """As rich lays out a table of one-cell characters: each cell cut with an ellipsis to its width (a right-aligned
    one stripped of its trailing spaces first), padded, two spaces between; a rule of dashes under the headers."""
    def line(cells: Sequence[str]) -> str:
        out = []
        for index, (text, width) in enumerate(zip(cells, widths)):
            text = text.rstrip() if index in right else text
            text = text if len(text) <= width else text[:width - 1] + "…"
            out.append(text.rjust(width) if index in right else text.ljust(width))
        return "  ".join(out).rstrip()
    rule = " ".join(["-" * (width + 1) for width in widths[:-1]] + ["-" * widths[-1]])
    return "\n".join([line(headers), rule, *map(line, rows)])


def _render_rich(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int], widths: list[int]) -> str:
    from rich.box import Box
    from rich.console import Console
    from rich.table import Table

    grid = Table(box=Box(_BOX, ascii=True), show_edge=False, pad_edge=False, padding=(0, 1, 0, 0),
                 header_style=None, highlight=False)
    for index, header in enumerate(headers):
        grid.add_column(header, justify="right" if index in right else "left", no_wrap=True, overflow="ellipsis",
                        width=widths[index])
    for row in rows:
        grid.add_row(*row)
    out = io.StringIO()
    Console(file=out, width=sum(widths) + 2 * len(widths), color_system=None, force_terminal=False, highlight=False,
            markup=False, emoji=False, soft_wrap=False).print(grid)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines())


def _shrink(widths: list[int], floor: list[int], width: int) -> list[int]:
    """Narrow the widest column above its floor, one step at a time, until the columns fit (or all are at floor)."""
    widths = list(widths)
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    while excess > 0:
        candidates = [i for i, w in enumerate(widths) if w > floor[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: (widths[i], -i))
        others = [widths[i] for i in candidates if i != widest]
        step = max(1, min(excess, widths[widest] - max(others + [floor[widest]])))
        widths[widest] -= min(step, widths[widest] - floor[widest])
        excess = sum(widths) + 2 * (len(widths) - 1) - width
    return widths


# A table without borders: the header underlined with dashes, columns two spaces apart.
_BOX = "    \n    \n -  \n    \n    \n    \n    \n    \n"


def _status(decision: dict) -> str:
    if decision["eligible"]:
        return decision.get("tier_rule") or ""
    failed = [r["rule"] for r in decision["reasons"] if not r["passed"]]
    return "not eligible: " + ", ".join(failed)


def _with_members(decision: dict) -> str:
    """The name, and the applications merged into this one (``facts.group``): 'Werkplaats Aalst (+B)'."""
    members = decision.get("members") or []
    return " ".join(part for part in (decision["name"] or "", f"(+{', '.join(members)})" if members else "") if part)


def decision_table(record: dict) -> str:
    """The ranked decisions, totals per region and overall."""
    reduces = "reduced_fte" in record
    rows = [(d["rank"], d["id"], shorten(_with_members(d), 32), d["region"], d["tier"], d["requested_fte"],
             d["allocated_fte"], *((d["reduced_fte"], d["change_fte"]) if reduces else ()), _status(d))
            for d in record["decisions"]]
    headers = ["rank", "id", "name", "region", "tier", "requested", "allocated"]
    headers += ["reduced", "change"] if reduces else []
    parts = [
        wrap(escape_text(f"{record['ruleset']['id']} {record['ruleset']['version']} — {record['ruleset']['title']}")),
        f"as of {record['as_of']}; decision {record['decision_id'][:16]}",
        "",
        table(headers + ["reason"], rows, right=(0, 4, 5, 6, 7, 8) if reduces else (0, 4, 5, 6), fixed=(1,),
              optional=(3,)),
    ]
    if record["regions"]:
        region_rows = [(name, r["weight"], r["quota_fte"], r["budget_fte"], r["eligible"], r["allocated_fte"])
                       for name, r in record["regions"].items()]
        parts += ["", table(["region", "weight", "quota", "share", "eligible", "allocated"],
                            [tuple(_short(v) for v in row) for row in region_rows], right=(1, 2, 3, 4, 5))]
    if record.get("steps"):
        step_rows = [(s["step"], s["kind"], s["budget_fte"], s.get("allocated_fte", s.get("reduced_fte")), s["left_fte"])
                     for s in record["steps"]]
        parts += ["", table(["step", "kind", "budget", "given/taken", "left"], step_rows, right=(0, 2, 3, 4))]
    parts += ["", wrap(_totals(record))]
    return "\n".join(parts) + "\n"


def _short(value: Any) -> Any:
    if isinstance(value, str) and "/" in value:
        numerator, denominator = value.split("/")
        return f"{Decimal(numerator) / Decimal(denominator):.4f}"
    return value


def _totals(record: dict) -> str:
    pooled = record["pool"]["pooled_fte"]
    reduced = f", reduced {cell(record['reduced_fte'])}" if "reduced_fte" in record else ""
    return (f"budget {cell(record['budget_fte'])} FTE{reduced}, allocated {cell(record['allocated_fte'])}, "
            f"unallocated {cell(record['unallocated_fte'])}"
            + (f" ({cell(pooled)} through pooling)" if pooled else "")
            + f"; {record['eligible']} of {record['applicants']} applicants eligible")


def decision_csv(record: dict, excel: bool = False, record_id: str | None = None) -> str:
    """The decisions, one row each, with the decision they belong to (and, once logged, its record's id).

    Plain CSV (RFC 4180: ``,``, ``.`` decimals, LF) for tools; with ``excel``, what a Flemish
    (Dutch-locale) Excel opens as it is: ``;``, decimal commas, a UTF-8 byte-order mark, CRLF.
    """
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if excel else ",", lineterminator="\r\n" if excel else "\n")
    number = (lambda v: cell(v).replace(".", ",")) if excel else cell
    reduces = "reduced_fte" in record  # a redistribution: what each applicant gave up, and its net change
    writer.writerow(["rank", "id", "name", "region", "eligible", "tier", "tier_rule", "requested_fte", "allocated_fte",
                     *(["reduced_fte", "change_fte"] if reduces else []),
                     "failed_rules", "decision_id", "ruleset", "version", "as_of", *(["record_id"] if record_id else [])])
    context = [record["decision_id"], text_cell(record["ruleset"]["id"]), text_cell(record["ruleset"]["version"]),
               record["as_of"], *([record_id] if record_id else [])]
    for d in record["decisions"]:
        failed = ";".join(r["rule"] for r in d["reasons"] if not r["passed"])
        writer.writerow([cell(d["rank"]) if d["rank"] else "", text_cell(d["id"]), text_cell(d["name"]),
                         text_cell(d["region"] or ""), "true" if d["eligible"] else "false", d["tier"] or "",
                         d["tier_rule"] or "", number(d["requested_fte"]), number(d["allocated_fte"]),
                         *([number(d["reduced_fte"]), number(d["change_fte"])] if reduces else []), failed, *context])
    return ("\ufeff" if excel else "") + out.getvalue()


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value) -> str:
    """A text for a spreadsheet cell, never read as a formula (CSV injection, CWE-1236).

    As OWASP recommends, a text starting with = + - @, a tab or a carriage return gets a leading
    apostrophe, so a spreadsheet shows it as text; numbers are written by ``cell`` and never touched.
    """
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def diff_table(result) -> str:
    """The impact of a change, per changed applicant and per region, for people."""
    def side(r):
        sets = ", ".join(f"{k}={cell(v)}" for k, v in r["overrides"].items())
        return f"{r['ruleset']['id']} {r['ruleset']['version']}" + (f" with {sets}" if sets else "")

    def outcome(o):
        if not o.get("eligible"):
            return "not eligible" if o.get("eligible") is False else "absent"
        reduced = f", reduced {cell(o['reduced_fte'])}" if o.get("reduced_fte") else ""
        return f"tier {o['tier']}, rank {o['rank']}, {cell(o['allocated_fte'])} FTE{reduced}"

    lines = [wrap(f"old: {side(result.old)} ({result.old_label})"), wrap(f"new: {side(result.new)} ({result.new_label})"), ""]
    if result.changed:
        rows = [(c["id"], (c["name"] or "")[:30], outcome(c["before"]), outcome(c["after"])) for c in result.changed]
        lines.append(table(["id", "name", "before", "after"], rows))
    else:
        lines.append("no applicant's outcome changed")
    if result.regions:
        rows = [(n, r["before"], r["after"]) for n, r in result.regions.items()]
        lines += ["", table(["region", "FTE before", "FTE after"], rows, right=(1, 2))]
    lines += ["", wrap(f"{len(result.changed)} of {len(result.new['decisions'])} applicants changed; eligible "
                       f"{result.old['eligible']} -> {result.new['eligible']}; allocated "
                       f"{cell(result.old['allocated_fte'])} -> {cell(result.new['allocated_fte'])} FTE")]
    return "\n".join(lines)
