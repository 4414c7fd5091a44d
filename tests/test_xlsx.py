"""Spreadsheets: facts workbooks in and out, the decision as a workbook, and converting between formats."""
from __future__ import annotations

import io
import json
import zipfile
from decimal import Decimal

import pytest
from openpyxl import Workbook, load_workbook

from rules_cli.cli import main
from rules_engine.tell.convert import read_any
from rules_engine.decide.decision import to_json_bytes
from rules_engine.rules.validate import json_view
from rules_engine.rules.xlsx import column_letter

from conftest import RULES

ROOT = RULES.parent
EXAMPLES = ["lde-2018", "sheltered-workshops-2018", "social-workshops-2018", "maatwerk-2020"]
RULESET_OF = {"lde-2018": "lde", "sheltered-workshops-2018": "sheltered-workshops",
              "social-workshops-2018": "social-workshops", "maatwerk-2020": "maatwerk-redistribution"}
AS_OF = {"maatwerk-2020": "2020-03-01"}


def invoke(runner, *args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("name", EXAMPLES)
def test_an_example_to_a_workbook_and_back_is_the_same_facts(runner, tmp_path, name):
    source = ROOT / "examples" / f"{name}.yaml"
    for target in ("call.xlsx", "again.yaml", "again.json"):
        origin = tmp_path / "call.xlsx" if target != "call.xlsx" else source
        assert invoke(runner, "facts", "convert", origin, tmp_path / target).exit_code == 0
    original = json_view(read_any(source))
    for target in ("call.xlsx", "again.yaml", "again.json"):
        assert json_view(read_any(tmp_path / target)) == original, target


@pytest.mark.parametrize("name", EXAMPLES)
def test_a_workbook_decides_exactly_as_its_json_twin(runner, tmp_path, name):
    invoke(runner, "facts", "convert", ROOT / "examples" / f"{name}.yaml", tmp_path / "call.xlsx")
    invoke(runner, "facts", "convert", tmp_path / "call.xlsx", tmp_path / "call.json")
    records = []
    for facts in ("call.xlsx", "call.json"):
        result = invoke(runner, "evaluate", RULESET_OF[name], tmp_path / facts, "--as-of", AS_OF.get(name, "2018-06-20"),
                        "--rules-dir", RULES, "--no-log", "--format", "json")
        assert result.exit_code == 0, result.output
        record = json.loads(result.stdout, parse_float=Decimal)
        del record["decision_id"], record["facts_sha256"]  # the bytes differ: a workbook is logged as compact JSON
        records.append(record)
    assert records[0] == records[1]
    assert records[0]["decisions"]


def test_a_bad_cell_is_reported_at_its_sheet_and_cell(runner, tmp_path):
    invoke(runner, "facts", "convert", ROOT / "examples" / "lde-2018.yaml", tmp_path / "call.xlsx")
    book = load_workbook(tmp_path / "call.xlsx")
    sheet = book["applicants"]
    assert [c.value for c in sheet[1]][3:5] == ["contingent_fte", "requested_fte"]  # columns D and E
    sheet["E14"] = 0
    sheet["D3"] = "drie"
    book.save(tmp_path / "bad.xlsx")
    result = invoke(runner, "evaluate", "lde", tmp_path / "bad.xlsx", "--as-of", "2018-06-20", "--rules-dir", RULES)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{tmp_path / 'bad.xlsx'}:applicants!E14: applicants[12] (id LDE-013).requested_fte: must be >= 1, not 0" \
        in result.stderr
    assert "bad.xlsx:applicants!D3: applicants[1] (id LDE-002).contingent_fte: must be a number, not 'drie'" in result.stderr


def test_a_list_sheet_row_of_an_unknown_applicant_is_named(runner, tmp_path):
    invoke(runner, "facts", "convert", ROOT / "examples" / "sheltered-workshops-2018.yaml", tmp_path / "call.xlsx")
    book = load_workbook(tmp_path / "call.xlsx")
    book["quarters"]["A5"] = "BW-999"
    book.save(tmp_path / "bad.xlsx")
    result = invoke(runner, "evaluate", "sheltered-workshops", tmp_path / "bad.xlsx", "--as-of", "2018-06-20",
                    "--rules-dir", RULES, "--no-log")
    assert result.exit_code == 1
    assert "bad.xlsx:quarters!A5: no applicant with id 'BW-999' in sheet 'applicants'" in result.stderr


@pytest.mark.parametrize("content", [b"PK\x03\x04 not really a zip", b"\x00" * 100])
def test_a_damaged_workbook_is_a_message(runner, tmp_path, content):
    path = tmp_path / "call.xlsx"
    path.write_bytes(content)
    result = invoke(runner, "evaluate", "lde", path, "--as-of", "2018-06-20", "--rules-dir", RULES, "--no-log")
    assert result.exit_code == 1 and "not a readable XLSX workbook" in result.stderr


def test_a_workbook_that_unpacks_to_too_much_is_refused(runner, tmp_path):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/big.xml", b"\x00" * (600 * 2**20))  # a few hundred kB packed
    (tmp_path / "bomb.xlsx").write_bytes(out.getvalue())
    result = invoke(runner, "evaluate", "lde", tmp_path / "bomb.xlsx", "--as-of", "2018-06-20", "--rules-dir", RULES)
    assert result.exit_code == 1 and "unpacks to more than 512 MiB" in result.stderr


def test_the_decision_workbook_ranking_equals_the_json(runner, tmp_path):
    args = ["evaluate", "maatwerk-redistribution", ROOT / "examples" / "maatwerk-2020.yaml", "--as-of", "2020-03-01",
            "--rules-dir", RULES, "--no-log"]
    record = json.loads(invoke(runner, *args, "--format", "json").stdout, parse_float=Decimal)
    assert invoke(runner, *args, "--format", "xlsx", "-o", tmp_path / "d.xlsx").exit_code == 0
    book = load_workbook(tmp_path / "d.xlsx")
    assert book.sheetnames == ["decision", "ranking", "steps", "reasons"]
    rows = list(book["ranking"].iter_rows(values_only=True))
    headers = rows[0]
    assert len(rows) - 1 == len(record["decisions"])
    for row, decision in zip(rows[1:], record["decisions"]):
        cells = dict(zip(headers, row))
        for key in ("rank", "id", "name", "region", "eligible", "tier", "tier_rule", "requested_fte", "allocated_fte",
                    "reduced_fte", "change_fte"):
            assert _same(cells[key], decision[key]), (decision["id"], key)
        fill = decision["derived"]["fill_rate"]
        if isinstance(fill, str):  # a fraction that does not terminate: rounded, and exact beside it
            assert cells["derived.fill_rate_exact"] == fill
            numerator, denominator = map(int, fill.split("/"))
            assert abs(Decimal(str(cells["derived.fill_rate"])) - Decimal(numerator) / denominator) < Decimal("1e-15")
    facts = dict(book["decision"].iter_rows(min_row=2, values_only=True))
    assert facts["decision_id"] == record["decision_id"] and facts["as_of"] == "2020-03-01"


def _same(cell, value) -> bool:
    if value is None:
        return cell is None
    if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
        return Decimal(str(cell)) == value
    return cell == value


def test_a_formula_in_a_name_stays_text_in_every_output(runner, tmp_path):
    evil = "=cmd|' /C calc'!A0"
    data = json_view(read_any(ROOT / "examples" / "lde-2018.yaml"))
    data["applicants"][0]["name"] = evil
    (tmp_path / "evil.json").write_bytes(to_json_bytes(data))
    args = ["evaluate", "lde", tmp_path / "evil.json", "--as-of", "2018-06-20", "--rules-dir", RULES, "--no-log"]
    for fmt in ("csv", "csv-excel"):
        text = invoke(runner, *args, "--format", fmt).stdout
        assert "'" + evil in text and ("," + evil not in text and ";" + evil not in text)
    invoke(runner, *args, "--format", "xlsx", "-o", tmp_path / "d.xlsx")
    cell = next(c for row in load_workbook(tmp_path / "d.xlsx")["ranking"].iter_rows() for c in row if c.value == evil)
    assert cell.data_type == "s"  # a text, not a formula
    invoke(runner, "facts", "convert", tmp_path / "evil.json", tmp_path / "evil.xlsx")
    cell = next(c for row in load_workbook(tmp_path / "evil.xlsx")["applicants"].iter_rows() for c in row if c.value == evil)
    assert cell.data_type == "s"


def test_the_template_has_the_sheets_and_headers_of_the_schema(runner, tmp_path):
    # Issue 20, item 3: row 1 the columns' names in Dutch (from the schema's x-label), row 2 an example marked
    # as such, row 3 the names the engine reads; data from row 4.
    result = invoke(runner, "facts", "template", "sheltered-workshops", "--as-of", "2018-06-20", "--rules-dir", RULES,
                    "-o", tmp_path / "t.xlsx")
    assert result.exit_code == 0
    book = load_workbook(tmp_path / "t.xlsx")
    rows = {s.title: [[c.value for c in row] for row in s.iter_rows(max_row=3)] for s in book.worksheets}
    assert rows["applicants"][0] == ["dossiernummer", "naam", "provincie", "huidig contingent in VTE",
                                     "gevraagde bijkomende VTE"]
    assert rows["applicants"][2] == ["id", "name", "province", "contingent_fte", "requested_fte"]
    assert rows["quarters"][0] == ["dossiernummer van de aanvrager", "kwartaal", "huidig contingent in VTE",
                                   "ingevulde VTE"]
    assert rows["quarters"][2] == ["applicant", "quarter", "contingent_fte", "filled_fte"]
    assert rows["regions"][2][0] == "region" and "work_disabled" in rows["regions"][2]
    example = book["applicants"]["A2"]
    assert example.font.i and "Voorbeeld" in example.comment.text and "rij 4" in example.comment.text
    assert rows["applicants"][1][2] == "Antwerpen"  # the first allowed province
    assert rows["quarters"][1][0] == rows["applicants"][1][0]  # the example quarter belongs to the example applicant
    assert book["applicants"].freeze_panes == "A4"
    english = tmp_path / "en.xlsx"
    invoke(runner, "facts", "template", "sheltered-workshops", "--as-of", "2018-06-20", "--rules-dir", RULES,
           "-o", english, "--lang", "en")
    book = load_workbook(english)
    assert [c.value for c in book["applicants"][1]] == ["file number", "name", "province", "current contingent in FTE",
                                                         "additional FTE requested"]
    assert "Example" in book["applicants"]["A2"].comment.text


def test_a_filled_template_decides_like_its_yaml_twin(runner, tmp_path):
    # The template filled in from row 4 (the example row above the names is never read) gives the same decision.
    from ruamel.yaml import YAML

    out = tmp_path / "call.xlsx"
    invoke(runner, "facts", "template", "sheltered-workshops", "--as-of", "2018-06-20", "--rules-dir", RULES, "-o", out)
    facts = YAML(typ="safe").load((ROOT / "examples" / "sheltered-workshops-2018.yaml").read_text(encoding="utf-8"))
    book = load_workbook(out)
    names = {s.title: [c.value for c in s[3]] for s in book.worksheets if s.title in ("applicants", "quarters", "regions")}
    for applicant in facts["applicants"]:
        book["applicants"].append([applicant[n] for n in names["applicants"]])
        for quarter in applicant["quarters"]:
            book["quarters"].append([applicant["id"] if n == "applicant" else quarter[n] for n in names["quarters"]])
    for region, values in facts["regions"].items():
        book["regions"].append([region if n == "region" else values.get(n) for n in names["regions"]])
    book.save(out)
    made = invoke(runner, "evaluate", "sheltered-workshops", out, "--as-of", "2018-06-20", "--rules-dir", RULES,
                  "--no-log", "--format", "json")
    twin = invoke(runner, "evaluate", "sheltered-workshops", ROOT / "examples" / "sheltered-workshops-2018.yaml",
                  "--as-of", "2018-06-20", "--rules-dir", RULES, "--no-log", "--format", "json")
    assert made.exit_code == 0, made.output
    mine, theirs = json.loads(made.stdout), json.loads(twin.stdout)
    assert mine["applicants"] == theirs["applicants"] == len(facts["applicants"])
    assert [(d["id"], d["allocated_fte"]) for d in mine["decisions"]] == \
        [(d["id"], d["allocated_fte"]) for d in theirs["decisions"]]


def test_the_template_formats_its_columns(runner, tmp_path):
    # Numbers as numbers, whole FTE as whole numbers, ids as text (an id such as 001 keeps its zeros).
    out = tmp_path / "t.xlsx"
    invoke(runner, "facts", "template", "sheltered-workshops", "--as-of", "2018-06-20", "--rules-dir", RULES, "-o", out)
    sheet = load_workbook(out)["applicants"]
    formats = {c.value: sheet.column_dimensions[c.column_letter].number_format for c in sheet[3]}
    assert formats["id"] == "@" and formats["requested_fte"] == "0" and formats["contingent_fte"] == "#,##0.00"


def test_the_same_decision_gives_the_same_workbook_bytes(runner, tmp_path):
    args = ["evaluate", "lde", ROOT / "examples" / "lde-2018.yaml", "--as-of", "2018-06-20", "--rules-dir", RULES,
            "--no-log", "--format", "xlsx"]
    invoke(runner, *args, "-o", tmp_path / "a.xlsx")
    invoke(runner, *args, "-o", tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()


def test_a_workbook_with_no_applicants_sheet_says_how_to_get_one(runner, tmp_path):
    book = Workbook()
    book.active.title = "Blad1"
    book.save(tmp_path / "call.xlsx")
    result = invoke(runner, "evaluate", "lde", tmp_path / "call.xlsx", "--as-of", "2018-06-20", "--rules-dir", RULES)
    assert result.exit_code == 1 and "needs a sheet 'applicants' (it has: Blad1)" in result.stderr
    assert "rules facts template" in result.stderr


def test_the_template_explains_its_columns_and_offers_the_allowed_values(runner, tmp_path):
    from openpyxl import load_workbook

    out = tmp_path / "call.xlsx"
    invoke(runner, "facts", "template", "sheltered-workshops", "-o", out, "--rules-dir", RULES, "--as-of", "2018-06-20")
    book = load_workbook(out)
    assert book.sheetnames[-1] == "toelichting"
    province = book["applicants"]["C1"]
    assert province.value == "provincie" and "verplicht" in province.comment.text
    lists = [v for v in book["applicants"].data_validations.dataValidation if "C4" in v.sqref]
    assert lists and lists[0].formula1 == '"Antwerpen,Limburg,Oost-Vlaanderen,Vlaams-Brabant,West-Vlaanderen"'
    assert "C2" not in lists[0].sqref and "C3" not in lists[0].sqref  # not over the example and the names
    guide = {(r[0], r[1]): r for r in book["toelichting"].iter_rows(min_row=2, values_only=True)}
    assert guide[("applicants", "requested_fte")][2:4] == ("gevraagde bijkomende VTE", "ja")
    assert guide[("regions", "nwwz")][3] == "nee"
    text = " ".join(str(v) for row in book["toelichting"].iter_rows(values_only=True) for v in row if v)
    assert "Unique applicant id" not in text and "required" not in text  # no English in the Dutch template
    # filled in (a converted call in the template's layout), the guide sheet is never read as facts
    invoke(runner, "facts", "convert", ROOT / "examples" / "sheltered-workshops-2018.yaml", tmp_path / "filled.xlsx")
    filled = load_workbook(tmp_path / "filled.xlsx")
    for name in ("guide", "toelichting"):
        guide_sheet = filled.create_sheet(name)
        guide_sheet.append(["sheet", "column"])
        guide_sheet.append(["applicants", "id"])
    filled.save(tmp_path / "filled.xlsx")
    result = invoke(runner, "evaluate", "sheltered-workshops", tmp_path / "filled.xlsx", "--as-of", "2018-06-20",
                    "--rules-dir", RULES, "--no-log", "--format", "json")
    assert result.exit_code == 0, result.output


def test_a_workbook_as_people_make_it(runner, tmp_path):
    """Issue 20, finding 2: a title above the headers, an optional column left empty."""
    from openpyxl import load_workbook

    invoke(runner, "facts", "convert", ROOT / "examples" / "sheltered-workshops-2018.yaml", tmp_path / "call.xlsx")
    book = load_workbook(tmp_path / "call.xlsx")
    for sheet in book.worksheets:
        sheet.insert_rows(1, 2)
        sheet["A1"] = f"Oproep beschutte werkplaatsen 2018 — {sheet.title}"  # a title, then an empty row
        sheet.merge_cells("A1:D1")
    regions = book["regions"]
    regions.cell(3, regions.max_column + 1).value = "nwwz"  # the optional count of job seekers, left empty
    book.save(tmp_path / "people.xlsx")
    made = invoke(runner, "evaluate", "sheltered-workshops", tmp_path / "people.xlsx", "--as-of", "2018-06-20",
                  "--rules-dir", RULES, "--no-log", "--format", "json")
    twin = invoke(runner, "evaluate", "sheltered-workshops", ROOT / "examples" / "sheltered-workshops-2018.yaml",
                  "--as-of", "2018-06-20", "--rules-dir", RULES, "--no-log", "--format", "json")
    assert made.exit_code == 0, made.output
    mine, theirs = json.loads(made.stdout), json.loads(twin.stdout)
    assert [(d["id"], d["allocated_fte"]) for d in mine["decisions"]] == [(d["id"], d["allocated_fte"]) for d in theirs["decisions"]]
    book = load_workbook(tmp_path / "people.xlsx")
    book["applicants"]["E5"] = 0  # requested_fte of the second applicant, below the minimum of 1
    book.save(tmp_path / "bad.xlsx")
    bad = invoke(runner, "evaluate", "sheltered-workshops", tmp_path / "bad.xlsx", "--as-of", "2018-06-20",
                 "--rules-dir", RULES, "--no-log")
    assert bad.exit_code == 1 and "applicants!E5" in bad.output  # the cell as the sheet numbers it


def test_numbers_stored_as_text_are_read_with_a_warning_at_their_cell(runner, tmp_path):
    from openpyxl import load_workbook

    invoke(runner, "facts", "convert", ROOT / "examples" / "sheltered-workshops-2018.yaml", tmp_path / "call.xlsx")
    book = load_workbook(tmp_path / "call.xlsx")
    applicants = book["applicants"]
    column = [c.value for c in applicants[1]].index("requested_fte") + 1
    requested = applicants.cell(2, column).value
    applicants.cell(2, column).value = str(requested)  # '11' typed with an apostrophe
    quarters = book["quarters"]
    filled = [c.value for c in quarters[1]].index("filled_fte") + 1
    value = quarters.cell(2, filled).value
    quarters.cell(2, filled).value = str(value).replace(".", ",")  # a decimal comma, as text
    book.save(tmp_path / "text.xlsx")
    made = invoke(runner, "evaluate", "sheltered-workshops", tmp_path / "text.xlsx", "--as-of", "2018-06-20",
                  "--rules-dir", RULES, "--no-log", "--format", "json")
    twin = invoke(runner, "evaluate", "sheltered-workshops", ROOT / "examples" / "sheltered-workshops-2018.yaml",
                  "--as-of", "2018-06-20", "--rules-dir", RULES, "--no-log", "--format", "json")
    assert made.exit_code == 0, made.output
    assert [d["allocated_fte"] for d in json.loads(made.stdout)["decisions"]] == \
        [d["allocated_fte"] for d in json.loads(twin.stdout)["decisions"]]
    letter = column_letter(column)
    assert f"applicants!{letter}2: '{requested}' is text in a number column; read as {requested}" in made.stderr
    assert f"quarters!{column_letter(filled)}2: '{str(value).replace('.', ',')}' is text in a number column" in made.stderr


def test_every_problem_of_a_workbook_at_once(runner, tmp_path):
    # Issue 20, item 3: a workbook with five problems names all five, each at its cell, not the first only.
    invoke(runner, "facts", "convert", ROOT / "examples" / "sheltered-workshops-2018.yaml", tmp_path / "call.xlsx")
    book = load_workbook(tmp_path / "call.xlsx")
    applicants, quarters = book["applicants"], book["quarters"]
    width = applicants.max_column
    applicants.cell(1, width + 1).value = "name"  # 1: a column there twice
    applicants["E3"] = "veel"  # 2: a word for the requested FTE of the second applicant
    quarters["A4"] = "BW-999"  # 3: a quarter of an applicant that is not in the call
    quarters["A6"] = "BW-998"  # 4: and another
    book["regions"]["A1"] = "provincie"  # 5: the regions sheet without its column 'region'
    book.save(tmp_path / "five.xlsx")
    result = invoke(runner, "evaluate", "sheltered-workshops", tmp_path / "five.xlsx", "--as-of", "2018-06-20",
                    "--rules-dir", RULES, "--no-log")
    assert result.exit_code == 1 and "Traceback" not in result.output
    out = result.stderr
    assert f"applicants!{column_letter(width + 1)}1: column 'name' is there twice" in out
    assert "applicants!E3" in out and "veel" in out
    assert "quarters!A4: no applicant with id 'BW-999'" in out and "quarters!A6: no applicant with id 'BW-998'" in out
    assert "regions!A1: sheet 'regions' needs a column 'region'" in out
    assert "applicants!A1" not in out  # what follows from the regions' missing column is placed on their sheet
