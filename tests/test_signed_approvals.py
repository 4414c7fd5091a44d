"""Signed approvals (issue 22, item 6): an approval counts only when the approver signed it with their own key."""
from __future__ import annotations

import json

from click.testing import CliRunner

from rules_cli.cli import main

from conftest import EXAMPLES, RULES
from helpers import approver

CALL = EXAMPLES / "sheltered-workshops-2018.yaml"


def rules(*args, env=None):
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


def keys(tmp_path, name):
    """The approver's key pair: the signing key in a file only they hold, the public key as keygen prints it."""
    path = tmp_path / f"{name.replace('/', '_')}.key"
    made = rules("audit", "keygen", name, "-o", path)
    assert made.exit_code == 0, made.output
    return path, made.stdout.strip()


def official(log, allowed, *more):
    return rules("evaluate", "sheltered-workshops", CALL, "--as-of", "2018-06-20", "--rules-dir", RULES, "--log", log,
                 "--require-approvals", "1", "--allowed-signers", allowed, "--as", "clerk", *more)


def test_a_signed_approval_counts_and_a_row_the_database_owner_adds_does_not(tmp_path):
    log = tmp_path / "log.sqlite"
    alice_key, alice_public = keys(tmp_path, "alice")  # held by alice alone; her public key goes to the auditor
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"# approvers of the social economy division\n{alice_public}\n", encoding="utf-8")
    # the database's owner makes an approver token and approves without alice's key: a row like any other
    forged = rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--token", approver(log, "mallory"),
                   "--log", log)
    assert forged.exit_code == 0, forged.output
    # ...and even a key of their own, named alice, for a token named alice
    owner = tmp_path / "owner"
    owner.mkdir()
    fake_key, _fake_public = keys(owner, "alice")
    alice_token = approver(log, "alice")
    faked = rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--token", alice_token, "--log", log,
                  "--sign-with", fake_key)
    assert faked.exit_code == 0, faked.output
    refused = official(log, allowed)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "0 approval(s) signed by an allowed key" in refused.output
    assert "(2 more without such a signature do not count)" in refused.output
    verify = rules("audit", "verify", "--log", log, "--allowed-signers", allowed)
    assert verify.exit_code == 1 and "record 1" in verify.output and "record 2" in verify.output
    # alice signs with her own key: it counts
    signed = rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--token", alice_token, "--log", log,
                   "--sign-with", alice_key, "--note", "signed")
    assert signed.exit_code == 0, signed.output
    decided = official(log, allowed, "--format", "json")
    assert decided.exit_code == 0, decided.output
    assert [a["by"] for a in json.loads(decided.stdout)["approvals"]] == ["mallory", "alice"]  # as relied on, all
    # without the allowed signers, every approval counts as before
    assert rules("evaluate", "sheltered-workshops", CALL, "--as-of", "2018-06-20", "--rules-dir", RULES, "--log", log,
                 "--require-approvals", "2", "--as", "clerk").exit_code == 0
    assert rules("replay", "--all", "--log", log).exit_code == 0


def test_the_signature_binds_the_text_and_the_approver(tmp_path):
    from rules_engine.policy.signing import signed_by, statement
    from rules_engine.record.checkpoint import generate, signer, verifier

    secret, public = generate("alice")
    key, allowed = signer(secret), (verifier(public),)
    approval = {"ruleset": "lde", "version": "2018.1", "ruleset_sha256": "a" * 64, "facts_schema_sha256": "b" * 64,
                "by": "alice"}
    note = key.sign(statement("lde", "2018.1", "a" * 64, "b" * 64, "alice"))
    assert signed_by(dict(approval, signature=note), allowed) == allowed[0]
    assert signed_by(dict(approval, signature=note, ruleset_sha256="c" * 64), allowed) is None  # another text
    assert signed_by(dict(approval, signature=note, by="bob"), allowed) is None  # claimed for another person
    assert signed_by(approval, allowed) is None  # no signature
    assert signed_by(dict(approval, signature=note.replace("rules approval", "rules approvaL")), allowed) is None


def test_a_key_that_is_not_the_approvers_own_is_refused(tmp_path):
    log = tmp_path / "log.sqlite"
    bob_key, _ = keys(tmp_path, "bob")
    result = rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--token", approver(log, "alice"),
                   "--log", log, "--sign-with", bob_key)
    assert result.exit_code == 1 and "the key is bob's" in result.output


def test_a_key_file_that_cannot_be_written_is_a_message(tmp_path):
    result = rules("audit", "keygen", "alice", "-o", tmp_path / "no" / "such" / "alice.key")
    assert result.exit_code == 1 and "cannot write the signing key here" in result.output


def test_a_bad_allowed_signers_file_is_named_at_its_line(tmp_path):
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("# keys\nnot a key\n", encoding="utf-8")
    result = rules("audit", "verify", "--log", tmp_path / "log.sqlite", "--allowed-signers", allowed)
    assert result.exit_code == 1 and f"{allowed}:2:1: not a public key" in result.output


def test_a_signature_made_elsewhere_over_http(tmp_path):
    # The approver signs on their own machine (the server never holds the key) and sends the note with the approval.
    from fastapi.testclient import TestClient

    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_engine.policy.signing import read_allowed
    from rules_service.app import Settings, create_app

    log = tmp_path / "log.sqlite"
    alice_key, alice_public = keys(tmp_path, "alice")
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(alice_public + "\n", encoding="utf-8")
    with DecisionLog(log, create=True) as opened:
        alice, clerk = TokenStore(opened).add("alice", "approver"), TokenStore(opened).add("clerk", "evaluator")
    note = rules("audit", "sign-approval", "sheltered-workshops@2018.1", "--key", alice_key, "--rules-dir", RULES,
                 "--log", log)
    assert note.exit_code == 0 and note.stdout.startswith("rules approval\nsheltered-workshops 2018.1\n"), note.output
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log), require_approvals=1,
                                            signers=read_allowed(allowed))), raise_server_exceptions=False)
    url = "/v1/rulesets/sheltered-workshops/versions/2018.1/approve"
    other = rules("audit", "sign-approval", "sheltered-workshops@2019.1", "--key", alice_key, "--rules-dir", RULES,
                  "--log", log).stdout
    wrong = client.post(url, json={"signature": other}, headers={"Authorization": f"Bearer {alice}"})
    assert wrong.status_code == 422 and "not this approval's" in wrong.text
    call = {"Authorization": f"Bearer {clerk}", "content-type": "application/yaml"}
    evaluate = "/v1/rulesets/sheltered-workshops/evaluate?as_of=2018-06-20"
    unsigned = client.post(url, json={"note": "no key"}, headers={"Authorization": f"Bearer {alice}"})
    assert unsigned.status_code == 201
    refused = client.post(evaluate, content=CALL.read_bytes(), headers=call)  # unsigned: not counted
    assert refused.status_code == 422 and "signed by an allowed key" in refused.json()["detail"]
    signed = client.post(url, json={"signature": note.stdout}, headers={"Authorization": f"Bearer {alice}"})
    assert signed.status_code == 201, signed.text
    decided = client.post(evaluate, content=CALL.read_bytes(), headers=call)
    assert decided.status_code in (200, 201), decided.text


def test_the_server_signs_checkpoints_as_the_log_grows(tmp_path):
    # Issue 22, item 2: rules serve --checkpoint-key KEY --checkpoint-every N: GET /v1/audit/checkpoint
    from fastapi.testclient import TestClient

    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    log = tmp_path / "log.sqlite"
    key, public = keys(tmp_path, "rules.example.org/log")
    with DecisionLog(log, create=True) as opened:
        reader = TokenStore(opened).add("reader", "auditor")
    assert rules("evaluate", "lde", EXAMPLES / "lde-2018.yaml", "--as-of", "2018-06-20", "--rules-dir", RULES,
                 "--log", log).exit_code == 0
    auth = {"Authorization": f"Bearer {reader}"}
    unsigned = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))), raise_server_exceptions=False)
    assert unsigned.get("/v1/audit/checkpoint", headers=auth).status_code == 404
    often = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log), checkpoint_key=str(key),
                                           checkpoint_every=0)), raise_server_exceptions=False)
    first = often.get("/v1/audit/checkpoint", headers=auth)
    assert first.status_code == 200 and first.text.startswith("rules.example.org/log\n1\n"), first.text
    saved = tmp_path / "checkpoint.txt"
    saved.write_text(first.text, encoding="utf-8")
    assert rules("audit", "verify", "--log", log, "--checkpoint", saved, "--public-key", public).exit_code == 0
    assert often.get("/v1/audit/checkpoint", headers=auth).text == first.text  # the log has not grown: the same
    assert rules("evaluate", "lde", EXAMPLES / "lde-2018.yaml", "--as-of", "2018-06-20", "--rules-dir", RULES,
                 "--log", log, "--simulate").exit_code == 0
    grown = often.get("/v1/audit/checkpoint", headers=auth)
    assert grown.text.startswith("rules.example.org/log\n2\n")
    seldom = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log), checkpoint_key=str(key),
                                            checkpoint_every=3600)), raise_server_exceptions=False)
    kept = seldom.get("/v1/audit/checkpoint", headers=auth).text
    assert rules("evaluate", "lde", EXAMPLES / "lde-2018.yaml", "--as-of", "2018-06-20", "--rules-dir", RULES,
                 "--log", log, "--simulate").exit_code == 0
    assert seldom.get("/v1/audit/checkpoint", headers=auth).text == kept  # at most one an hour
    # a decision's proof from the service, against the server's signed checkpoint: checked with its public key only
    proof = seldom.get("/v1/decisions/1/proof", headers=auth)
    assert proof.status_code == 200 and proof.json()["checkpoint"] == kept, proof.text
    (tmp_path / "proof.json").write_text(proof.text, encoding="utf-8")
    checked = rules("audit", "check-proof", tmp_path / "proof.json", "--public-key", public)
    assert checked.exit_code == 0 and "is record 1 of the 2" in checked.stdout, checked.output
    bare = unsigned.get("/v1/decisions/1/proof", headers=auth)
    assert bare.status_code == 200 and bare.json()["checkpoint"] is None
