"""Issue 12: drafts never decide, four-eyes approval of the exact text, official decisions apart from
simulations, who and why in the chain, effective periods that hold, coverage that cannot be faked."""
from __future__ import annotations

import json
import shutil
import sqlite3

import pytest
from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.record.audit import DecisionLog

from conftest import AS_OF, RULES, example
from helpers import approver

SHELTERED = example("sheltered-workshops")


def rules(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


@pytest.fixture
def rules_dir(tmp_path):
    folder = tmp_path / "rules"
    shutil.copytree(RULES, folder)
    return folder


def evaluate(log, *args, rules_dir=RULES, facts=SHELTERED, ruleset="sheltered-workshops"):
    return rules("evaluate", ruleset, facts, "--rules-dir", rules_dir, "--log", log, "--format", "json", *args)


def test_a_draft_never_makes_an_official_decision(tmp_path):
    log = tmp_path / "log.sqlite"
    today = evaluate(log, "--as-of", "2026-11-27")
    assert today.exit_code == 1
    assert ("no published version of 'sheltered-workshops' is in force on 2026-11-27; 2019.1 (from 2019-04-01) is a "
            "draft: evaluate it with --simulate") in today.stderr
    assert evaluate(log, "--as-of", "2026-11-27", ruleset="sheltered-workshops@2019.1").exit_code == 1
    simulated = evaluate(log, "--as-of", "2026-11-27", "--simulate")
    assert simulated.exit_code == 0 and json.loads(simulated.stdout)["kind"] == "simulation"
    assert "2019.1 is a draft" in simulated.stderr
    dry = evaluate(log, "--as-of", "2026-11-27", "--no-log")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["kind"] == "dry-run"
    assert json.loads(dry.stdout)["dry_run"]["would_be"] == "simulation"  # a draft
    official = evaluate(log, "--as-of", str(AS_OF))
    assert official.exit_code == 0 and json.loads(official.stdout)["kind"] == "official"
    listing = rules("log", "--log", log).stdout
    assert "official" in listing and "simulation" not in listing  # simulations only with --all
    assert "simulation" in rules("log", "--all", "--log", log).stdout


def test_an_official_decision_needs_the_version_in_force(tmp_path):
    log = tmp_path / "log.sqlite"
    late = evaluate(log, "--as-of", "2019-06-01", ruleset="sheltered-workshops@2018.1")
    assert late.exit_code == 1 and "not in force on 2019-06-01" in late.stderr
    simulated = evaluate(log, "--as-of", "2019-06-01", "--simulate", ruleset="sheltered-workshops@2018.1")
    assert simulated.exit_code == 0 and "is not in force on 2019-06-01" in simulated.stderr


def test_overrides_make_a_simulation_and_explain_names_the_published_value(tmp_path):
    log = tmp_path / "log.sqlite"
    result = evaluate(log, "--as-of", AS_OF, "--set", "min_realisation_rate=0.93", "--as", "alice",
                      "--reason", "what if the threshold rises", ruleset="lde", facts=example("lde"))
    assert result.exit_code == 0 and json.loads(result.stdout)["kind"] == "simulation"
    text = rules("explain", "1", "--log", log).stdout.splitlines()
    assert text[1].strip() == "Dit is een simulatie, geen officiële beslissing."
    assert "Parameter min_realisation_rate: 0.93 in deze simulatie (gepubliceerde waarde: 0.9)." in \
        " ".join(" ".join(text[2:4]).split())  # wrapped at 80 columns
    assert any("Aangevraagd door: alice." in line for line in text)
    assert any("Reden: what if the threshold rises" in line for line in text)
    english = " ".join(rules("explain", "1", "--lang", "en", "--log", log).stdout.split())  # unwrapped
    assert "This is a simulation, not an official decision." in english and "published value: 0.9" in english
    shown = rules("show", "1", "--log", log)
    assert "(simulation)" in shown.stderr and "requested by alice (what if the threshold rises)" in shown.stderr


def test_four_eyes_approval_of_the_exact_text(tmp_path, rules_dir):
    log = tmp_path / "log.sqlite"
    alice, bob = approver(log, "alice"), approver(log, "bob")
    need = ("--require-approvals", "2", "--as-of", AS_OF, "--as", "carol")
    assert rules("approve", "sheltered-workshops@2018.1", "--rules-dir", rules_dir, "--token", alice, "--log", log).exit_code == 0
    refused = evaluate(log, *need, rules_dir=rules_dir)
    assert refused.exit_code == 1 and "has 1 approval(s)" in refused.stderr and "needs 2" in refused.stderr
    assert rules("approve", "sheltered-workshops@2018.1", "--rules-dir", rules_dir, "--token", alice, "--log", log).exit_code == 0
    assert evaluate(log, *need, rules_dir=rules_dir).exit_code == 1  # the same person twice counts once
    assert rules("approve", "sheltered-workshops@2018.1", "--rules-dir", rules_dir, "--token", bob, "--note", "ok",
                 "--log", log).exit_code == 0
    asked_by_bob = evaluate(log, "--require-approvals", "2", "--as-of", AS_OF, "--as", "bob", rules_dir=rules_dir)
    assert asked_by_bob.exit_code == 1  # never counting the one who asks
    accepted = evaluate(log, *need, rules_dir=rules_dir)
    assert accepted.exit_code == 0, accepted.output
    record = json.loads(accepted.stdout)
    assert [a["by"] for a in record["approvals"]] == ["alice", "bob"]
    assert record["approvals"][0]["seq"] == 1 and record["approvals"][1]["seq"] == 3
    explained = rules("explain", "4", "--log", log).stdout
    assert "Goedgekeurd door: alice (record 1" in explained and "bob (record 3" in explained
    assert "4 identical" in rules("replay", "--all", "--log", log).stdout  # approvals are recomputed from the log
    path = rules_dir / "sheltered-workshops" / "sheltered-workshops-2018.yaml"
    path.write_bytes(path.read_bytes().replace(b"Beschutte", b"beschutte", 1))  # one byte
    assert evaluate(log, *need, rules_dir=rules_dir).exit_code == 1
    approvals = rules("approvals", "--log", log).stdout
    assert approvals.count("sheltered-workshops") == 3 and "bob" in approvals


def test_an_edited_approval_is_caught(tmp_path):
    log = tmp_path / "log.sqlite"
    assert rules("approve", "lde@2018.1", "--rules-dir", RULES, "--token", approver(log, "alice"), "--log", log).exit_code == 0
    head = rules("audit", "head", "--log", log).stdout.strip()
    db = sqlite3.connect(str(log))
    db.execute("""UPDATE records SET extra = replace(extra, '"alice"', '"mallory"') WHERE seq = 1""")
    db.commit()
    db.close()
    verify = rules("audit", "verify", "--head", head, "--log", log)
    assert verify.exit_code == 1 and "record 1" in verify.stderr
    assert evaluate(log, "--require-approvals", "1", "--as-of", AS_OF, ruleset="lde", facts=example("lde")).exit_code == 1


def test_deleting_the_tests_of_a_published_ruleset_fails_coverage(rules_dir):
    assert rules("test", "--rules-dir", rules_dir, "--coverage").exit_code == 0
    shutil.rmtree(rules_dir / "social-workshops" / "tests")
    result = rules("test", "--rules-dir", rules_dir, "--coverage")
    assert result.exit_code == 1
    assert "social-workshops 2018.1 is published and has no test case" in result.stdout
    phased = rules("test", "--rules-dir", rules_dir, "--coverage", "--min-coverage", "50")
    assert phased.exit_code == 1  # a published version without any test never passes


def test_lint_flags_a_gap_and_a_published_version_whose_tests_fail(rules_dir):
    later = rules_dir / "sheltered-workshops" / "sheltered-workshops-2019.yaml"
    later.write_text(later.read_text(encoding="utf-8").replace("from: 2019-04-01", "from: 2019-04-02"), encoding="utf-8")
    findings = rules("lint", rules_dir)
    assert findings.exit_code == 1 and "gap: no version of 'sheltered-workshops' is in force for 1 day(s)" in findings.stdout
    published = rules_dir / "sheltered-workshops" / "sheltered-workshops-2018.yaml"
    published.write_text(published.read_text(encoding="utf-8").replace("value: 0.95", "value: 0.96"), encoding="utf-8")
    findings = rules("lint", rules_dir)
    assert "published-tests-fail: sheltered-workshops 2018.1 is published but its tests fail" in findings.stdout


def test_records_from_before_are_official_and_replay_identical(tmp_path):
    from conftest import ROOT

    log = tmp_path / "format1.sqlite"
    shutil.copy(ROOT / "tests" / "fixtures" / "format1.sqlite", log)
    with DecisionLog(log, create=False) as opened:
        assert [e.kind for e in opened.entries()] == ["official"] * 3
    assert "3 identical, 0 different, 0 failed" in rules("replay", "--all", "--log", log).stdout
    assert len(rules("log", "--log", log).stdout.splitlines()) == 2 + 3


def test_a_dry_run_goes_on_when_the_log_cannot_be_read(tmp_path):
    bad = tmp_path / "bad.sqlite"
    bad.write_text("not a database")
    dry = evaluate(bad, "--as-of", AS_OF, "--no-log")
    assert dry.exit_code == 0 and "approvals are not read for this dry run" in dry.stderr
    assert evaluate(bad, "--as-of", AS_OF).exit_code == 1  # a decision to be logged needs the log
