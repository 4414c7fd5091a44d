"""The `rules` command end to end, through click's CliRunner."""
from __future__ import annotations

import json
import shutil
import zlib
from decimal import Decimal

import pytest
from click.testing import CliRunner

from rules_cli.cli import main

from conftest import RULES, RULESETS, example

BROKEN = RULES.parent / "tests" / "broken"


def invoke(runner, *args):
    return runner.invoke(main, [str(a) for a in args], catch_exceptions=False)


def evaluate(runner, ruleset, facts=None, *extra):
    return invoke(runner, "evaluate", ruleset, facts or example(ruleset), "--as-of", "2018-06-20", "--rules-dir", RULES,
                  *extra)


def test_validate_ok_and_bad(runner):
    ok = invoke(runner, "validate", RULES)
    assert ok.exit_code == 0 and ok.output.strip() == "7 rule file(s) valid: lde, maatwerk-redistribution, sheltered-workshops, social-workshops"
    bad = invoke(runner, "validate", BROKEN / "rules" / "unknown-field.yaml", BROKEN / "rules" / "bad-order.yaml")
    assert bad.exit_code == 1
    lines = bad.stderr.splitlines()
    assert lines[0].startswith(str(BROKEN / "rules" / "bad-order.yaml") + ":")  # sorted by file
    assert "did you mean 'realisation_rate'" in bad.stderr and "Traceback" not in bad.output


def test_usage_errors_are_exit_2(runner):
    assert invoke(runner, "evaluate", "lde").exit_code == 2
    assert invoke(runner, "evaluate", "lde", example("lde"), "--as-of", "someday").exit_code == 2


@pytest.mark.parametrize("ruleset", RULESETS)
def test_evaluate_table_json_csv(runner, ruleset):
    table = evaluate(runner, ruleset)
    assert table.exit_code == 0 and "logged as record 1" in table.stderr
    assert "allocated" in table.stdout and "unallocated 0" in table.stdout
    as_json = evaluate(runner, ruleset, None, "--format", "json")
    record = json.loads(as_json.stdout, parse_float=Decimal)
    assert set(record) >= {"decision_id", "ruleset", "as_of", "budget_fte", "allocated_fte", "unallocated_fte",
                           "regions", "decisions"}
    assert set(record["decisions"][0]) >= {"id", "eligible", "tier", "rank", "requested_fte", "allocated_fte", "reasons"}
    as_csv = evaluate(runner, ruleset, None, "--format", "csv", "--no-log")
    assert as_csv.stdout.splitlines()[0].startswith("rank,id,name")
    assert len(as_csv.stdout.splitlines()) == len(record["decisions"]) + 1


def test_bad_facts_exit_1_without_traceback(runner, tmp_path):
    result = evaluate(runner, "lde", BROKEN / "facts" / "requested-zero.yaml")
    assert result.exit_code == 1
    assert "applicants[1] (id A-2).requested_fte: must be >= 1" in result.stderr
    assert "Traceback" not in result.output
    garbage = tmp_path / "garbage.json"
    garbage.write_bytes(bytes(range(256)) * 10)
    result = evaluate(runner, "lde", garbage)
    assert result.exit_code == 1 and "binary data" in result.stderr


def test_unknown_ruleset_and_no_version_in_force(runner):
    result = evaluate(runner, "ldee")
    assert result.exit_code == 1 and "did you mean 'lde'" in result.stderr
    result = invoke(runner, "evaluate", "lde", example("lde"), "--as-of", "2018-06-14", "--rules-dir", RULES)
    assert result.exit_code == 1 and "no version of 'lde' is in force on 2018-06-14" in result.stderr


def test_set_overrides_a_parameter_and_is_recorded(runner):
    base = json.loads(evaluate(runner, "sheltered-workshops", None, "--format", "json", "--no-log").stdout)
    strict = json.loads(evaluate(runner, "sheltered-workshops", None, "--format", "json", "--set",
                                 "min_fill_rate=0.97").stdout)
    assert strict["overrides"] == {"min_fill_rate": 0.97} and strict["parameters"]["min_fill_rate"] == 0.97
    assert strict["eligible"] < base["eligible"] and strict["decision_id"] != base["decision_id"]
    unknown = evaluate(runner, "sheltered-workshops", None, "--set", "min_fil_rate=0.9")
    assert unknown.exit_code == 1 and "did you mean 'min_fill_rate'" in unknown.stderr
    wrong = evaluate(runner, "sheltered-workshops", None, "--set", "min_fill_rate=high")
    assert wrong.exit_code == 1 and "needs a number" in wrong.stderr


def test_log_show_replay_explain_verify(runner, tmp_path):
    for ruleset in RULESETS:
        assert evaluate(runner, ruleset, None, "--format", "json").exit_code == 0
    listing = invoke(runner, "log")
    assert listing.exit_code == 0 and len(listing.stdout.splitlines()) == 2 + 3
    shown = invoke(runner, "show", "2")
    assert json.loads(shown.stdout)["ruleset"]["id"] == "sheltered-workshops"
    replay = invoke(runner, "replay", "--all")
    assert replay.exit_code == 0 and "3 identical, 0 different, 0 failed, of 3 records" in replay.stdout
    head = invoke(runner, "audit", "head").stdout.strip()
    verify = invoke(runner, "audit", "verify", "--head", head)
    assert verify.exit_code == 0 and verify.stdout.startswith("ok: 3 records")
    explain = invoke(runner, "explain", "3", "SW-001", "--for", "auditor")
    assert explain.exit_code == 0 and "Motivering van beslissing" in explain.stdout
    english = invoke(runner, "explain", "3", "SW-001", "--lang", "en", "--format", "json")
    assert json.loads(english.stdout)["language"] == "en"
    missing = invoke(runner, "explain", "3", "SW-0001")
    assert missing.exit_code == 1 and "did you mean 'SW-001'" in missing.stderr


def test_replay_after_the_rules_folder_is_deleted(runner, tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    facts = tmp_path / "facts.yaml"
    shutil.copy(example("lde"), facts)
    result = invoke(runner, "evaluate", "lde", facts, "--as-of", "2018-06-20", "--rules-dir", rules)
    assert result.exit_code == 0
    shutil.rmtree(rules)
    facts.unlink()
    replay = invoke(runner, "replay", "1")
    assert replay.exit_code == 0 and "identical, byte for byte" in replay.stdout


def test_replay_reports_a_difference(runner, log_path):
    """A rewrite that recomputes the record's hash passes the record check; replay still finds it out."""
    import hashlib
    import sqlite3

    from rules_engine.record.audit import DecisionLog, record_hash

    assert evaluate(runner, "lde").exit_code == 0
    head = invoke(runner, "audit", "head").stdout.strip()
    with DecisionLog(log_path, create=False) as log:
        entry = log.get("1")
    record = json.loads(entry.text)
    record["decisions"][0]["allocated_fte"] = 0
    text = (json.dumps(record, indent=2) + "\n").encode()
    fields = dict(entry.hashed_fields(), output_sha256=hashlib.sha256(text).hexdigest())
    db = sqlite3.connect(str(log_path))
    db.execute("UPDATE records SET output = ?, output_sha256 = ?, hash = ?",
               (zlib.compress(text), fields["output_sha256"], record_hash(fields)))
    db.commit()
    db.close()
    replay = invoke(runner, "replay", "1")
    assert replay.exit_code == 1 and "DIFFERENT (same engine version)" in replay.stdout
    assert f"{record['decisions'][0]['id']}: allocated_fte 0 ->" in replay.stdout
    assert invoke(runner, "audit", "verify").exit_code == 0  # a rewrite of the whole history...
    assert invoke(runner, "audit", "verify", "--head", head).exit_code == 1  # ...is caught by the head


def test_replay_refuses_a_record_that_does_not_check_out(runner, log_path):
    """Finding 8: stored facts and output changed together; replay and show refuse to trust them."""
    import sqlite3

    assert evaluate(runner, "lde").exit_code == 0
    db = sqlite3.connect(str(log_path))
    output = db.execute("SELECT output FROM records").fetchone()[0]
    record = json.loads(zlib.decompress(output))
    record["decisions"][0]["allocated_fte"] = 0
    db.execute("UPDATE records SET output = ?", (zlib.compress((json.dumps(record, indent=2) + "\n").encode()),))
    db.execute("UPDATE blobs SET content = ? WHERE kind = 'facts'", (zlib.compress(b"applicants: []\n"),))
    db.commit()
    db.close()
    for args in (("replay", "1"), ("show", "1"), ("explain", "1"), ("explain", "1", record["decisions"][0]["id"])):
        result = invoke(runner, *args)
        assert result.exit_code == 1, args
        assert "does not match its sha256" in result.output, (args, result.output)
        assert "identical" not in result.stdout and "allocated_fte" not in result.stdout
    replay_all = invoke(runner, "replay", "--all")
    assert replay_all.exit_code == 1 and "0 identical, 0 different, 1 failed, of 1 records" in replay_all.stdout


def test_log_errors_are_clear(runner, tmp_path):
    assert "no decision log here" in invoke(runner, "log", "--log", tmp_path / "none.sqlite").stderr
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not sqlite")
    result = invoke(runner, "audit", "verify", "--log", bad)
    assert result.exit_code == 1 and "not a decision log" in result.stderr


def test_versions_and_fill_report(runner):
    versions = invoke(runner, "versions", "lde", "--rules-dir", RULES)
    assert versions.exit_code == 0 and "2018.1" in versions.stdout
    report = invoke(runner, "report", "fill", example("sheltered-workshops"), "--quarter", "2017Q4", "--format", "json")
    data = json.loads(report.stdout, parse_float=Decimal)
    assert data["contingent_fte"] == Decimal("14507.3") and data["filled_fte"] == Decimal("13899.29")
    assert data["vacant_fte"] == Decimal("608.01")
    social = json.loads(invoke(runner, "report", "fill", example("social-workshops"), "--quarter", "2017Q4",
                               "--format", "json").stdout, parse_float=Decimal)
    assert social["contingent_fte"] == 3969 and social["filled_fte"] == Decimal("3905.32")


def test_log_as_json_has_full_ids_and_numbers(runner, log_path):
    assert evaluate(runner, "lde").exit_code == 0
    entries = json.loads(invoke(runner, "log", "--format", "json").stdout)
    assert len(entries[0]["decision_id"]) == 64 and entries[0]["allocated_fte"] == 155
    assert entries[0]["kind"] == "official"


def test_a_broken_test_case_is_reported_and_the_rest_still_run(tmp_path):
    """Issue 20, finding 2: a case that could not be run stopped 'rules test' for all cases, exit 3."""
    rules_dir = tmp_path / "rules"
    shutil.copytree(RULES / "lde", rules_dir / "lde")
    path = rules_dir / "lde" / "tests" / "lde-2018.yaml"
    text = path.read_text(encoding="utf-8")
    broken = ("  - name: a case for a version that does not exist\n    version: '1999.9'\n    applicants: []\n"
              "    expect: {totals: {allocated_fte: 0}}\n")
    path.write_text(text.replace("cases:\n", "cases:\n" + broken, 1), encoding="utf-8")
    result = CliRunner().invoke(main, ["test", "--rules-dir", str(rules_dir)])
    assert result.exit_code == 1 and "internal error" not in result.output
    assert "a case for a version that does not exist [lde] ... ERROR" in result.output
    assert "has no version 1999.9" in result.output
    counted = result.output.strip().splitlines()[-1]
    total = int(counted.split()[0]) + int(counted.split()[2])
    assert counted.endswith("1 failed") and total > 3  # every other case ran


def test_serve_reads_its_settings_from_a_toml_file_and_the_command_line_wins(tmp_path, monkeypatch):
    # Issue 23, item 1: a configuration file for the service.
    import os

    import uvicorn

    monkeypatch.setattr(os, "environ", os.environ.copy())  # serve hands its settings to the workers this way
    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: seen.update(kwargs))
    config = tmp_path / "rules.toml"
    config.write_text('port = 18999\nworkers = 3\ntime-limit = 12.5\nlog = "%s"\n' % (tmp_path / "x.sqlite"),
                      encoding="utf-8")
    result = CliRunner().invoke(main, ["serve", "--config", str(config), "--workers", "2"])
    assert result.exit_code == 0, result.output
    assert seen["port"] == 18999 and seen["workers"] == 2 and seen["access_log"] is False
    assert os.environ["RULES_SERVE_TIME_LIMIT"] == "12.5" and os.environ["RULES_LOG"].endswith("x.sqlite")
    config.write_text("prot = 1\n", encoding="utf-8")
    wrong = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert wrong.exit_code == 1 and f"{config}: unknown setting 'prot' (did you mean 'port'?)" in wrong.output
    config.write_text("port = \n", encoding="utf-8")
    broken = CliRunner().invoke(main, ["serve", "--config", str(config)])
    assert broken.exit_code == 1 and f"{config}:1:8: not TOML: Invalid value" in broken.output


def test_a_reader_that_goes_away_stops_the_command_quietly(monkeypatch):
    # `rules import rules | head -3` ended in "internal error: BrokenPipeError" once head had its lines.
    import click

    def gone(*_args, **_kwargs):
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(click, "echo", gone)
    result = CliRunner().invoke(main, ["versions", "lde", "--rules-dir", str(RULES)])
    assert result.exit_code == 141 and "internal error" not in result.output
