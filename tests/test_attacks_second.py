"""Issue 18: the second attack on the log, the governance and the service, each finding from its recipe."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest

from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.record.audit import COLUMNS, record_hash

from conftest import AS_OF, RULES, example
from helpers import approver
from test_web import sign_in


def rules(*args, log=None):
    extra = ["--log", str(log)] if log is not None else []
    return CliRunner().invoke(main, [str(a) for a in args] + extra)


def _plant_copy(log, seq: int, new_seq: int, **changes) -> None:
    """The database owner copies record ``seq`` to ``new_seq`` with ``changes`` in its extra fields, and
    recomputes its hash so that the row is consistent in itself."""
    db = sqlite3.connect(str(log), isolation_level=None)
    names = COLUMNS + ("extra",)
    row = dict(zip(names, db.execute(f"SELECT {', '.join(names)} FROM records WHERE seq = ?", (seq,)).fetchone()))
    extra = json.loads(row["extra"])
    extra.update(changes)
    row.update(seq=new_seq, extra=json.dumps(extra, sort_keys=True, separators=(",", ":")))
    fields = {name: row[name] for name in COLUMNS if name not in ("output_encoding", "output", "hash")}
    row["hash"] = record_hash({**fields, **extra})
    db.execute(f"INSERT INTO records ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
               [row[n] for n in names])
    db.close()


def test_a_planted_row_below_the_chain_is_seen_by_verify_and_never_counts_as_an_approval(tmp_path):
    log = tmp_path / "log.sqlite"
    assert rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--token", approver(log, "alice"), log=log).exit_code == 0
    head = rules("audit", "head", log=log).stdout.strip()
    _plant_copy(log, 1, 0, requested_by="bob")  # a second approver nobody saw
    verify = rules("audit", "verify", "--head", head, log=log)
    assert verify.exit_code == 1 and "outside the chain" in verify.output, verify.output
    assert rules("audit", "verify", log=log).exit_code == 1
    decided = rules("evaluate", "sheltered-workshops", example("sheltered-workshops"), "--as-of", AS_OF,
                    "--rules-dir", RULES, "--as", "carol", "--require-approvals", "2", log=log)
    assert decided.exit_code == 1 and "internal error" not in decided.output
    for command in (("show", "0"), ("replay", "0"), ("explain", "0")):
        result = rules(*command, log=log)
        assert result.exit_code == 1 and "internal error" not in result.output, (command, result.output)


def test_a_planted_row_far_above_the_chain_is_seen(tmp_path):
    log = tmp_path / "log.sqlite"
    assert rules("approve", "lde@2018.1", "--rules-dir", RULES, "--token", approver(log, "alice"), log=log).exit_code == 0
    _plant_copy(log, 1, -7, requested_by="bob")
    verify = rules("audit", "verify", log=log)
    assert verify.exit_code == 1 and "outside the chain" in verify.output


def test_a_new_log_and_its_folder_are_private(tmp_path):
    log = tmp_path / "private" / "log.sqlite"
    assert rules("approve", "lde@2018.1", "--rules-dir", RULES, "--token", approver(log, "alice"), log=log).exit_code == 0
    assert stat.S_IMODE(os.stat(log).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(log.parent).st_mode) == 0o700


def test_a_copied_file_never_decides_officially(tmp_path):
    """Finding 3: a copy of the 2019 LDE draft that says 'published', evaluated by its path."""
    copy = tmp_path / "lde-2019.yaml"
    copy.write_text((RULES / "lde" / "lde-2019.yaml").read_text(encoding="utf-8")
                    .replace("status: draft", "status: published"), encoding="utf-8")
    log = tmp_path / "log.sqlite"
    result = rules("evaluate", copy, example("lde"), "--as-of", "2019-06-20", "--rules-dir", RULES, "--format", "json",
                   log=log)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "simulation"
    assert "named by its path" in result.stderr
    assert "official" not in rules("log", log=log).stdout.split("\n", 2)[-1]


def test_two_files_claiming_one_version_decide_nothing(tmp_path):
    """Finding 3: a second file that also says lde 2018.1, with one parameter changed."""
    folder = tmp_path / "rules"
    (folder / "lde").mkdir(parents=True)
    original = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    (folder / "lde" / "lde-2018.yaml").write_text(original, encoding="utf-8")
    (folder / "lde" / "zz-lde-2018.yaml").write_text(original.replace("value: 0.90", "value: 0.80"), encoding="utf-8")
    result = rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", folder, log=tmp_path / "l.sqlite")
    assert result.exit_code == 1 and "internal error" not in result.output
    assert "lde@2018.1 is claimed by two files" in result.output and "zz-lde-2018.yaml" in result.output
    assert not (tmp_path / "l.sqlite").exists() or "official" not in rules("log", log=tmp_path / "l.sqlite").stdout


def _site(tmp_path):
    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        token = TokenStore(opened).add("audit-office", "auditor")
    return create_app(Settings(rules_dir=str(RULES), log=str(log))), token


def test_docs_cannot_be_framed(tmp_path):
    from fastapi.testclient import TestClient

    app, _ = _site(tmp_path)
    response = TestClient(app).get("/docs")
    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_bad_filters_on_the_decisions_page_are_400(tmp_path):
    from fastapi.testclient import TestClient

    app, token = _site(tmp_path)
    client = TestClient(app, raise_server_exceptions=False)
    assert sign_in(client, token).status_code == 303
    for query in ("since=x", "until=2018-13-01"):
        page = client.get(f"/decisions?{query}")
        assert page.status_code == 400, query
        assert "Ongeldige vraag" in page.text and query.split("=")[1] in page.text
    assert client.get("/decisions?after=100000000000000000000").status_code in (200, 422)
    assert client.get("/decisions?after=4611686018427387905").status_code == 200


def test_an_approval_is_made_by_a_token_never_a_typed_name(tmp_path):
    """Finding 2: 'Ann', 'ann ' and 'ann' were three approvers; --as took any name."""
    log = tmp_path / "log.sqlite"
    typed = rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--as", "ann", log=log)
    assert typed.exit_code == 2 and "token" in typed.output
    assert rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--token", "rules_nope",
                 log=log).exit_code == 1
    evaluator = approver(log, "eve", role="evaluator")
    refused = rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--token", evaluator, log=log)
    assert refused.exit_code == 1 and "only an approver" in refused.output
    ann = approver(log, "ann")
    done = rules("approve", "sheltered-workshops@2018.1", "--rules-dir", RULES, "--token", ann, log=log)
    assert done.exit_code == 0 and "as ann" in done.output


def test_look_alike_names_are_one_approver(tmp_path):
    """Approvals logged before tokens decided (typed names) count once per person: NFKC, case, spaces."""
    from rules_engine.api import approve, resolve

    log = tmp_path / "log.sqlite"
    ruleset = resolve("sheltered-workshops@2018.1", RULES, AS_OF)
    from rules_engine.record.audit import DecisionLog

    with DecisionLog(log) as opened:
        for name in ("Ann", "ann ", "ann", "\uff41nn"):  # the last with a fullwidth a
            approve(opened, ruleset, name)
        assert len(opened.approvals(ruleset.sha256, _schema_sha(ruleset))) == 1
        assert opened.approvals(ruleset.sha256, _schema_sha(ruleset), exclude="ANN") == []
    decided = rules("evaluate", "sheltered-workshops", example("sheltered-workshops"), "--as-of", AS_OF,
                    "--rules-dir", RULES, "--as", "carol", "--require-approvals", "2", log=log)
    assert decided.exit_code == 1 and "has 1 approval(s)" in decided.output


def _schema_sha(ruleset) -> str:
    import hashlib

    return hashlib.sha256(ruleset.facts_schema_text.encode("utf-8")).hexdigest()


def test_the_author_never_approves_their_own_text(tmp_path):
    folder = tmp_path / "rules" / "lde"
    folder.mkdir(parents=True)
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    (folder / "lde-2018.yaml").write_text(text.replace("status: published\n", "status: published\nauthor: Policy-Team\n"),
                                          encoding="utf-8")
    log = tmp_path / "log.sqlite"
    own = rules("approve", "lde@2018.1", "--rules-dir", tmp_path / "rules", "--token", approver(log, "policy-team"),
                log=log)
    assert own.exit_code == 1 and "never approves their own text" in own.output
    other = rules("approve", "lde@2018.1", "--rules-dir", tmp_path / "rules", "--token", approver(log, "bob"), log=log)
    assert other.exit_code == 0, other.output


def test_a_read_only_reader_sees_what_is_committed_in_the_wal(tmp_path, monkeypatch):
    """Finding 4: with a writer's connection open, records live in the -wal file; an auditor who cannot write the
    folder read 1 record of 3 (immutable=1 ignores the -wal)."""
    from rules_engine.record import audit
    from rules_engine.record.audit import DecisionLog

    log = tmp_path / "log.sqlite"
    writer = DecisionLog(log)  # held open: SQLite does not checkpoint the -wal while it is
    try:
        for name in ("alice", "bob", "carol"):
            approver(log, name)
        db = sqlite3.connect(str(log))
        db.execute("PRAGMA wal_autocheckpoint = 0")
        db.close()
        for name in ("a1", "a2", "a3"):
            assert rules("approve", "lde@2018.1", "--rules-dir", RULES, "--token", approver(log, name),
                         log=log).exit_code == 0
        assert (tmp_path / "log.sqlite-wal").stat().st_size > 0
        monkeypatch.setattr(audit, "can_write", lambda folder: False)
        verify = rules("audit", "verify", log=log)
        assert verify.exit_code == 0 and "ok: 3 records" in verify.output, verify.output
    finally:
        writer.close()


def test_a_dry_run_never_looks_official(tmp_path):
    """Finding 6: --no-log and dry_run=true answered "kind": "official", also out of period and without approvals."""
    out_of_period = rules("evaluate", "lde@2018.1", example("lde"), "--as-of", "2020-01-01", "--rules-dir", RULES,
                          "--no-log", "--format", "json")
    assert out_of_period.exit_code == 0, out_of_period.output
    record = json.loads(out_of_period.stdout)
    assert record["kind"] == "dry-run"
    assert record["dry_run"]["would_be"] == "official" and record["dry_run"]["allowed"] is False
    assert "not in force on 2020-01-01" in record["dry_run"]["because"]
    assert "a dry run, not logged" in out_of_period.stderr and "refused" in out_of_period.stderr
    fine = json.loads(rules("evaluate", "lde", example("lde"), "--as-of", AS_OF, "--rules-dir", RULES, "--no-log",
                            "--format", "json").stdout)
    assert fine["dry_run"] == {"would_be": "official", "allowed": True, "because": None}

    from fastapi.testclient import TestClient

    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        secret = TokenStore(opened).add("case-system", "evaluator")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log), require_approvals=2)))
    dry = client.post("/v1/rulesets/lde/evaluate?as_of=2018-06-20&dry_run=true", content=example("lde").read_bytes(),
                      headers={"Authorization": f"Bearer {secret}", "content-type": "application/yaml"})
    assert dry.status_code == 200 and "location" not in dry.headers
    body = dry.json()
    assert body["kind"] == "dry-run" and body["dry_run"]["allowed"] is False and "needs 2" in body["dry_run"]["because"]


def _hostile_workbook(tmp_path, name: str, change) -> Path:
    """The LDE example as a workbook, with its first sheet's XML changed by ``change``."""
    import zipfile

    plain = tmp_path / "plain.xlsx"
    assert rules("facts", "convert", example("lde"), plain).exit_code == 0
    out = tmp_path / name
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, change(data) if info.filename == "xl/worksheets/sheet1.xml" else data)
    return out


BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>')
HOSTILE_WORKBOOKS = {
    "entities.xlsx": lambda xml: BOMB + xml.replace(b"<t>LDE-001</t>", b"<t>&lol2;</t>", 1),
    "external.xlsx": lambda xml: b'<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + xml.replace(
        b"<t>LDE-001</t>", b"<t>&x;</t>", 1),
    "bad-number.xlsx": lambda xml: xml.replace(b'<c r="E2" t="n"><v>3</v></c>', b'<c r="E2" t="n"><v>3+</v></c>', 1),
    "bad-formula.xlsx": lambda xml: xml.replace(b'<c r="E2" t="n"><v>3</v></c>',
                                                b'<c r="E2" t="e"><f>SUM(</f><v>#NAME?</v></c>', 1),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_WORKBOOKS))
def test_hostile_workbooks_are_refused_with_a_message(tmp_path, name):
    """Finding 8: a DOCTYPE (entities, external entities) or a malformed cell ended in 'internal error' and a 500."""
    path = _hostile_workbook(tmp_path, name, HOSTILE_WORKBOOKS[name])
    result = rules("evaluate", "lde", path, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log")
    assert result.exit_code == 1 and "internal error" not in result.output, result.output
    assert name in result.output and "root:" not in result.output
    from fastapi.testclient import TestClient

    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        secret = TokenStore(opened).add("policy-team", "policy-owner")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))), raise_server_exceptions=False)
    assert sign_in(client, secret).status_code == 303
    form = client.get("/simulate").text
    csrf = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    page = client.post("/simulate", data={"csrf": csrf, "spec": "lde@2018.1", "as_of": "2018-06-20"},
                       files={"facts_file": (name, path.read_bytes())})
    assert 400 <= page.status_code < 500 and "root:" not in page.text, page.status_code


@pytest.mark.parametrize("other, words", [
    ("LDE\u2011001", "looks the same as 'LDE-001'"),  # a non-breaking hyphen
    ("\uff2cDE-001", "looks the same as 'LDE-001'"),  # a fullwidth L
    ("LDE-0O1", "looks the same as 'LDE-001'"),  # a letter O for a zero
    ("LDE-001\u200b", "U+200B (ZERO WIDTH SPACE)"),
    ("LDE\u202e-001", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("LDE-\u0000001", "U+0000"),
])
def test_look_alike_and_hidden_ids_are_refused_at_their_position(tmp_path, other, words):
    """Finding 10: four ids that read as LDE-001 were four applicants, each granted FTE."""
    text = example("lde").read_text(encoding="utf-8")
    data = json.loads(rules("facts", "convert", example("lde"), tmp_path / "call.json").output and
                      (tmp_path / "call.json").read_text(encoding="utf-8"))
    data["applicants"][5]["id"] = other
    facts = tmp_path / "look-alike.json"
    facts.write_text(json.dumps(data, indent=1), encoding="utf-8")
    result = rules("evaluate", "lde", facts, "--as-of", AS_OF, "--rules-dir", RULES, "--no-log")
    assert result.exit_code == 1 and "internal error" not in result.output
    assert words in result.output and "applicants[5].id" in result.output, result.output
    assert text  # the example itself is untouched


def test_the_web_session_is_not_the_token_and_ends(tmp_path):
    """Finding 7: the cookie held the bearer token; after signing out it still opened the pages and the API."""
    from fastapi.testclient import TestClient

    from rules_engine.record.audit import DecisionLog, TokenStore

    app, token = _site(tmp_path)
    client = TestClient(app, raise_server_exceptions=False)
    assert sign_in(client, token).status_code == 303
    session = client.cookies.get("rules_session")
    assert session and token not in session
    assert client.get("/decisions").status_code == 200
    as_bearer = TestClient(app).get("/v1/decisions", headers={"Authorization": f"Bearer {session}"})
    assert as_bearer.status_code == 401  # the session id is no token
    page = client.get("/decisions").text
    form_csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    assert client.post("/logout", data={"csrf": form_csrf}, follow_redirects=False).status_code == 303
    replayed = TestClient(app, cookies={"rules_session": session}).get("/decisions", follow_redirects=False)
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/login")
    again = TestClient(app, raise_server_exceptions=False)
    assert sign_in(again, token).status_code == 303 and again.get("/decisions").status_code == 200
    with DecisionLog(tmp_path / "log.sqlite") as log:
        TokenStore(log).revoke("audit-office")
    assert again.get("/decisions", follow_redirects=False).status_code == 303  # a revoked token's session ends


def test_signing_in_needs_the_forms_csrf_value_and_our_origin(tmp_path):
    from fastapi.testclient import TestClient

    app, token = _site(tmp_path)
    client = TestClient(app, raise_server_exceptions=False)
    forged = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert forged.status_code == 403  # a post from a page that never showed our form
    form = client.get("/login").text
    value = form.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    elsewhere = client.post("/login", data={"token": token, "next": "/", "csrf": value},
                            headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert elsewhere.status_code == 403
    ours = client.post("/login", data={"token": token, "next": "/", "csrf": value},
                       headers={"Origin": "http://testserver"}, follow_redirects=False)
    assert ours.status_code == 303


def test_an_idle_session_ends(tmp_path):
    import datetime as dt

    from rules_engine.record.audit import DecisionLog, Sessions, TokenStore

    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        TokenStore(opened).add("alice", "auditor")
        sessions = Sessions(opened)
        start = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.timezone.utc)
        session = sessions.start("alice", start)
        assert sessions.token(session, start + dt.timedelta(minutes=29)).name == "alice"  # and it is touched
        assert sessions.token(session, start + dt.timedelta(minutes=58)).name == "alice"
        assert sessions.token(session, start + dt.timedelta(minutes=89)) is None  # 31 minutes idle
        late = sessions.start("alice", start)
        for minutes in range(20, 8 * 60, 20):  # busy all day: it still ends after 8 hours
            assert sessions.token(late, start + dt.timedelta(minutes=minutes)) is not None
        assert sessions.token(late, start + dt.timedelta(hours=8)) is None


def test_a_password_in_the_log_url_is_warned_about(tmp_path):
    """Finding 12: '--log postgresql://user:PASSWORD@...' shows the password in ps."""
    result = rules("log", log="postgresql://rules:hunter2@127.0.0.1:1/decisions")
    assert result.exit_code == 1 and "internal error" not in result.output
    assert "holds a password" in result.output and "PGPASSFILE" in result.output
    assert "hunter2" not in result.output  # and the messages never repeat it


def test_a_server_says_at_its_start_which_files_claim_one_version(tmp_path):
    from fastapi.testclient import TestClient

    from rules_service.app import Settings, create_app

    folder = tmp_path / "rules" / "lde"
    folder.mkdir(parents=True)
    original = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    (folder / "lde-2018.yaml").write_text(original, encoding="utf-8")
    (folder / "zz-lde-2018.yaml").write_text(original.replace("value: 0.90", "value: 0.80"), encoding="utf-8")
    ready = TestClient(create_app(Settings(rules_dir=str(tmp_path / "rules"), log=str(tmp_path / "l.sqlite")))).get("/readyz")
    assert ready.status_code == 503 and "zz-lde-2018.yaml" in ready.text


def test_only_the_logs_own_folder_is_made_private(tmp_path):
    log = tmp_path / "home" / ".local" / "share" / "rules" / "log.sqlite"
    assert rules("approve", "lde@2018.1", "--rules-dir", RULES, "--token", approver(log, "alice"), log=log).exit_code == 0
    assert stat.S_IMODE(os.stat(log.parent).st_mode) == 0o700
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(tmp_path / "home" / ".local").st_mode) == 0o777 & ~umask  # its parents as any folder
