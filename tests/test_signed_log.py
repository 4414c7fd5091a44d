"""Issue 22: a log its database owner cannot rewrite unseen.

The owner's attack, as the issue tried it: rewrite a decision and recompute every later hash (here: the
same history appended again with one record changed, which gives a chain that verifies), or delete the
newest records. A checkpoint signed by another person's key, before the attack, catches both; a proof of
one record checks without the log.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.errors import AuditFailure
from rules_engine.record.audit import DecisionLog, Submission
from rules_engine.record.checkpoint import generate, signer, verifier
from rules_engine.record.proofs import check_bundle, check_checkpoint, inclusion_bundle, sign_checkpoint

NOW = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.timezone.utc)


def submission(output: bytes) -> Submission:
    return Submission("d" * 64, "0.1.0", "python", "lde", "2018.1", b"rules", b"{}", b"facts", "2018-06-20", {}, 1, "2",
                      output, "json")


def log_of(path: Path, outputs: list) -> DecisionLog:
    log = DecisionLog(path)
    for number, output in enumerate(outputs):
        log.append(submission(output), now=NOW + dt.timedelta(minutes=number))
    return log


HISTORY = [b'{"LDE-031": 2}', b'{"LDE-007": 1}', b'{"LDE-100": 3}']


@pytest.fixture()
def keys():
    secret, public = generate("auditor.example/rules-log")
    return signer(secret), verifier(public)


def test_a_rewritten_history_with_recomputed_hashes_is_caught(tmp_path, keys):
    honest = log_of(tmp_path / "honest.sqlite", HISTORY)
    note = sign_checkpoint(honest, keys[0], now=NOW)
    rewritten = log_of(tmp_path / "rewritten.sqlite", [b'{"LDE-031": 9}'] + HISTORY[1:])
    assert rewritten.verify() == 3  # the chain alone cannot tell
    with pytest.raises(AuditFailure, match="not those the checkpoint signed: the history was rewritten"):
        check_checkpoint(rewritten, note, keys[1])
    assert check_checkpoint(honest, note, keys[1]).size == 3


def test_removed_newest_records_are_caught(tmp_path, keys):
    note = sign_checkpoint(log_of(tmp_path / "honest.sqlite", HISTORY), keys[0], now=NOW)
    cut = log_of(tmp_path / "cut.sqlite", HISTORY[:2])
    with pytest.raises(AuditFailure, match="signed a tree of 3 records; the log holds 2: records were removed"):
        check_checkpoint(cut, note, keys[1])


def test_a_log_that_grew_after_the_checkpoint_still_holds_it(tmp_path, keys):
    log = log_of(tmp_path / "log.sqlite", HISTORY[:2])
    note = sign_checkpoint(log, keys[0], now=NOW)
    log.append(submission(HISTORY[2]), now=NOW + dt.timedelta(hours=1))
    assert check_checkpoint(log, note, keys[1]).size == 2


def test_a_proof_of_one_record_checks_without_the_log_and_fails_when_changed(tmp_path, keys):
    log = log_of(tmp_path / "log.sqlite", HISTORY)
    note = sign_checkpoint(log, keys[0], now=NOW)
    bundle = inclusion_bundle(log, log.get("2"), note, keys[1])
    shown = check_bundle(json.loads(json.dumps(bundle)), keys[1])
    assert shown["record_id"] == log.get("2").record_id and shown["tree_size"] == 3
    assert shown["time"] == "2026-12-02T10:00:00Z"
    other = dict(bundle, record_hash=log.get("3").hash)  # another record's hash at this place
    with pytest.raises(AuditFailure, match="does not show record"):
        check_bundle(other, keys[1])
    with pytest.raises(AuditFailure, match="does not show record"):
        check_bundle(dict(bundle, leaf_index=2), keys[1])
    with pytest.raises(AuditFailure, match="not the signed one"):
        check_bundle(dict(bundle, tree_size=2), keys[1])


def test_a_record_after_the_checkpoint_needs_a_newer_one(tmp_path, keys):
    log = log_of(tmp_path / "log.sqlite", HISTORY[:2])
    note = sign_checkpoint(log, keys[0], now=NOW)
    log.append(submission(HISTORY[2]), now=NOW)
    with pytest.raises(AuditFailure, match="came after the checkpoint"):
        inclusion_bundle(log, log.get("3"), note, keys[1])


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_the_command_line_from_key_to_proof(tmp_path):
    log = tmp_path / "log.sqlite"
    log_of(log, HISTORY).close()
    key = tmp_path / "signer.key"
    made = run("audit", "keygen", "auditor.example/rules-log", "-o", key)
    assert made.exit_code == 0 and made.stdout.startswith("auditor.example/rules-log+")
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    public = made.stdout.strip()
    again = run("audit", "keygen", "auditor.example/rules-log", "-o", key)
    assert again.exit_code == 1 and "never overwritten" in again.output
    point = run("audit", "checkpoint", "--key", key, "--log", log)
    assert point.exit_code == 0 and point.stdout.splitlines()[:2] == ["auditor.example/rules-log", "3"]
    (tmp_path / "cp.txt").write_text(point.stdout, encoding="utf-8")
    verified = run("audit", "verify", "--log", log, "--checkpoint", tmp_path / "cp.txt", "--public-key", public)
    assert verified.exit_code == 0 and "it holds the tree of 3 records signed by auditor.example/rules-log" in verified.stdout
    proof = run("audit", "prove", "1", "--log", log, "--checkpoint", tmp_path / "cp.txt", "--public-key", public)
    assert proof.exit_code == 0
    (tmp_path / "proof.json").write_text(proof.stdout, encoding="utf-8")
    checked = run("audit", "check-proof", tmp_path / "proof.json", "--public-key", public)
    assert checked.exit_code == 0 and checked.stdout.startswith("ok: record 1-") and "is record 1 of the 3" in checked.stdout
    changed = json.loads(proof.stdout)
    changed["proof"][0] = changed["proof"][1]
    (tmp_path / "bad.json").write_text(json.dumps(changed), encoding="utf-8")
    refused = run("audit", "check-proof", tmp_path / "bad.json", "--public-key", public)
    assert refused.exit_code == 1 and "does not show record" in refused.output and "Traceback" not in refused.output


@pytest.mark.parametrize("args, words", [
    (["audit", "check-proof", "{proof}", "--public-key", "nonsense"], "not a public key"),
    (["audit", "check-proof", "{text}", "--public-key", "{public}"], "not JSON"),
    (["audit", "check-proof", "{log}", "--public-key", "{public}"], "not UTF-8 text"),
    (["audit", "verify", "--log", "{log}", "--checkpoint", "{text}", "--public-key", "{public}"], "not a signed note"),
    (["audit", "verify", "--log", "{log}", "--checkpoint", "{log}"], "--checkpoint needs --public-key"),
    (["audit", "checkpoint", "--key", "{missing}", "--log", "{log}"], "cannot read the key"),
    (["audit", "keygen", "bad name", "-o", "{missing}"], "without spaces"),
])
def test_bad_keys_notes_and_proofs_are_clear_errors(tmp_path, args, words):
    log = tmp_path / "log.sqlite"
    log_of(log, HISTORY[:1]).close()
    secret, public = generate("a.example")
    (tmp_path / "proof.json").write_text("{}", encoding="utf-8")
    (tmp_path / "text.txt").write_text("hello\n", encoding="utf-8")
    values = {"log": log, "public": public, "proof": tmp_path / "proof.json", "missing": tmp_path / "no" / "key",
              "text": tmp_path / "text.txt"}
    result = run(*[a.format(**values) for a in args])
    assert result.exit_code in (1, 2) and words in result.output and "Traceback" not in result.output, result.output


def test_a_witness_cosigns_a_log_that_grows_and_refuses_one_that_rewrote_history(tmp_path, keys):
    from rules_engine.record.checkpoint import open_note
    from rules_engine.record.proofs import consistency_bundle, witness

    w_secret, w_public = generate("witness.example")
    w_signer, w_verifier = signer(w_secret), verifier(w_public)
    log = log_of(tmp_path / "log.sqlite", HISTORY[:2])
    first = sign_checkpoint(log, keys[0], now=NOW)
    cosigned = witness(first, keys[1], w_signer, None, None)  # the first one seen is taken as it is
    assert open_note(cosigned, w_verifier) == open_note(first, keys[1])
    log.append(submission(HISTORY[2]), now=NOW + dt.timedelta(hours=1))
    second = sign_checkpoint(log, keys[0], now=NOW + dt.timedelta(hours=1))
    assert witness(second, keys[1], w_signer, first, consistency_bundle(log, 2)).startswith(second)
    # the owner rewrites record 1 (the chain recomputed), and the log signs the new tree as if nothing happened
    forged = log_of(tmp_path / "forged.sqlite", [b'{"LDE-031": 9}'] + HISTORY[1:])
    lie = sign_checkpoint(forged, keys[0], now=NOW + dt.timedelta(hours=2))
    with pytest.raises(AuditFailure, match="does not extend the tree of 2 seen before"):
        witness(lie, keys[1], w_signer, first, consistency_bundle(forged, 2))
    same_size = sign_checkpoint(log_of(tmp_path / "other.sqlite", [b"x", b"y", b"z"]), keys[0], now=NOW)
    with pytest.raises(AuditFailure, match="two different trees of 3 records"):
        witness(same_size, keys[1], w_signer, second, None)
    with pytest.raises(AuditFailure, match="fewer than the 3 seen before"):
        witness(first, keys[1], w_signer, second, None)


def test_the_witness_on_the_command_line_keeps_its_state(tmp_path):
    log = tmp_path / "log.sqlite"
    log_of(log, HISTORY[:2]).close()
    log_pub = run("audit", "keygen", "log.example", "-o", tmp_path / "log.key").stdout.strip()
    other_pub = run("audit", "keygen", "log.example", "-o", tmp_path / "other.key").stdout.strip()  # not the log's
    assert run("audit", "keygen", "w.example", "-o", tmp_path / "w.key").exit_code == 0
    (tmp_path / "cp1.txt").write_text(run("audit", "checkpoint", "--key", tmp_path / "log.key", "--log", log).stdout)
    state = tmp_path / "witness-state.txt"
    witness_args = ["--log-key", log_pub, "--key", tmp_path / "w.key", "--state", state]
    first = run("audit", "witness", tmp_path / "cp1.txt", *witness_args)
    assert first.exit_code == 0 and first.stdout.count("\u2014 ") == 2
    assert state.read_text() == (tmp_path / "cp1.txt").read_text()
    with DecisionLog(log) as opened:
        opened.append(submission(HISTORY[2]), now=NOW)
    (tmp_path / "cp2.txt").write_text(run("audit", "checkpoint", "--key", tmp_path / "log.key", "--log", log).stdout)
    (tmp_path / "proof.json").write_text(run("audit", "consistency", "2", "--log", log).stdout)
    no_proof = run("audit", "witness", tmp_path / "cp2.txt", *witness_args)
    assert no_proof.exit_code == 1 and "rules audit consistency 2" in no_proof.output
    second = run("audit", "witness", tmp_path / "cp2.txt", *witness_args, "--proof", tmp_path / "proof.json")
    assert second.exit_code == 0, second.output
    again = run("audit", "witness", tmp_path / "cp2.txt", *witness_args)  # the same size and root: nothing to prove
    assert again.exit_code == 0
    wrong = run("audit", "witness", tmp_path / "cp2.txt", "--log-key", other_pub, "--key", tmp_path / "w.key",
                "--state", state)
    assert wrong.exit_code == 1 and "has no signature by log.example" in wrong.output


def test_the_service_gives_the_tree_and_the_proofs_and_never_holds_the_key(tmp_path, keys):
    # The auditor signs offline; an applicant's case system fetches the proof of its record over HTTP and checks
    # it against the auditor's checkpoint, without the log.
    from fastapi.testclient import TestClient

    from rules_engine.record.audit import TokenStore
    from rules_engine.record.checkpoint import parse_checkpoint, open_note
    from rules_engine.record.proofs import check_bundle
    from rules_service.app import Settings, create_app

    from conftest import RULES

    path = tmp_path / "log.sqlite"
    log = log_of(path, HISTORY)
    auditor = TokenStore(log).add("audit", "auditor")
    note = sign_checkpoint(log, keys[0], now=NOW)
    log.append(submission(b'{"later": 1}'), now=NOW)  # the log grew since
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(path))), raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {auditor}"}
    head = client.get("/v1/audit/tree", headers=headers).json()
    assert head["size"] == 4
    proof = client.get("/v1/audit/proof/2", params={"size": 3}, headers=headers).json()
    point = parse_checkpoint(open_note(note, keys[1]))
    assert proof["tree_size"] == point.size and proof["root"] == base64.b64encode(point.root).decode()
    assert check_bundle({**proof, "checkpoint": note}, keys[1])["record_id"] == log.get("2").record_id
    assert client.get("/v1/audit/proof/4", params={"size": 3}, headers=headers).status_code == 422
    consistency = client.get("/v1/audit/consistency", params={"from": 3}, headers=headers).json()
    assert consistency["old_size"] == 3 and consistency["new_size"] == 4
    assert client.get("/v1/audit/tree").status_code == 401


def test_the_stand_alone_verifier_checks_a_proof_with_nothing_of_the_engine(tmp_path):
    # Issue 22, item 5: docs/check_proof.py (standard library and cryptography, run as its own process, importing
    # nothing of this package) accepts the proofs `rules audit prove` makes, for every record of logs
    # of 1 to 7 records, and refuses a changed path, another record's hash, a wrong size or another key.
    import subprocess
    import sys

    checker = Path(__file__).resolve().parent.parent / "docs" / "check_proof.py"
    assert len(checker.read_text(encoding="utf-8").splitlines()) <= 80
    key = tmp_path / "signer.key"
    public = run("audit", "keygen", "auditor.example/rules-log", "-o", key).stdout.strip()
    other = run("audit", "keygen", "someone.else", "-o", tmp_path / "other.key").stdout.strip()

    def verdict(proof: dict, key_text: str = public) -> subprocess.CompletedProcess:
        (tmp_path / "p.json").write_text(json.dumps(proof), encoding="utf-8")
        return subprocess.run([sys.executable, "-I", str(checker), str(tmp_path / "p.json"), key_text],
                              capture_output=True, text=True, cwd=tmp_path)

    log = tmp_path / "log.sqlite"
    opened = log_of(log, HISTORY)
    for extra in range(4):  # 3 to 7 records
        point = run("audit", "checkpoint", "--key", key, "--log", log)
        (tmp_path / "cp.txt").write_text(point.stdout, encoding="utf-8")
        size = int(point.stdout.splitlines()[1])
        for seq in range(1, size + 1):
            proof = json.loads(run("audit", "prove", str(seq), "--log", log, "--checkpoint", tmp_path / "cp.txt",
                                   "--public-key", public).stdout)
            ok = verdict(proof)
            assert ok.returncode == 0 and f"is record {seq} of the {size} of auditor.example/rules-log" in ok.stdout
        if proof["proof"]:
            assert verdict(dict(proof, proof=[proof["proof"][0][::-1]] + proof["proof"][1:])).returncode == 1
        assert verdict(dict(proof, record_hash="0" * 64)).returncode == 1
        assert verdict(dict(proof, tree_size=size + 1)).returncode == 1
        refused = verdict(proof, other)
        assert refused.returncode == 1 and "not proven" in refused.stderr
        opened.append(submission(f'{{"extra": {extra}}}'.encode()), now=NOW + dt.timedelta(hours=extra + 1))
    opened.close()


EIGHT = [f'{{"LDE-{n:03d}": {n % 4}}}'.encode() for n in range(1, 9)]
ATTACKS = {  # the owner's history after the checkpoint of the eight, each chain recomputed so that it verifies
    "rewrite": [*EIGHT[:2], b'{"LDE-003": 9}', *EIGHT[3:]],
    "truncate 1": EIGHT[:7],
    "truncate 5": EIGHT[:3],
    "reorder": [*EIGHT[:3], EIGHT[4], EIGHT[3], *EIGHT[5:]],
    "insert": [*EIGHT[:4], b'{"LDE-999": 5}', *EIGHT[4:]],
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_attack_is_caught_by_the_checkpoint_the_witness_and_an_earlier_proof(tmp_path, keys, attack):
    # Issue 22, done when: a rewrite, a truncation of the last 1 and 5, a reorder and an insert, each with every
    # hash recomputed, are caught by verify --checkpoint, by the witness, and by the proof of an earlier decision.
    from rules_engine.record.proofs import consistency_bundle, witness

    honest = log_of(tmp_path / "honest.sqlite", EIGHT)
    before = sign_checkpoint(honest, keys[0], now=NOW)
    earlier = inclusion_bundle(honest, honest.get("1"), before, keys[1])  # an applicant's proof of record 1
    check_bundle(earlier, keys[1])
    forged = log_of(tmp_path / "forged.sqlite", ATTACKS[attack])
    assert forged.verify() == len(ATTACKS[attack])  # the chain alone sees nothing
    with pytest.raises(AuditFailure):
        check_checkpoint(forged, before, keys[1])
    after = sign_checkpoint(forged, keys[0], now=NOW + dt.timedelta(hours=1))
    w_secret, _w_public = generate("witness.example")
    proof = consistency_bundle(forged, 8) if len(ATTACKS[attack]) > 8 else None
    with pytest.raises(AuditFailure):
        witness(after, keys[1], signer(w_secret), before, proof)
    with pytest.raises(AuditFailure):  # the applicant's record, proven again against the log as it now is
        inclusion_bundle(forged, forged.get("1"), before, keys[1])
    honest.close()
    forged.close()


def test_a_proof_made_today_holds_after_a_thousand_more_records(tmp_path, keys):
    # ... and an honest log: the proof of record 1 made at 8 records, and a witness's view, stay good after 1,000
    # more records: the new tree is consistent with the old, and record 1 is proven in it.
    from rules_engine.record.proofs import consistency_bundle, witness

    log = log_of(tmp_path / "log.sqlite", EIGHT)
    today = sign_checkpoint(log, keys[0], now=NOW)
    proof = inclusion_bundle(log, log.get("1"), today, keys[1])
    for number in range(1000):
        log.append(submission(f'{{"more": {number}}}'.encode()), now=NOW + dt.timedelta(minutes=number + 10))
    later = sign_checkpoint(log, keys[0], now=NOW + dt.timedelta(days=1))
    w_secret, _w_public = generate("witness.example")
    assert witness(later, keys[1], signer(w_secret), today, consistency_bundle(log, 8)).startswith(later)
    assert check_bundle(proof, keys[1])["tree_size"] == 8
    assert check_bundle(inclusion_bundle(log, log.get("1"), later, keys[1]), keys[1])["tree_size"] == 1008
    log.close()
