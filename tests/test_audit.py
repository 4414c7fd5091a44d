"""The decision log: records, tamper evidence, concurrency, crashes, foreign files."""
from __future__ import annotations

import dataclasses
import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zlib

import pytest

from rules_engine.record.audit import DecisionLog, Submission, parse_head
from rules_engine.errors import AuditFailure, LogError

from conftest import ROOT, example


def submission(n: int, facts: bytes = b"applicants: []\n") -> Submission:
    return Submission(decision_id=f"{n:064x}", engine_version="0.1.0", evaluator="python", ruleset_id="lde",
                      ruleset_version="2018.1", rule_text=b"ruleset: lde\n", schema_text=b"{}", facts=facts,
                      as_of="2018-06-20", overrides={}, applicants=n, allocated_fte="155",
                      output=f'{{"n": {n}}}\n'.encode())


@pytest.fixture
def log(log_path):
    with DecisionLog(log_path) as log:
        for n in range(1, 6):
            log.append(submission(n, facts=f"applicants: [{n}]\n".encode()))
        yield log


def tamper(path, sql: str, *args) -> None:
    db = sqlite3.connect(str(path))
    db.execute(sql, args)
    db.commit()
    db.close()


def verify_error(path, head=None) -> str:
    with DecisionLog(path) as log, pytest.raises(AuditFailure) as info:
        log.verify(head)
    return str(info.value)


def test_append_and_verify(log):
    assert log.verify() == 5
    entries = list(log.entries())
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == "0" * 64 and entries[1].prev_hash == entries[0].hash
    assert log.head() == (5, entries[-1].hash)
    assert log.blob(entries[2].facts_sha256) == b"applicants: [3]\n"
    assert log.db.execute("SELECT COUNT(*) FROM blobs WHERE kind = 'ruleset'").fetchone()[0] == 1  # stored once


def test_changed_byte_in_a_record_is_caught(log, log_path):
    tamper(log_path, "UPDATE records SET as_of = '2018-06-21' WHERE seq = 3")
    assert verify_error(log_path).startswith("record 3: its content does not match its hash")


def test_changed_byte_in_a_stored_output_is_caught(log, log_path):
    tamper(log_path, "UPDATE records SET output = ? WHERE seq = 3", zlib.compress(b'{"n": 4}\n'))
    assert verify_error(log_path).startswith("record 3: its stored output does not match its sha256")
    tamper(log_path, "UPDATE records SET output = ? WHERE seq = 3", b"not compressed")
    assert verify_error(log_path).startswith("record 3: the stored output is corrupt")


def test_deleted_record_is_caught(log, log_path):
    tamper(log_path, "DELETE FROM records WHERE seq = 2")
    assert "record 2: missing" in verify_error(log_path)


def test_deleted_last_record_is_caught_with_the_head(log, log_path):
    head = log.head()
    tamper(log_path, "DELETE FROM records WHERE seq = 5")
    assert "fewer than the 5" in verify_error(log_path, head)


def test_swapped_records_are_caught(log, log_path):
    db = sqlite3.connect(str(log_path))
    db.execute("UPDATE records SET seq = 100 WHERE seq = 2")
    db.execute("UPDATE records SET seq = 2 WHERE seq = 3")
    db.execute("UPDATE records SET seq = 3 WHERE seq = 100")
    db.commit()
    db.close()
    assert "record 2: does not follow record 1" in verify_error(log_path)


def test_changed_stored_rule_text_is_caught(log, log_path):
    tamper(log_path, "UPDATE blobs SET content = ? WHERE kind = 'ruleset'", zlib.compress(b"ruleset: lde  \n"))
    assert "stored rule text does not match its sha256" in verify_error(log_path)


def test_inserted_record_is_caught(log, log_path):
    from rules_engine.record.audit import FIELDS, record_hash

    second = list(log.entries())[1]
    forged = dict(second.hashed_fields(), seq=3, prev_hash=second.hash)
    db = sqlite3.connect(str(log_path))
    db.execute("UPDATE records SET seq = seq + 100 WHERE seq >= 3")
    db.execute("UPDATE records SET seq = seq - 99 WHERE seq >= 100")
    db.execute(f"INSERT INTO records ({', '.join(FIELDS)}, output_encoding, output, hash) "
               f"VALUES ({', '.join('?' * (len(FIELDS) + 3))})",
               [forged[f] for f in FIELDS] + [second.output_encoding, second.output, record_hash(forged)])
    db.commit()
    db.close()
    assert verify_error(log_path).startswith("record 4: does not follow record 3")


def test_full_rewrite_is_caught_only_with_the_old_head(log, log_path):
    from rules_engine.record.audit import FIELDS, record_hash, sha256

    head = log.head()
    db = sqlite3.connect(str(log_path))
    rows = db.execute("SELECT seq, output FROM records ORDER BY seq").fetchall()
    prev = "0" * 64
    for seq, output in rows:
        forged = zlib.decompress(output).replace(b"}", b" }")
        db.execute("UPDATE records SET output = ?, output_sha256 = ?, prev_hash = ? WHERE seq = ?",
                   (zlib.compress(forged), sha256(forged), prev, seq))
        row = db.execute(f"SELECT {', '.join(FIELDS)} FROM records WHERE seq = ?", (seq,)).fetchone()
        prev = record_hash(dict(zip(FIELDS, row)))
        db.execute("UPDATE records SET hash = ? WHERE seq = ?", (prev, seq))
    db.commit()
    db.close()
    with DecisionLog(log_path) as rewritten:
        assert rewritten.verify() == 5  # consistent in itself
    assert "differs from the head written down" in verify_error(log_path, head)


def test_parse_head():
    assert parse_head("3:" + "a" * 64) == (3, "a" * 64)
    with pytest.raises(Exception, match="COUNT:HASH"):
        parse_head("3:xyz")


def test_foreign_files_get_clear_errors(tmp_path):
    text = tmp_path / "notes.sqlite"
    text.write_text("hello, not a database\n" * 100)
    with pytest.raises(LogError, match="not a decision log"):
        DecisionLog(text)
    other = tmp_path / "other.sqlite"
    db = sqlite3.connect(str(other))
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(LogError, match="not a decision log of this tool"):
        DecisionLog(other)
    newer = tmp_path / "newer.sqlite"
    DecisionLog(newer).close()
    tamper(newer, "UPDATE meta SET value = '99' WHERE key = 'version'")
    with pytest.raises(LogError, match="newer than this engine reads"):
        DecisionLog(newer)
    with pytest.raises(LogError, match="no decision log here"):
        DecisionLog(tmp_path / "absent.sqlite", create=False)


def _cli(*args, env=None) -> subprocess.Popen:
    code = "from rules_cli.cli import entry; entry()"  # the installed command, as it ends
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def test_eight_concurrent_evaluations_all_get_their_record(log_path):
    env = dict(os.environ, RULES_LOG=str(log_path))
    procs = [_cli("evaluate", "social-workshops", str(example("social-workshops")), "--as-of", "2018-06-20",
                  "--format", "json", env=env) for _ in range(8)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 8, [o[1] for o in outs]
    with DecisionLog(log_path) as log:
        assert log.verify() == 8
        assert len({e.decision_id for e in log.entries()}) == 1


def _count(path) -> int:
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return db.execute("SELECT COUNT(*) FROM records").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def test_kill_during_writes_leaves_a_log_that_verifies(log_path):
    script = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from rules_engine.record.audit import DecisionLog, Submission
log = DecisionLog({str(log_path)!r})
n = 0
while True:
    n += 1
    log.append(Submission(f"{{n:064x}}", "0.1.0", "python", "lde", "2018.1", b"r", b"s", b"x" * 200_000 + str(n).encode(),
                          "2018-06-20", {{}}, n, "1", b"o" * 100_000))
"""
    for delay in (0.0, 0.05, 0.2):
        proc = subprocess.Popen([sys.executable, "-c", script])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _count(log_path) < 1:  # writing has begun
            time.sleep(0.02)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with DecisionLog(log_path) as log:
            count = log.verify()
            assert count >= 1
            for entry in log.entries():
                assert log.blob(entry.facts_sha256).endswith(str(entry.applicants).encode())


def test_a_text_packed_part_by_part_is_the_text_joined():
    from rules_engine.record.audit import pack_parts

    parts = [b'{"decisions": [\n', b"x" * 300_000, "é\n".encode(), b"", b"]}\n"]
    whole = b"".join(parts)
    packed = pack_parts(iter(parts))  # a generator's parts, each taken once
    assert packed.size == len(whole) and packed.sha256 == hashlib.sha256(whole).hexdigest()
    assert zlib.decompress(packed.data) == whole
    chunks = list(packed.parts(chunk=100_000))
    assert b"".join(chunks) == whole and max(map(len, chunks)) <= 100_000
    with pytest.raises(dataclasses.FrozenInstanceError):
        packed.sha256 = hashlib.sha256(b"another text").hexdigest()


def test_a_packed_text_is_stored_as_the_text_would_be(log_path):
    from rules_engine.record.audit import pack_parts

    text = b'{"n": 1}\n' * 1000
    with DecisionLog(log_path) as log:
        entry = log.append(dataclasses.replace(submission(1), output=pack_parts([text[:5], text[5:]])))
        assert entry.text == text and entry.output_sha256 == hashlib.sha256(text).hexdigest()
        assert log.verify() == 1


def test_a_text_larger_than_the_log_keeps_is_refused_before_it_is_logged(log_path, monkeypatch):
    from rules_engine.record import audit

    monkeypatch.setattr(audit, "MAX_STORED_BYTES", 1000)
    with pytest.raises(LogError, match="1,001 bytes.*at most 1,000"):
        audit.pack_parts([b"x" * 600, b"y" * 401])
    assert audit.pack_parts([b"x" * 1000]).size == 1000


def test_a_whole_text_larger_than_the_log_keeps_is_refused_and_nothing_logged(log_path, monkeypatch):
    from rules_engine.record import audit

    monkeypatch.setattr(audit, "MAX_STORED_BYTES", 1000)
    with DecisionLog(log_path) as log:
        with pytest.raises(LogError, match="at most 1,000 bytes"):
            log.append(dataclasses.replace(submission(1), output=b"x" * 1001))
        assert log.head()[0] == 0


def test_a_packed_text_is_the_same_bytes_as_the_whole_text_packed_and_comes_back_in_parts_of_16_mib():
    from rules_engine.record.audit import pack, pack_parts

    parts = [b'{"decisions": [', b"1," * 100_000, "é".encode() * 5000, bytes(40 << 20), b"]}\n"]
    whole = b"".join(parts)
    packed = pack_parts(parts)
    assert packed.data == pack(whole)[1]  # the log holds what it held when texts were packed whole
    sizes = [len(part) for part in packed.parts()]
    assert sizes[:2] == [1 << 24, 1 << 24] and sum(sizes) == len(whole)  # 40 MB never unpacked at once


@pytest.mark.parametrize("chunk", [1, 4096, 65_536, 1 << 20])
def test_a_packed_text_comes_back_whole_at_any_part_size(chunk):
    import random

    from rules_engine.record.audit import pack_parts

    noise = random.Random(chunk).randbytes(200_000)  # hardly compressible: parts end anywhere in the stream
    whole = noise + b"0" * 300_000 + noise[:12_345]
    parts = list(pack_parts([whole[:77_777], whole[77_777:]]).parts(chunk=chunk))
    assert b"".join(parts) == whole and max(map(len, parts)) <= chunk
