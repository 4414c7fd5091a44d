"""Issue 14, finding 10: limits hold before reading, per parser, in every command; output after logging.

Run through the CLI, as an operator would; the big inputs are made at run time, not kept in the repo.
"""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import zlib
from decimal import Decimal
from fractions import Fraction

from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.rules.load import MAX_YAML_BYTES

from conftest import AS_OF, ROOT, RULES, example


def rules(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def records(log) -> int:
    if not os.path.exists(log):
        return 0
    db = sqlite3.connect(str(log))
    count = db.execute("SELECT count(*) FROM records").fetchone()[0]
    db.close()
    return count


def test_yaml_that_is_json_inside_is_limited_as_yaml(tmp_path):
    big = tmp_path / "call.yaml"
    big.write_bytes(b"{applicants: []}" + b" " * (31 << 20))  # 31 MB, flow style: YAML, whatever it looks like
    result = rules("evaluate", "lde", big, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log")
    assert result.exit_code == 1 and f"over the limit of {MAX_YAML_BYTES:,} bytes" in result.stderr


def test_report_fill_keeps_the_yaml_limit(tmp_path):
    big = tmp_path / "call.yaml"
    big.write_bytes(b"applicants:\n" + b"# padding of a block YAML file\n" * 440_000)  # 13 MB
    result = rules("report", "fill", big, "--quarter", "2017Q4")
    assert result.exit_code == 1 and "over the limit" in result.stderr and "internal error" not in result.output


def test_an_endless_file_is_refused_without_reading_it_whole(tmp_path):
    result = rules("evaluate", "lde", "/dev/zero", "--as-of", AS_OF, "--rules-dir", RULES, "--no-log")
    assert result.exit_code == 1 and "/dev/zero: file is more than" in result.stderr


def test_facts_from_standard_input(tmp_path):
    data = example("lde").read_bytes()
    result = CliRunner().invoke(main, ["evaluate", "lde", "-", "--as-of", str(AS_OF), "--rules-dir", str(RULES),
                                       "--no-log", "--format", "json"], input=data)
    from_file = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--no-log",
                      "--format", "json")
    assert result.exit_code == 0 and result.stdout == from_file.stdout


def test_unwritable_output_is_refused_before_anything_is_logged(tmp_path):
    log = tmp_path / "log.sqlite"
    for target in (tmp_path / "no-such-folder" / "out.json", tmp_path):
        result = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--log", log,
                       "-o", target)
        assert result.exit_code == 1 and str(target) in result.stderr and "nothing was logged" in result.stderr
        assert "logged as record" not in result.stderr and "internal error" not in result.output
    assert records(log) == 0


def test_output_file_is_written_after_logging(tmp_path):
    log, out = tmp_path / "log.sqlite", tmp_path / "out.json"
    out.write_text("an older, longer decision that must not leave a tail behind\n" * 100)
    result = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--log", log,
                   "-o", out, "--format", "json")
    assert result.exit_code == 0 and records(log) == 1
    assert json.loads(out.read_text())["ruleset"]["id"] == "lde"


def test_output_to_a_device(tmp_path):
    log = tmp_path / "log.sqlite"
    result = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--log", log,
                   "-o", "/dev/null")
    assert result.exit_code == 0 and records(log) == 1


def test_a_full_stdout_after_logging_names_the_record(tmp_path):
    log = tmp_path / "log.sqlite"
    env = dict(os.environ, RULES_LOG=str(log), PYTHONPATH=str(ROOT))
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([sys.executable, "-c", "from rules_cli.cli import main; main()", "evaluate", "lde",
                               str(example("lde")), "--as-of", str(AS_OF), "--rules-dir", str(RULES)],
                              stdout=full, stderr=subprocess.PIPE, env=env, timeout=120)
    stderr = proc.stderr.decode()
    assert proc.returncode == 1 and "Traceback" not in stderr, stderr
    assert "logged as record 1" in stderr and "writing it to standard output failed" in stderr
    assert "rules show 1" in stderr and records(log) == 1


def test_ids_and_names_cannot_forge_table_rows(tmp_path):
    facts = json.loads(json.dumps({"applicants": [
        {"id": "A\n1  FORGED  x  Antwerpen  1  2  99", "name": "\x1b[2Jcleared", "province": "Antwerpen",
         "contingent_fte": 3, "requested_fte": 2, "realisation_rate": 0.95, "merged_on": None,
         "assessment": {"guidance_actions": 2, "transition_vision": 2, "realised_transition": 2,
                        "regular_cooperation": 2}}]}))
    path = tmp_path / "call.json"
    path.write_text(json.dumps(facts))
    result = rules("evaluate", "lde", path, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log")
    # an id is what people read and type: a line break in one is refused at its place (issue 18)
    assert result.exit_code == 1 and "U+000A" in result.output and "applicants[0].id" in result.output
    assert "\x1b" not in result.output
    facts["applicants"][0]["id"] = "A-1"
    path.write_text(json.dumps(facts))
    result = rules("evaluate", "lde", path, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log")
    assert result.exit_code == 0
    assert "\x1b" not in result.stdout and "\\x1b[2J" in result.stdout  # a name is escaped (and cut to fit)


def test_report_fill_sums_exactly_beyond_28_digits(tmp_path):
    # 999999999999999.50000000000000000001 needs 35 digits: a 28-digit context rounds it
    values = ["999999999999999", "0.5", "0.00000000000000000001"]
    quarters = [{"quarter": "2017Q4", "contingent_fte": Decimal(v), "filled_fte": Decimal("0.25")} for v in values]
    data = {"applicants": [{"id": f"W{i}", "quarters": [q]} for i, q in enumerate(quarters)]}
    path = tmp_path / "call.json"
    from rules_engine.decide.decision import to_json

    path.write_text(to_json(data))
    result = rules("report", "fill", path, "--quarter", "2017Q4", "--format", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout, parse_float=Decimal)
    expected = sum(Fraction(v) for v in values)  # independent: exact rational arithmetic
    assert Fraction(report["contingent_fte"]) == expected
    assert Fraction(report["filled_fte"]) == Fraction(3, 4)
    assert Fraction(report["vacant_fte"]) == expected - Fraction(3, 4)


def test_csv_never_carries_a_formula(tmp_path):
    import csv
    import io

    payload = "=cmd|' /C calc'!A0"
    facts = {"applicants": [
        {"id": "@A", "name": payload, "province": "Antwerpen", "contingent_fte": 3, "requested_fte": 2,
         "realisation_rate": 0.95, "merged_on": None,
         "assessment": {"guidance_actions": 2, "transition_vision": 2, "realised_transition": 2,
                        "regular_cooperation": 2}}]}
    path = tmp_path / "call.json"
    path.write_text(json.dumps(facts))
    result = rules("evaluate", "lde", path, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log", "--format", "csv")
    assert result.exit_code == 0
    row = list(csv.DictReader(io.StringIO(result.stdout)))[0]
    assert row["name"] == "'" + payload and row["id"] == "'@A"
    assert row["requested_fte"] == "2"  # numbers are not touched


def test_the_same_error_at_many_places_is_printed_once_with_a_count(tmp_path):
    from ruamel.yaml import YAML

    data = YAML(typ="safe").load(example("lde").read_text(encoding="utf-8"))
    for applicant in data["applicants"]:
        applicant["requested_fte"] = 0  # the same mistake in all 226 applicants
    path = tmp_path / "call.json"
    path.write_text(json.dumps(data, default=str))
    result = rules("evaluate", "lde", path, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log")
    lines = result.stderr.splitlines()
    assert result.exit_code == 1 and len(lines) < 20, len(lines)
    assert sum("requested_fte: must be >= 1, not 0" in line for line in lines) == 10
    assert "... and 216 more with the same problem at applicants[].requested_fte" in result.stderr
    assert lines[-1] == "226 problems found"


def test_csv_for_tools_and_for_a_flemish_excel(tmp_path):
    import csv
    import io

    args = ("evaluate", "sheltered-workshops@2019.1", example("sheltered-workshops"), "--as-of", "2019-06-01",
            "--rules-dir", RULES, "--no-log", "--format")
    plain = rules(*args, "csv")
    excel = CliRunner().invoke(main, [str(a) for a in args] + ["csv-excel"])
    assert plain.exit_code == 0 and excel.exit_code == 0
    tools = list(csv.DictReader(io.StringIO(plain.stdout)))
    assert tools[0]["version"] == "2019.1" and tools[0]["as_of"] == "2019-06-01" and len(tools[0]["decision_id"]) == 64
    raw = excel.stdout_bytes
    assert raw.startswith("\ufeff".encode("utf-8")) and b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    halves = [r for r in rows if r["allocated_fte"].endswith(",5")]  # the 2019 draft hands out half FTE
    assert halves and all("." not in r["allocated_fte"] for r in rows)
    assert [r["allocated_fte"].replace(",", ".") for r in rows] == [r["allocated_fte"] for r in tools]


def test_a_long_name_is_cut_with_an_ellipsis(tmp_path):
    facts = {"applicants": [
        {"id": "A", "name": "Lokale diensteneconomie Sint-Niklaas en omstreken vzw", "province": "Antwerpen",
         "contingent_fte": 3, "requested_fte": 2, "realisation_rate": 0.95, "merged_on": None,
         "assessment": {"guidance_actions": 2, "transition_vision": 2, "realised_transition": 2,
                        "regular_cooperation": 2}}]}
    path = tmp_path / "call.json"
    path.write_text(json.dumps(facts))
    result = CliRunner().invoke(main, ["evaluate", "lde", str(path), "--as-of", AS_OF, "--rules-dir", str(RULES),
                                       "--no-log"], env={"COLUMNS": "200"})
    assert "Lokale diensteneconomie Sint-Ni…" in result.stdout  # 32 characters at most, even with room


def _lde_call(count: int) -> dict:
    data = json.loads(json.dumps(__import__("yaml").safe_load(open(example("lde"), encoding="utf-8")), default=str))
    first = data["applicants"][0]
    data["applicants"] = [{**first, "id": f"LDE-{n:05d}"} for n in range(count)]
    return data


def test_the_applicant_limit_is_a_setting_checked_before_the_facts_are_validated(tmp_path, monkeypatch):
    """Issue 24, item 4: the operator's limit on applicants in one call (RULES_MAX_APPLICANTS), named in the
    message; the facts are refused before any is checked (the first applicant's bad value is not reported)."""
    facts = tmp_path / "call.json"
    data = _lde_call(30)
    data["applicants"][0]["requested_fte"] = "drie"
    facts.write_text(json.dumps(data), encoding="utf-8")
    common = ("evaluate", "lde", facts, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log")
    monkeypatch.setenv("RULES_MAX_APPLICANTS", "25")
    refused = rules(*common)
    assert refused.exit_code == 1
    column = facts.read_text(encoding="utf-8").index('"applicants"') + 1  # one line of JSON: the key's place
    assert refused.stderr.startswith(f"{facts}:1:{column}: applicants: 30 applicants, over the limit of 25 a call "
                                     "(RULES_MAX_APPLICANTS"), refused.stderr
    assert "drie" not in refused.stderr and "Traceback" not in refused.stderr
    monkeypatch.setenv("RULES_MAX_APPLICANTS", "30")
    assert "requested_fte" in rules(*common).stderr  # at the limit: read and checked
    for mistyped in ("many", "0", "-5", "1e6", "1" + "0" * 18):
        monkeypatch.setenv("RULES_MAX_APPLICANTS", mistyped)
        wrong = rules(*common)
        assert wrong.exit_code == 1 and "RULES_MAX_APPLICANTS" in wrong.stderr and "a whole number" in wrong.stderr
    monkeypatch.setenv("RULES_MAX_APPLICANTS", "1_000")
    assert "requested_fte" in rules(*common).stderr  # 1,000 written as Python writes it


def test_the_size_limit_of_json_facts_is_a_setting(tmp_path, monkeypatch):
    facts = tmp_path / "call.json"
    facts.write_text(json.dumps(_lde_call(5)), encoding="utf-8")
    common = ("evaluate", "lde", facts, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log", "--format", "json")
    monkeypatch.setenv("RULES_MAX_JSON_BYTES", str(facts.stat().st_size - 1))
    refused = rules(*common)
    assert refused.exit_code == 1 and f"over the limit of {facts.stat().st_size - 1:,} bytes" in refused.stderr
    assert "RULES_MAX_JSON_BYTES" in refused.stderr
    monkeypatch.setenv("RULES_MAX_JSON_BYTES", str(facts.stat().st_size))
    decided = rules(*common)
    assert decided.exit_code == 0 and json.loads(decided.stdout)["applicants"] == 5


def test_the_service_takes_the_applicant_limit_too(tmp_path, monkeypatch):
    from fastapi.testclient import TestClient

    from service.app import Settings, create_app

    monkeypatch.setenv("RULES_MAX_APPLICANTS", "3")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(tmp_path / "log.sqlite"))))
    from helpers import approver

    secret = approver(tmp_path / "log.sqlite", "ops", role="evaluator")
    response = client.post("/v1/rulesets/lde/evaluate?as_of=2018-06-20", content=json.dumps(_lde_call(4)),
                           headers={"Authorization": f"Bearer {secret}", "content-type": "application/json"})
    assert response.status_code == 422 and "RULES_MAX_APPLICANTS" in response.text, response.text
    assert response.json()["problems"][0]["pointer"] == "/applicants"
    assert records(tmp_path / "log.sqlite") == 0


def test_a_mistyped_limit_stops_the_service_at_start(monkeypatch):
    import pytest

    from rules_engine.errors import RulesError
    from service.app import Settings, create_app

    monkeypatch.setenv("RULES_MAX_JSON_BYTES", "1GB")
    with pytest.raises(RulesError, match="RULES_MAX_JSON_BYTES='1GB': give a whole number"):
        create_app(Settings(rules_dir=str(RULES), log="unused.sqlite"))


def test_a_logged_decision_is_written_as_the_log_stores_it(tmp_path):
    log, out = tmp_path / "log.sqlite", tmp_path / "out.json"
    result = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--log", log,
                   "-o", out, "--format", "json")
    assert result.exit_code == 0
    db = sqlite3.connect(str(log))
    encoding, stored = db.execute("SELECT output_encoding, output FROM records WHERE seq = 1").fetchone()
    db.close()
    assert encoding == "zlib" and zlib.decompress(stored) == out.read_bytes()
    assert json.loads(out.read_bytes())["decisions"]  # the whole decision, not a part of it
