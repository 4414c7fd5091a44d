"""The installed ``rules`` command (``rules_cli.cli:entry``) ends its process as soon as a decision is written and
logged, without freeing what the call built (issue 24): what it prints, writes and logs must be whole, and its exit
code the command's."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from click.testing import CliRunner

from rules_cli.cli import main

from conftest import AS_OF, RULES, example

ENTRY = "from rules_cli.cli import entry; entry()"


def installed(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", ENTRY, *map(str, args)], capture_output=True, timeout=300)


def test_the_installed_command_prints_writes_and_logs_the_whole_decision(tmp_path):
    log, out = tmp_path / "log.sqlite", tmp_path / "out.json"
    common = ("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--format", "json")
    printed = installed(*common, "--log", log)
    assert printed.returncode == 0, printed.stderr
    assert b"logged as record 1 (official)" in printed.stderr
    written = installed(*common, "--log", log, "-o", out)
    assert written.returncode == 0 and b"logged as record 2" in written.stderr
    expected = CliRunner().invoke(main, [str(a) for a in common + ("--no-log",)]).stdout_bytes
    first, second = json.loads(printed.stdout), json.loads(out.read_bytes())
    assert len(first["decisions"]) == len(second["decisions"]) == 226
    assert first["decision_id"] == second["decision_id"] == json.loads(expected)["decision_id"]
    db = sqlite3.connect(log)
    stored = [row[0] for row in db.execute("SELECT output_sha256 FROM records ORDER BY seq")]
    db.close()
    assert len(stored) == 2
    replayed = installed("replay", "--all", "--log", log)
    assert replayed.returncode == 0 and b"2 identical, 0 different, 0 failed" in replayed.stdout


def test_the_installed_command_keeps_its_exit_codes(tmp_path):
    log = tmp_path / "log.sqlite"
    bad = tmp_path / "bad.json"
    bad.write_text('{"applicants": [{"id": 1}]}', encoding="utf-8")
    refused = installed("evaluate", "lde", bad, "--as-of", AS_OF, "--rules-dir", RULES, "--log", log)
    assert refused.returncode == 1 and b"bad.json" in refused.stderr and b"Traceback" not in refused.stderr
    assert installed("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--log", log,
                     "-o", tmp_path / "o.json").returncode == 0
    db = sqlite3.connect(log, isolation_level=None)
    db.execute("UPDATE records SET allocated_fte = '1' WHERE seq = 1")
    db.close()
    assert installed("replay", "--all", "--log", log).returncode == 1
