"""The decision log on a real PostgreSQL server (started by the session, tests/pg_server.py).

The same records, bytes and hashes as on SQLite; every command works on either; the log defends
itself the same way; two ``rules serve`` processes share one database under load.
"""
from __future__ import annotations

import json
import threading

import psycopg
from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.record.audit import DecisionLog, TokenStore

from conftest import AS_OF, RULES, RULESETS, example
from service_process import Server
from test_service_live import acknowledged, client_loop


def rules(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def fill(log, rulesets=RULESETS) -> str:
    for ruleset in rulesets:
        result = rules("evaluate", ruleset, example(ruleset), "--as-of", AS_OF, "--rules-dir", RULES, "--log", log,
                       "--format", "json")
        assert result.exit_code == 0, result.output
    return rules("audit", "head", "--log", log).stdout.strip()


def test_every_command_works_on_postgresql(postgres):
    dsn = postgres.database()
    head = fill(dsn)
    assert head.startswith("3:")
    assert rules("audit", "verify", "--head", head, "--log", dsn).exit_code == 0
    assert "3 identical, 0 different, 0 failed" in rules("replay", "--all", "--log", dsn).stdout
    assert len(rules("log", "--log", dsn).stdout.splitlines()) == 5
    shown = rules("show", "2", "--log", dsn)
    cli = rules("evaluate", "sheltered-workshops", example("sheltered-workshops"), "--as-of", AS_OF,
                "--rules-dir", RULES, "--format", "json", "--log", postgres.database())  # a second log, same bytes
    assert shown.exit_code == 0 and shown.stdout == cli.stdout
    assert "Motivering" in rules("explain", "1", "--log", dsn).stdout
    added = rules("token", "add", "case-system", "--role", "evaluator", "--log", dsn)
    assert added.exit_code == 0 and "case-system" in rules("token", "list", "--log", dsn).stdout
    assert rules("token", "revoke", "case-system", "--log", dsn).exit_code == 0


def test_copy_sqlite_postgresql_sqlite_keeps_every_hash(postgres, tmp_path):
    original = tmp_path / "original.sqlite"
    head = fill(original)
    dsn = postgres.database()
    back = tmp_path / "back.sqlite"
    assert rules("audit", "copy", original, dsn).exit_code == 0
    assert rules("audit", "copy", dsn, back).exit_code == 0
    hashes = []
    for log in (original, dsn, back):
        assert rules("audit", "verify", "--head", head, "--log", log).exit_code == 0, log
        with DecisionLog(log, create=False) as opened:
            hashes.append([(e.seq, e.hash, e.output_sha256) for e in opened.entries()])
        assert "3 identical" in rules("replay", "--all", "--log", log).stdout
    assert hashes[0] == hashes[1] == hashes[2] and len(hashes[0]) == 3
    again = rules("audit", "copy", original, dsn)
    assert again.exit_code == 1 and "not empty" in again.stderr


def test_the_log_defends_itself_on_postgresql(postgres):
    dsn = postgres.database()
    head = fill(dsn, ("lde",))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE INDEX shadow ON records (seq, decision_id, hash)")
    assert rules("audit", "verify", "--log", dsn).exit_code == 1
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX shadow")
        conn.execute("CREATE FUNCTION quiet() RETURNS trigger AS $$ BEGIN RETURN NULL; END $$ LANGUAGE plpgsql")
        conn.execute("CREATE TRIGGER quiet BEFORE INSERT ON records FOR EACH ROW EXECUTE FUNCTION quiet()")
    planted = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--log", dsn)
    assert planted.exit_code == 1 and "trigger 'quiet'" in planted.stderr and "logged as" not in planted.stderr
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TRIGGER quiet ON records")
        conn.execute("UPDATE records SET allocated_fte = '1' WHERE seq = 1")
    changed = rules("audit", "verify", "--head", head, "--log", dsn)
    assert changed.exit_code == 1 and "record 1" in changed.stderr


def test_two_servers_share_one_database_under_load(postgres, tmp_path):
    dsn = postgres.database()
    with DecisionLog(dsn) as opened:
        secret = TokenStore(opened).add("load", "evaluator")
    with Server(dsn, workers=1) as one, Server(dsn, workers=1) as two:
        results: list = []
        threads = [threading.Thread(target=client_loop, args=(server.url, secret, 20, results))
                   for server in (one, two) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=600)
    statuses = [r[0] for r in results]
    assert len(results) == 640 and statuses.count(201) == 640, sorted(set(map(str, statuses)))
    acks = acknowledged(results)
    with DecisionLog(dsn, create=False) as opened:
        stored = {e.seq: e.output_sha256 for e in opened.entries()}
        assert opened.verify() == 640
    assert all(stored[seq] == digest for seq, digest in acks.items()) and len(acks) == 640


def _sessions(dsn: str) -> int:
    """How many connections the database has been opened with, ever (PostgreSQL 14's pg_stat_database.sessions)."""
    name = dsn.rsplit("/", 1)[1]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_force_next_flush()")
        return conn.execute("SELECT sessions FROM pg_stat_database WHERE datname = %s", (name,)).fetchone()[0]


def test_a_worker_keeps_its_connections_across_requests(postgres, tmp_path):
    # Issue 24: a request on PostgreSQL opened two or three connections (the token, the registry, the append);
    # a worker now keeps them in a pool. 30 decisions, one after another: without the pool at least 60 sessions.
    dsn = postgres.database()
    with DecisionLog(dsn) as opened:
        secret = TokenStore(opened).add("load", "evaluator")
    with Server(dsn, workers=1) as server:
        before = _sessions(dsn)
        results: list = []
        client_loop(server.url, secret, 30, results)
        grown = _sessions(dsn) - before
    assert [r[0] for r in results] == [201] * 30
    assert grown <= 6, grown  # the pools' connections (read-write and read-only) and the two of _sessions
    with DecisionLog(dsn, create=False) as opened:
        assert opened.verify() == 30


def test_a_postgresql_log_of_format_4_is_upgraded_and_keeps_its_approvals(postgres, tmp_path):
    """The format-4 fixture copied to PostgreSQL, then put back to format 4's layout (the index on the texts'
    hashes, version 4) as a server of that engine left it; the next append upgrades it to the approvals' index."""
    from pathlib import Path

    dsn = postgres.database()
    assert rules("audit", "copy", Path(__file__).parent / "fixtures" / "format4.sqlite", dsn).exit_code == 0
    head = rules("audit", "head", "--log", dsn).stdout.strip()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP INDEX records_approvals")
        conn.execute("CREATE INDEX records_texts ON records (ruleset_sha256, schema_sha256)")
        conn.execute("UPDATE meta SET value = '4' WHERE key = 'version'")
    assert rules("audit", "verify", "--head", head, "--log", dsn).exit_code == 0  # a format-4 log as it was
    again = rules("evaluate", "sheltered-workshops", example("sheltered-workshops"), "--as-of", AS_OF, "--rules-dir",
                  RULES, "--log", dsn, "--as", "carol", "--require-approvals", "2", "--format", "json")
    assert again.exit_code == 0, again.output
    assert [(a["by"], a["seq"]) for a in json.loads(again.stdout)["approvals"]] == [("alice", 1), ("bob", 3)]
    with psycopg.connect(dsn, autocommit=True) as conn:
        indexes = {row[0] for row in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'records'")}
        assert conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0] == "5"
    assert "records_approvals" in indexes and "records_texts" not in indexes
    assert rules("audit", "verify", "--head", head, "--log", dsn).exit_code == 0
    assert "6 identical, 0 different, 0 failed" in rules("replay", "--all", "--log", dsn).stdout


def test_the_registry_on_postgresql_finds_a_withdrawal_among_decisions(postgres):
    from rules_engine.policy.registry import Registry, publish, withdraw
    from rules_engine.rules.compile import compile_file

    ruleset, dsn = compile_file(RULES / "lde" / "lde-2018.yaml"), postgres.database()
    with DecisionLog(dsn) as log:
        publish(log, ruleset, "olivia", "lde-2018.yaml")
    assert rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--log", dsn, "--rules-dir",
                 RULES).exit_code == 0
    with DecisionLog(dsn) as log:
        withdraw(log, "lde", "2018.1", "olivia", "a mistake")
        found = Registry().refresh(log)
    assert {key: (p.seq, p.withdrawn) for key, p in found.versions.items()} == {("lde", "2018.1"): (1, True)}
