"""Backtesting (issue 21, item 5): a changed rule re-run on every logged official call of a period."""
from __future__ import annotations

import json

from click.testing import CliRunner

from rules_cli.cli import main

from conftest import RULES
from helpers import workshop, write_facts

REGIONS = {"Antwerpen": {"work_disabled": 1}, "Limburg": {"work_disabled": 1}}


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def calls(tmp_path):
    """Three calls; in each, a workshop at 93% or 91% that a threshold of 0.90 lets in and 0.95 keeps out."""
    return [write_facts(tmp_path / "one.json", [workshop("A", "Antwerpen", 100, 4), workshop("B", "Limburg", 50, 2,
                                                                                            rate="0.93")], REGIONS),
            write_facts(tmp_path / "two.json", [workshop("C", "Antwerpen", 80, 3, rate="0.91"),
                                                workshop("D", "Limburg", 40, 5)], REGIONS),
            write_facts(tmp_path / "three.json", [workshop("E", "Antwerpen", 60, 2), workshop("F", "Limburg", 30, 1)],
                        REGIONS)]


def logged(tmp_path):
    log = tmp_path / "log.sqlite"
    for facts in calls(tmp_path):
        result = invoke("evaluate", "sheltered-workshops", facts, "--as-of", "2018-06-20", "--rules-dir", RULES,
                        "--log", log)
        assert result.exit_code == 0, result.output
    simulated = invoke("evaluate", "sheltered-workshops", calls(tmp_path)[0], "--as-of", "2018-06-20", "--rules-dir",
                       RULES, "--log", log, "--simulate")
    assert simulated.exit_code == 0  # a simulation: not an official call, never re-run
    return log


def test_the_official_calls_re_run_as_three_diffs_would(tmp_path):
    log = logged(tmp_path)
    result = invoke("diff", "sheltered-workshops", "--set", "min_fill_rate=0.90", "--from-log", "--log", log,
                    "--rules-dir", RULES, "--format", "json")
    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)["calls"]
    assert [run["record"] for run in runs] == [1, 2, 3]
    for run, facts in zip(runs, calls(tmp_path)):
        alone = invoke("diff", "sheltered-workshops@2018.1", facts, "--set", "min_fill_rate=0.90", "--as-of",
                       "2018-06-20", "--rules-dir", RULES, "--format", "json")
        expected = json.loads(alone.stdout)
        assert run["changed"] == expected["changed"] and run["regions"] == expected["regions"]
        assert run["old"]["allocated_fte"] == expected["old"]["allocated_fte"]
        assert run["new"]["allocated_fte"] == expected["new"]["allocated_fte"]
    # by hand: B (93%) and C (91%) come in at 0.90; the third call has no one between 90% and 95%
    assert [c["id"] for c in runs[0]["changed"]] == ["B"] and runs[0]["changed"][0]["after"]["eligible"] is True
    assert [c["id"] for c in runs[1]["changed"]] == ["C"] and runs[2]["changed"] == []


def test_a_period_and_the_table(tmp_path):
    log = logged(tmp_path)
    none = invoke("diff", "sheltered-workshops", "--set", "min_fill_rate=0.90", "--from-log", "--log", log,
                  "--rules-dir", RULES, "--since", "2019-01-01", "--format", "json")
    assert none.exit_code == 0 and json.loads(none.stdout)["calls"] == []
    table = invoke("diff", "sheltered-workshops", "--set", "min_fill_rate=0.90", "--from-log", "--log", log,
                   "--rules-dir", RULES, "--until", "2018-12-31")
    assert table.exit_code == 0, table.output
    text = " ".join(table.stdout.split())
    assert "record 1" in text and "record 2" in text and "record 3" in text and "3 official calls" in text
    wrong = invoke("diff", "sheltered-workshops", "facts.json", "extra.json", "--from-log", "--log", log)
    assert wrong.exit_code == 2 and "--from-log" in wrong.output


def test_a_tampered_call_is_not_re_run(tmp_path):
    import sqlite3

    log = logged(tmp_path)
    with sqlite3.connect(log) as db:
        db.execute("UPDATE records SET allocated_fte = '99' WHERE seq = 2")
    result = invoke("diff", "sheltered-workshops", "--set", "min_fill_rate=0.90", "--from-log", "--log", log,
                    "--rules-dir", RULES)
    assert result.exit_code == 1 and "record 2" in result.output and "Traceback" not in result.output
