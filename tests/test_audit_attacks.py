"""Issue 14, findings 1, 2, 8 and the log's part of 10: each attack on the decision log, from its recipe.

Every test makes a real log with the CLI, attacks the SQLite file the way the attack report did, and
checks the verdict of the commands an auditor relies on.
"""
from __future__ import annotations

import json
import shutil
import sqlite3
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.record import audit
from rules_engine.record.audit import DecisionLog, Submission
from rules_engine.errors import AuditFailure, LogError

from conftest import AS_OF, RULES, example

FIXTURES = Path(__file__).parent / "fixtures"
COLUMNS = ", ".join(audit.COLUMNS)


def rules(*args, log=None):
    extra = ["--log", str(log)] if log is not None else []
    return CliRunner().invoke(main, [str(a) for a in args] + extra)


def make_log(path: Path, count: int = 2) -> str:
    """A log with ``count`` decisions; returns the head an auditor wrote down."""
    for ruleset in ("lde", "sheltered-workshops", "social-workshops")[:count]:
        result = rules("evaluate", ruleset, example(ruleset), "--as-of", AS_OF, "--rules-dir", RULES,
                       "--format", "json", log=path)
        assert result.exit_code == 0, result.output
    return rules("audit", "head", log=path).stdout.strip()


def attack(path: Path, *statements: str, writable_schema: bool = False) -> None:
    db = sqlite3.connect(str(path), isolation_level=None)
    if writable_schema:
        db.execute("PRAGMA writable_schema = ON")
    for statement in statements:
        db.execute(statement)
    db.close()


def altered_output(path: Path, seq: int) -> bytes:
    db = sqlite3.connect(str(path))
    record = json.loads(zlib.decompress(db.execute("SELECT output FROM records WHERE seq = ?", (seq,)).fetchone()[0]))
    db.close()
    record["decisions"][0]["allocated_fte"] = 99
    return zlib.compress((json.dumps(record, indent=2) + "\n").encode())


def refused(result, *words) -> bool:
    return result.exit_code == 1 and all(w in result.output for w in words) and "internal error" not in result.output


def test_shadow_covering_index_is_refused(tmp_path):
    """Finding 1: a covering index that the planner would read instead of the table."""
    log = tmp_path / "log.sqlite"
    head = make_log(log)
    attack(log, f"CREATE INDEX shadow ON records ({COLUMNS})", "ANALYZE",
           "UPDATE sqlite_stat1 SET stat = '1000000 1' WHERE idx = 'shadow'")
    db = sqlite3.connect(str(log))
    db.execute("UPDATE records NOT INDEXED SET output = ? WHERE seq = 2", (altered_output(log, 2),))
    db.commit()
    db.close()
    for args in (("audit", "verify", "--head", head), ("replay", "--all"), ("show", "2"), ("explain", "2"), ("log",)):
        result = rules(*args, log=log)
        assert refused(result, "index 'shadow' that this engine did not make", "sqlite_stat1"), (args, result.output)


def test_shadow_index_disguised_as_our_own_is_caught(tmp_path):
    """Finding 1 with the schema rewritten: the covering index takes the name and text of ours."""
    log = tmp_path / "log.sqlite"
    head = make_log(log)
    attack(log, f"CREATE INDEX shadow ON records ({COLUMNS})")
    db = sqlite3.connect(str(log))
    db.execute("UPDATE records NOT INDEXED SET output = ? WHERE seq = 2", (altered_output(log, 2),))
    db.commit()
    ours = db.execute("SELECT sql FROM sqlite_master WHERE name = 'records_decision'").fetchone()[0]
    db.close()
    attack(log, "DELETE FROM sqlite_master WHERE name = 'records_decision'",
           f"UPDATE sqlite_master SET name = 'records_decision', sql = '{ours}' WHERE name = 'shadow'",
           writable_schema=True)
    verify = rules("audit", "verify", "--head", head, log=log)
    assert refused(verify), verify.output
    assert "integrity check" in verify.output or "record 2" in verify.output
    for args in (("replay", "2"), ("show", "2"), ("explain", "2")):  # the table itself is read, and checked
        result = rules(*args, log=log)
        assert refused(result, "record 2", "output does not match its sha256"), (args, result.output)
    assert "different" not in rules("replay", "--all", log=log).stdout.split("\n")[-2].split(",")[0]


def test_planted_trigger_is_refused_and_nothing_claims_to_be_logged(tmp_path):
    """Finding 2: a trigger that silently drops every insert."""
    log = tmp_path / "log.sqlite"
    make_log(log, 1)
    attack(log, "CREATE TRIGGER quiet BEFORE INSERT ON records BEGIN SELECT RAISE(IGNORE); END;")
    result = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, log=log)
    assert refused(result, "trigger 'quiet' that this engine did not make"), result.output
    assert "logged as record" not in result.output and "LDE-" not in result.stdout
    assert refused(rules("audit", "verify", log=log), "trigger 'quiet'")


def test_a_record_that_does_not_read_back_is_not_claimed(tmp_path, monkeypatch):
    """Defence in depth: even a change the layout check missed is caught by reading the record back."""
    log = tmp_path / "log.sqlite"
    make_log(log, 1)
    attack(log, "CREATE TRIGGER quiet BEFORE INSERT ON records BEGIN SELECT RAISE(IGNORE); END;")
    monkeypatch.setattr(DecisionLog, "_check_layout", lambda self, objects: None)
    with DecisionLog(log) as opened, pytest.raises(AuditFailure, match="did not read back"):
        opened.append(_submission(b"{}\n"))


@pytest.mark.parametrize("statement, words", [
    ("CREATE VIEW records_view AS SELECT * FROM records", "view 'records_view'"),
    ("CREATE TABLE notes (x)", "table 'notes'"),
    ("ANALYZE", "table 'sqlite_stat1'"),
    ("DROP INDEX records_decision", "index 'records_decision' missing or altered"),
])
def test_any_foreign_or_missing_object_is_refused(tmp_path, statement, words):
    log = tmp_path / "log.sqlite"
    make_log(log, 1)
    attack(log, statement)
    assert refused(rules("audit", "verify", log=log), "database structure was changed", words)


def test_vacuumed_log_still_verifies(tmp_path):
    log = tmp_path / "log.sqlite"
    head = make_log(log)
    attack(log, "VACUUM")
    assert rules("audit", "verify", "--head", head, log=log).exit_code == 0
    assert "2 identical" in rules("replay", "--all", log=log).stdout


def test_empty_file_is_not_turned_into_a_log(tmp_path):
    empty = tmp_path / "empty.sqlite"
    empty.write_bytes(b"")
    for args in (("audit", "verify"), ("audit", "head"), ("log",), ("show", "1"), ("replay", "--all")):
        assert refused(rules(*args, log=empty), "empty file, not a decision log"), args
    assert empty.stat().st_size == 0


def test_readers_open_the_log_read_only(tmp_path):
    log = tmp_path / "log.sqlite"
    make_log(log, 1)
    before = log.read_bytes()
    with DecisionLog(log, create=False) as opened:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            opened.db.execute("DELETE FROM records")
        with pytest.raises(LogError, match="reading only"):
            opened.append(_submission(b"{}\n"))
    for args in (("audit", "verify"), ("log",), ("show", "1"), ("replay", "1"), ("explain", "1")):
        assert rules(*args, log=log).exit_code == 0, args
    assert log.read_bytes() == before


def test_full_disk_is_a_clear_error_and_logs_nothing(tmp_path):
    log = tmp_path / "log.sqlite"
    make_log(log, 1)
    with DecisionLog(log) as opened:
        pages = opened.db.execute("PRAGMA page_count").fetchone()[0]
        opened.db.execute(f"PRAGMA max_page_count = {pages + 1}")  # SQLite's own 'database or disk is full'
        with pytest.raises(LogError, match="full.*nothing was logged"):
            opened.append(_submission(bytes(range(256)) * 40_000))
        assert opened.head()[0] == 1
    assert rules("audit", "verify", log=log).exit_code == 0


@pytest.mark.parametrize("where", ["a-file/log.sqlite", "a-file"])
def test_unusable_log_paths_are_clear_errors(tmp_path, where):
    (tmp_path / "a-file").write_text("not a folder\n")
    result = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES,
                   log=tmp_path / where)
    assert refused(result, str(tmp_path / where)), result.output
    assert "LDE-" not in result.stdout


@pytest.mark.parametrize("statement, words", [
    ("UPDATE meta SET value = 'two' WHERE key = 'version'", "meta table was changed"),
    ("UPDATE records SET ruleset_id = CAST(x'ff' AS TEXT) WHERE seq = 1", "not UTF-8"),
    ("UPDATE records SET output_encoding = 'gzip' WHERE seq = 1", "unknown encoding"),
    ("UPDATE records SET overrides = '[' WHERE seq = 1", "record 1"),
    ("UPDATE records SET extra = 'x' WHERE seq = 1", "record 1: its extra fields are damaged"),
])
def test_damaged_log_is_an_audit_failure_not_a_crash(tmp_path, statement, words):
    log = tmp_path / "log.sqlite"
    make_log(log, 1)
    attack(log, statement)
    for args in (("audit", "verify"), ("replay", "--all")):
        result = rules(*args, log=log)
        assert refused(result, words), (args, result.output)


def test_zlib_bomb_is_refused_without_unpacking_it(tmp_path, monkeypatch):
    log = tmp_path / "log.sqlite"
    make_log(log, 1)
    monkeypatch.setattr(audit, "MAX_STORED_BYTES", 1 << 20)
    bomb = zlib.compress(b"\0" * (4 << 20), 9)
    db = sqlite3.connect(str(log))
    db.execute("UPDATE records SET output = ? WHERE seq = 1", (bomb,))
    db.commit()
    db.close()
    assert refused(rules("audit", "verify", log=log), "does not unpack to at most 1,048,576 bytes")


@pytest.mark.parametrize("ref", ["______", "%%%%%%", "1234567a'--"])
def test_id_prefix_is_matched_literally(tmp_path, ref):
    log = tmp_path / "log.sqlite"
    make_log(log, 1)
    assert refused(rules("show", ref, log=log), "hexadecimal")


def test_existing_format_1_log_verifies_replays_and_grows(tmp_path):
    """Written by the engine before this change (sheltered, a flow-style YAML LDE call, social with --set)."""
    log = tmp_path / "format1.sqlite"
    shutil.copy(FIXTURES / "format1.sqlite", log)
    head = rules("audit", "head", log=log).stdout.strip()
    assert head.startswith("3:")
    assert rules("audit", "verify", "--head", head, log=log).exit_code == 0
    assert "3 identical, 0 different, 0 failed" in rules("replay", "--all", log=log).stdout
    assert log.read_bytes() == (FIXTURES / "format1.sqlite").read_bytes()  # readers changed nothing
    make_log(log, 1)  # the next append upgrades the file to the present format
    assert rules("audit", "verify", "--head", head, log=log).exit_code == 0
    assert "4 identical" in rules("replay", "--all", log=log).stdout
    with DecisionLog(log, create=False) as opened:
        assert opened.version == audit.FORMAT_VERSION and [e.facts_format for e in opened.entries()] == [None, None, None, "yaml"]


def _submission(output: bytes) -> Submission:
    return Submission("d" * 64, "0.1.0", "python", "x", "1", b"rules", b"{}", b"facts", "2018-06-20", {}, 0, "0",
                      output, "json")


def test_replay_all_keeps_going_after_a_record_that_fails(tmp_path):
    log = tmp_path / "log.sqlite"
    make_log(log, 3)
    db = sqlite3.connect(str(log))
    facts = db.execute("SELECT facts_sha256 FROM records WHERE seq = 2").fetchone()[0]
    db.execute("UPDATE blobs SET content = ? WHERE sha256 = ?", (zlib.compress(b"applicants: []\n"), facts))
    db.commit()
    db.close()
    result = rules("replay", "--all", log=log)
    assert result.exit_code == 1
    assert "2 identical, 0 different, 1 failed, of 3 records" in result.stdout
    assert "record 2" in result.stdout and "FAILED" in result.stdout


def test_flow_style_yaml_facts_replay_identical(tmp_path):
    """Finding 4: the format the facts were parsed in is part of the record."""
    log = tmp_path / "log.sqlite"
    flow = tmp_path / "call.yaml"
    flow.write_text('{applicants: [{id: "A", name: "x", province: Antwerpen, contingent_fte: 3, requested_fte: 2, '
                    'realisation_rate: 0.95, merged_on: null, assessment: {guidance_actions: 2, transition_vision: 2, '
                    'realised_transition: 2, regular_cooperation: 2}}]}\n', encoding="utf-8")
    assert rules("evaluate", "lde", flow, "--as-of", AS_OF, "--rules-dir", RULES, log=log).exit_code == 0
    assert "1 identical" in rules("replay", "--all", log=log).stdout
    with DecisionLog(log, create=False) as opened:
        assert opened.get("1").facts_format == "yaml"


def test_a_log_in_a_folder_nobody_may_write_is_still_read(tmp_path, monkeypatch):
    """Read only, never immutable (issue 18, finding 4)."""
    log = tmp_path / "log.sqlite"
    head = make_log(log, 1)
    (tmp_path / "log.sqlite-shm").unlink(missing_ok=True)
    (tmp_path / "log.sqlite-wal").unlink(missing_ok=True)
    monkeypatch.setattr(audit, "can_write", lambda folder: False)
    assert rules("audit", "verify", "--head", head, log=log).exit_code == 0
