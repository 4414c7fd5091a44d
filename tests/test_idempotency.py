"""Issue 19: a decision is made once. An Idempotency-Key answers a retry with the first response."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import httpx
from click.testing import CliRunner
from fastapi.testclient import TestClient

from rules_cli.cli import main
from rules_engine.record.audit import DecisionLog, TokenStore
from rules_service.app import Settings, create_app

from conftest import AS_OF, RULES, example

BODY = example("sheltered-workshops").read_bytes()
URL = "/v1/rulesets/sheltered-workshops/evaluate?as_of=2018-06-20"
FIXTURES = Path(__file__).parent / "fixtures"


def _tokens(log, *roles) -> list[str]:
    with DecisionLog(log) as opened:
        return [TokenStore(opened).add(f"{role}-{i}", role) for i, role in enumerate(roles)]


def _post(client, secret, key=None, body=BODY, url=URL):
    headers = {"Authorization": f"Bearer {secret}", "content-type": "application/yaml"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(url, content=body, headers=headers)


def _records(log) -> int:
    with DecisionLog(log, create=False) as opened:
        return opened.verify()


def test_a_retried_call_is_answered_with_the_first_decision(tmp_path):
    log = tmp_path / "log.sqlite"
    secret, = _tokens(log, "evaluator")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    first, again = _post(client, secret, "call-2018-a"), _post(client, secret, "call-2018-a")
    assert first.status_code == again.status_code == 201
    assert first.headers["location"] == again.headers["location"]
    assert first.content == again.content
    assert _records(log) == 1
    other = _post(client, secret, "call-2018-b")  # another key is another decision
    assert other.status_code == 201 and other.headers["location"] != first.headers["location"]
    assert _records(log) == 2
    without = _post(client, secret)
    assert without.status_code == 201 and _records(log) == 3


def test_the_same_key_for_another_request_is_422(tmp_path):
    log = tmp_path / "log.sqlite"
    secret, = _tokens(log, "evaluator")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    assert _post(client, secret, "k1").status_code == 201
    changed = _post(client, secret, "k1", body=BODY.replace(b"requested_fte: 20", b"requested_fte: 21", 1))
    assert changed.status_code == 422 and "Idempotency" in changed.json()["title"]
    other_day = _post(client, secret, "k1", url=URL.replace("2018-06-20", "2018-06-21"))
    assert other_day.status_code == 422
    assert _records(log) == 1
    bad = _post(client, secret, "k" * 300)  # a key is at most 255 characters
    assert bad.status_code == 400


def test_two_callers_keys_never_meet(tmp_path):
    log = tmp_path / "log.sqlite"
    one, two = _tokens(log, "evaluator", "evaluator")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    assert _post(client, one, "same").status_code == 201
    assert _post(client, two, "same").status_code == 201
    assert _records(log) == 2


def test_an_approval_is_made_once(tmp_path):
    log = tmp_path / "log.sqlite"
    secret, = _tokens(log, "approver")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    headers = {"Authorization": f"Bearer {secret}", "Idempotency-Key": "approve-1"}
    url = "/v1/rulesets/lde/versions/2018.1/approve"
    first, again = client.post(url, headers=headers), client.post(url, headers=headers)
    assert first.status_code == again.status_code == 201 and first.json()["seq"] == again.json()["seq"] == 1
    assert _records(log) == 1


def test_the_command_line_takes_a_key_too(tmp_path):
    log = tmp_path / "log.sqlite"
    args = ["evaluate", "lde", str(example("lde")), "--as-of", AS_OF.isoformat(), "--rules-dir", str(RULES),
            "--log", str(log), "--format", "json", "--idempotency-key", "lde-2018"]
    first, again = CliRunner().invoke(main, args), CliRunner().invoke(main, args)
    assert first.exit_code == again.exit_code == 0, again.output
    assert first.stdout == again.stdout
    assert "logged as record 1" in first.stderr and "already logged as record 1" in again.stderr
    assert _records(log) == 1


def test_a_log_of_format_2_takes_keys_after_its_upgrade_and_keeps_its_head(tmp_path):
    log = tmp_path / "format2.sqlite"
    shutil.copy(FIXTURES / "format2.sqlite", log)
    head = CliRunner().invoke(main, ["audit", "head", "--log", str(log)]).stdout.strip()
    assert head.startswith("3:")
    assert "3 identical" in CliRunner().invoke(main, ["replay", "--all", "--log", str(log)]).stdout
    secret, = _tokens(log, "evaluator")  # opening it to write upgrades it
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    assert _post(client, secret, "k").status_code == 201 and _post(client, secret, "k").status_code == 201
    verify = CliRunner().invoke(main, ["audit", "verify", "--head", head, "--log", str(log)])
    assert verify.exit_code == 0 and "4 records" in verify.output, verify.output


def test_a_changed_key_table_is_caught(tmp_path):
    import sqlite3

    log = tmp_path / "log.sqlite"
    secret, = _tokens(log, "evaluator")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    assert _post(client, secret, "k").status_code == 201
    db = sqlite3.connect(str(log), isolation_level=None)
    db.execute("UPDATE idempotency SET seq = 7")
    db.close()
    verify = CliRunner().invoke(main, ["audit", "verify", "--log", str(log)])
    assert verify.exit_code == 1 and "idempotency key" in verify.output


def _same_moment(urls, secret, key) -> list:
    barrier, results = threading.Barrier(len(urls)), []

    def send(url):
        with httpx.Client(base_url=url, timeout=120) as client:
            barrier.wait()
            results.append(_post(client, secret, key))
    threads = [threading.Thread(target=send, args=(url,)) for url in urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return results


def _one_record_for_one_key(log, make_server) -> None:
    secret, = _tokens(log, "evaluator")
    with make_server() as one, make_server() as two:
        for attempt in range(3):  # a few rounds: each sends one key to both servers at once
            results = _same_moment([one.url, two.url, one.url, two.url], secret, f"same-moment-{attempt}")
            assert [r.status_code for r in results] == [201] * 4
            assert len({r.headers["location"] for r in results}) == 1
            assert len({r.content for r in results}) == 1
    with DecisionLog(log, create=False) as opened:
        assert opened.verify() == 3
        assert [json.loads(e.text)["kind"] for e in opened.entries()] == ["official"] * 3


def test_two_servers_get_one_key_at_the_same_moment(tmp_path):
    from service_process import Server

    log = tmp_path / "log.sqlite"
    _one_record_for_one_key(log, lambda: Server(log, workers=1))


def test_two_servers_on_postgresql_get_one_key_at_the_same_moment(postgres):
    from service_process import Server

    dsn = postgres.database()
    _one_record_for_one_key(dsn, lambda: Server(dsn, workers=1))
