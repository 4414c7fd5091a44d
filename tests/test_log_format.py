"""Issue 24: every official decision asks for the approvals of its text. Log format 5 finds them through an index
that holds approvals only, so the lookup does as much work on a log of many decisions of that text as on a log of
a few; a log of format 4 is upgraded by the next command that writes, and keeps its records, bytes and approvals.

The work is counted in SQLite's own virtual-machine steps (a progress handler called at every step), not timed.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine import api
from rules_engine.decide.decision import to_json_bytes
from rules_engine.record import audit
from rules_engine.record.audit import DecisionLog

from conftest import AS_OF, RULES, example

FIXTURES = Path(__file__).parent / "fixtures"
SHELTERED = "sheltered-workshops"
ONE_WORKSHOP = b"""regions: {Antwerpen: {work_disabled: 1}}
applicants:
  - id: W1
    name: Werkplaats Een
    province: Antwerpen
    contingent_fte: 10
    requested_fte: 2
    quarters:
      - {quarter: 2017Q1, contingent_fte: 10, filled_fte: 10}
      - {quarter: 2017Q2, contingent_fte: 10, filled_fte: 10}
      - {quarter: 2017Q3, contingent_fte: 10, filled_fte: 10}
      - {quarter: 2017Q4, contingent_fte: 10, filled_fte: 10}
"""


def rules(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def decisions(log: DecisionLog, count: int) -> None:
    """``count`` decisions of the same text as the approvals (what a busy ruleset's log holds)."""
    ruleset, record, facts = api.evaluate(SHELTERED, ONE_WORKSHOP, AS_OF, RULES, label="<one>", fmt="yaml")
    output = to_json_bytes(record) + b"\n"
    for _ in range(count):
        api.record_decision(log, ruleset, record, output, facts, "carol")


def counted(log: DecisionLog, work) -> tuple[int, object]:
    """SQLite's virtual-machine steps ``work(log)`` takes, and what it gives."""
    count = [0]

    def step() -> int:
        count[0] += 1
        return 0
    log.db.set_progress_handler(step, 1)
    try:
        found = work(log)
    finally:
        log.db.set_progress_handler(None, 1)
    return count[0], found


def steps(log: DecisionLog, ruleset) -> tuple[int, list]:
    """The steps the approvals lookup of ``ruleset``'s text takes, and what it finds."""
    number, found = counted(log, lambda opened: api.approvals_for(opened, ruleset, exclude="carol"))
    return number, [(a["by"], a["seq"]) for a in found]


def test_finding_the_approvals_takes_as_many_steps_at_any_length(tmp_path):
    ruleset = api.evaluate(SHELTERED, ONE_WORKSHOP, AS_OF, RULES, label="<one>", fmt="yaml")[0]
    with DecisionLog(tmp_path / "log.sqlite") as log:
        api.approve(log, ruleset, "alice")
        decisions(log, 5)
        api.approve(log, ruleset, "bob")
        decisions(log, 5)
        few, found = steps(log, ruleset)
        assert found == [("alice", 1), ("bob", 7)]
        decisions(log, 400)
        many, found_again = steps(log, ruleset)
    assert found_again == found
    assert many == few, f"{few} steps at 12 records, {many} at 412"


def objects(path: Path) -> set:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return {(kind, name) for kind, name in db.execute("SELECT type, name FROM sqlite_master WHERE type = 'index'")}
    finally:
        db.close()


def test_a_log_of_format_4_is_upgraded_and_keeps_its_records_and_approvals(tmp_path):
    """The fixture was written by the engine of format 4: approvals by alice (1) and bob (3), two official
    sheltered-workshops decisions (the second relying on both), an LDE decision."""
    log = tmp_path / "format4.sqlite"
    shutil.copy(FIXTURES / "format4.sqlite", log)
    head = rules("audit", "head", "--log", log).stdout.strip()
    assert head.startswith("5:")
    assert rules("audit", "verify", "--head", head, "--log", log).exit_code == 0
    assert "5 identical, 0 different, 0 failed" in rules("replay", "--all", "--log", log).stdout
    assert log.read_bytes() == (FIXTURES / "format4.sqlite").read_bytes()  # readers changed nothing
    assert ("index", "records_texts") in objects(log)
    again = rules("evaluate", SHELTERED, example(SHELTERED), "--as-of", AS_OF, "--rules-dir", RULES, "--log", log,
                  "--as", "carol", "--require-approvals", "2", "--format", "json")
    assert again.exit_code == 0, again.output  # the append upgrades the log first, then finds both approvals
    assert [(a["by"], a["seq"]) for a in json.loads(again.stdout)["approvals"]] == [("alice", 1), ("bob", 3)]
    assert ("index", "records_approvals") in objects(log) and ("index", "records_texts") not in objects(log)
    assert rules("audit", "verify", "--head", head, "--log", log).exit_code == 0
    assert "6 identical, 0 different, 0 failed" in rules("replay", "--all", "--log", log).stdout
    with DecisionLog(log, create=False) as opened:
        assert opened.version == audit.FORMAT_VERSION == 5


def test_an_index_of_approvals_that_names_a_decision_finds_no_approval(tmp_path):
    """The index only points at rows; each is read from the table and must be an approval of the text."""
    ruleset = api.evaluate(SHELTERED, ONE_WORKSHOP, AS_OF, RULES, label="<one>", fmt="yaml")[0]
    path = tmp_path / "log.sqlite"
    with DecisionLog(path) as log:
        decisions(log, 2)
        api.approve(log, ruleset, "alice")
        assert [a["by"] for a in api.approvals_for(log, ruleset)] == ["alice"]
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE records SET evaluator = '-', applicants = 0 WHERE seq = 1")  # now in the index, not an approval
    db.close()
    with DecisionLog(path, create=False) as log:
        assert [a["by"] for a in api.approvals_for(log, ruleset)] == ["alice"]


def test_reading_the_registry_at_start_takes_as_many_steps_at_any_length(tmp_path):
    """A server's worker reads the registry when it starts: its publications and withdrawals are found through the
    index of records without applicants (format 5), so a log of many decisions costs no more to read than a log
    of few, and what it finds is the same: the version published, then withdrawn."""
    from rules_engine.policy.registry import Registry, publish, withdraw
    from rules_engine.rules.compile import compile_file

    ruleset = compile_file(RULES / SHELTERED / f"{SHELTERED}-2018.yaml")

    def read(log) -> tuple[int, dict]:
        number, found = counted(log, lambda opened: Registry().refresh(opened))
        return number, {key: (p.seq, p.withdrawn) for key, p in found.versions.items()}

    with DecisionLog(tmp_path / "log.sqlite") as log:
        publish(log, ruleset, "olivia", f"{SHELTERED}-2018.yaml")
        decisions(log, 5)
        withdraw(log, SHELTERED, "2018.1", "olivia", "a mistake")
        decisions(log, 5)
        few, found = read(log)
        assert found == {(SHELTERED, "2018.1"): (1, True)}
        decisions(log, 400)
        many, found_again = read(log)
    assert found_again == found
    assert many == few, f"{few} steps at 12 records, {many} at 412"
