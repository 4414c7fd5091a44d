"""The HTTP service in process (FastAPI's test client): bytes, roles, problems, hostile bodies, time limits.

Servers started as real processes (load, SIGKILL, a 200 MB body) are in ``test_service_live.py``.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from ruamel.yaml import YAML

from rules_cli.cli import main
from rules_engine.record.audit import DecisionLog, TokenStore
from rules_service.app import Settings, create_app

from conftest import AS_OF, RULES, RULESETS, example

HOSTILE = Path(__file__).parent / "hostile"
ROLES = ("evaluator", "policy-owner", "approver", "auditor", "admin")


@pytest.fixture
def service(tmp_path):
    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        store = TokenStore(opened)
        tokens = {role: store.add(role, role) for role in ROLES}
        tokens["revoked"] = store.add("gone", "admin")
        store.revoke("gone")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))), raise_server_exceptions=False)
    return client, tokens, log


def auth(token: str | None) -> dict:
    return {"Authorization": f"Bearer {token}"} if token else {}


def post_facts(client, token, ruleset, body: bytes, media="application/yaml", query="as_of=2018-06-20"):
    return client.post(f"/v1/rulesets/{ruleset}/evaluate?{query}", content=body,
                       headers={**auth(token), "content-type": media})


@pytest.mark.parametrize("ruleset", RULESETS)
def test_evaluate_over_http_is_the_cli_json_byte_for_byte_and_replays(service, ruleset):
    client, tokens, log = service
    response = post_facts(client, tokens["evaluator"], ruleset, example(ruleset).read_bytes())
    assert response.status_code == 201, response.text
    cli = CliRunner().invoke(main, ["evaluate", ruleset, str(example(ruleset)), "--as-of", str(AS_OF),
                                    "--rules-dir", str(RULES), "--format", "json", "--log", str(log) + ".cli"])
    assert response.content == cli.stdout_bytes
    seq = response.headers["location"].rsplit("/", 1)[1]
    replay = CliRunner().invoke(main, ["replay", seq, "--log", str(log)])
    assert replay.exit_code == 0 and "identical, byte for byte" in replay.stdout
    shown = client.get(f"/v1/decisions/{seq}", headers=auth(tokens["auditor"]))
    assert shown.content == response.content
    with DecisionLog(log, create=False) as opened:
        assert opened.get(seq).requested_by == "evaluator"  # who asked, inside the chain
    listing = CliRunner().invoke(main, ["log", "--log", str(log)])
    assert "evaluator" in listing.stdout.splitlines()[2]


def test_dry_run_is_not_logged(service):
    client, tokens, log = service
    response = post_facts(client, tokens["policy-owner"], "lde", example("lde").read_bytes(),
                          query="as_of=2018-06-20&dry_run=true&set=min_realisation_rate=0.93")
    assert response.status_code == 200 and "location" not in response.headers
    assert json.loads(response.content)["overrides"] == {"min_realisation_rate": 0.93}
    with DecisionLog(log, create=False) as opened:
        assert opened.head()[0] == 0


def _requests(tokens_fixture) -> dict:
    """One valid request per operation, and the roles that may make it."""
    facts = example("lde").read_bytes()
    rule_text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    everyone = set(ROLES)
    return {
        "rulesets": (("get", "/v1/rulesets", {}), everyone),
        "version": (("get", "/v1/rulesets/lde/versions/2018.1", {}), everyone),
        "evaluate": (("post", "/v1/rulesets/lde/evaluate?as_of=2018-06-20",
                      {"content": facts, "headers": {"content-type": "application/yaml"}}), {"evaluator", "admin"}),
        "dry-run": (("post", "/v1/rulesets/lde/evaluate?as_of=2018-06-20&dry_run=true",
                     {"content": facts, "headers": {"content-type": "application/yaml"}}),
                    {"evaluator", "policy-owner", "admin"}),
        "validate": (("post", "/v1/validate", {"content": rule_text.encode(), "headers": {"content-type": "text/yaml"}}),
                     {"policy-owner", "admin"}),
        "diff": (("post", "/v1/diff", {"json": {"old": "lde@2018.1", "new": "lde@2018.1", "as_of": "2018-06-20",
                                                "set": {"min_realisation_rate": "0.93"},
                                                "facts": json.loads(json.dumps(YAML(typ="safe").load(facts.decode()), default=str))}}),
                 {"policy-owner", "admin"}),
        "approve": (("post", "/v1/rulesets/lde/versions/2018.1/approve", {"json": {"note": "ok"}}),
                    {"approver", "admin"}),
        "decisions": (("get", "/v1/decisions", {}), {"auditor", "admin"}),
        "decision": (("get", "/v1/decisions/1", {}), {"auditor", "admin"}),
        "explain": (("get", "/v1/decisions/1/explain", {}), {"auditor", "admin"}),
        "explain-one": (("get", "/v1/decisions/1/explain/LDE-001?lang=en&format=json", {}), {"auditor", "admin"}),
        # record 1 is the admin's: an evaluator reads only the records it asked for
        "letter": (("get", "/v1/decisions/1/letter/LDE-001", {}), {"auditor", "admin"}),
        "replay": (("post", "/v1/decisions/1/replay", {}), {"auditor", "admin"}),
        "head": (("get", "/v1/audit/head", {}), {"auditor", "admin"}),
        "verify": (("post", "/v1/audit/verify", {"json": {}}), {"auditor", "admin"}),
    }


@pytest.mark.parametrize("operation", list(_requests(None)))
def test_every_cell_of_the_role_matrix(service, operation):
    client, tokens, _log = service
    assert post_facts(client, tokens["admin"], "lde", example("lde").read_bytes()).status_code == 201  # record 1
    (method, url, kwargs), allowed = _requests(tokens)[operation]
    for who in (None, "revoked", *ROLES):
        headers = {**kwargs.get("headers", {}), **auth(tokens.get(who) if who else None)}
        response = getattr(client, method)(url, **{**kwargs, "headers": headers})
        expected = (200, 201) if who in allowed else (401,) if who in (None, "revoked") else (403,)
        assert response.status_code in expected, (operation, who, response.status_code, response.text[:300])
        if response.status_code == 401:
            assert response.headers["www-authenticate"].startswith("Bearer")
        if response.status_code >= 400:
            assert response.headers["content-type"] == "application/problem+json"


def test_health_needs_no_token(service):
    client, _tokens, _log = service
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").status_code == 200
    assert "rules API" in client.get("/docs").text and "cdn" not in client.get("/docs").text.lower()
    assert client.get("/openapi.json").json()["paths"]["/v1/audit/verify"]


HOSTILE_FACTS = [c for c in YAML(typ="safe").load((HOSTILE / "cases.yaml").read_text()) if c["kind"] == "facts"]


@pytest.mark.parametrize("case", HOSTILE_FACTS, ids=lambda c: c["file"])
def test_hostile_corpus_as_a_body_gets_the_cli_message(service, case):
    client, tokens, _log = service
    media = "application/json" if case["file"].endswith(".json") else "application/yaml"
    response = post_facts(client, tokens["evaluator"], "lde", (HOSTILE / case["file"]).read_bytes(), media)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    body = response.json()
    messages = [p["message"] for p in body["problems"]]
    assert any(all(word in f"{p['field']}: {p['message']}" for word in case["words"]) for p in body["problems"]), messages
    where = case["where"].split(":")
    assert any(p["line"] == int(where[0]) and (len(where) < 2 or p["column"] == int(where[1])) for p in body["problems"])
    assert client.get("/healthz").status_code == 200


def test_json_problems_carry_a_pointer(service):
    client, tokens, _log = service
    facts = json.loads(json.dumps(YAML(typ="safe").load(example("lde").read_text()), default=str))
    facts["applicants"][1]["requested_fte"] = 0
    response = post_facts(client, tokens["evaluator"], "lde", json.dumps(facts).encode(), "application/json")
    problem = response.json()["problems"][0]
    assert response.status_code == 422 and problem["pointer"] == "/applicants/1/requested_fte"
    assert problem["field"].endswith("requested_fte") and problem["line"] == 1


@pytest.mark.parametrize("body, media, status, words", [
    (b"\xff\xfe not utf-8", "application/yaml", 422, "not valid UTF-8"),
    (b"a: &x [1]\nb: *x\n", "application/yaml", 422, "aliases"),
    (b"applicants: []", "text/csv", 415, "application/json"),
])
def test_bad_bodies(service, body, media, status, words):
    client, tokens, _log = service
    response = post_facts(client, tokens["evaluator"], "lde", body, media)
    assert response.status_code == status and words in response.text


@pytest.mark.parametrize("fault, words", [
    (("  fte: 155", "  fte: 1000000000000"), "must be <= 1000000"),
    (("  unit: 1", "  unit: 0.000000001"), "must be >= 0.001"),
    (("    when: assessment_sum >= params.min_assessment_sum",
      "    when: " + "count(quarters where " * 70 + "true" + ")" * 70 + " >= 0"), "nested more than 60"),
])
def test_hostile_rule_texts_are_refused_with_their_line(service, fault, words):
    client, tokens, _log = service
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    assert fault[0] in text
    text = text.replace(fault[0], fault[1], 1)
    response = client.post("/v1/validate", content=text.encode(),
                           headers={**auth(tokens["policy-owner"]), "content-type": "text/yaml"})
    assert response.status_code == 422 and words in response.text, response.text[:500]
    problem = response.json()["problems"][0]
    assert problem["file"] == "<rule text>" and problem["line"] > 1
    diff = client.post("/v1/diff", headers=auth(tokens["policy-owner"]),
                       json={"old": "lde@2018.1", "new": text, "facts": {"applicants": []}, "as_of": "2018-06-20"})
    assert diff.status_code == 422 and words in diff.text


def test_time_limit_answers_503_and_the_server_goes_on(tmp_path):
    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        token = TokenStore(opened).add("ev", "evaluator")
    slow = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log), time_limit=0.000001)))
    response = post_facts(slow, token, "lde", example("lde").read_bytes())
    assert response.status_code == 503 and "time limit" in response.json()["detail"]
    assert slow.get("/healthz").status_code == 200
    with DecisionLog(log, create=False) as opened:
        assert opened.head()[0] == 0  # nothing half-done was logged


def test_an_unexpected_error_is_a_500_with_an_id_and_no_traceback(service, monkeypatch):
    client, tokens, _log = service
    from rules_engine import api
    monkeypatch.setattr(api, "list_rulesets", lambda rules_dir: 1 / 0)
    response = client.get("/v1/rulesets", headers=auth(tokens["auditor"]))
    assert response.status_code == 500 and response.json()["error_id"]
    assert "Traceback" not in response.text and "ZeroDivision" not in response.text


def test_tokens_from_the_command_line(tmp_path):
    log = tmp_path / "log.sqlite"
    added = CliRunner().invoke(main, ["token", "add", "case-system", "--role", "evaluator", "--log", str(log)])
    assert added.exit_code == 0
    secret = added.stdout.strip()
    assert secret.startswith("rules_") and len(added.stdout.splitlines()) == 1
    assert secret not in log.read_bytes().decode("latin-1")  # only its hash is stored
    listing = CliRunner().invoke(main, ["token", "list", "--log", str(log)])
    assert "case-system" in listing.stdout and "evaluator" in listing.stdout
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log))))
    assert post_facts(client, secret, "lde", example("lde").read_bytes()).status_code == 201
    assert CliRunner().invoke(main, ["token", "revoke", "case-system", "--log", str(log)]).exit_code == 0
    assert post_facts(client, secret, "lde", example("lde").read_bytes()).status_code == 401
    again = CliRunner().invoke(main, ["token", "add", "Bad Name", "--role", "admin", "--log", str(log)])
    assert again.exit_code == 1 and "not a token name" in again.stderr


def test_a_changed_rule_file_is_picked_up_without_a_restart(tmp_path):
    rules_dir = tmp_path / "rules"
    shutil.copytree(RULES, rules_dir)
    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        token = TokenStore(opened).add("po", "policy-owner")
    client = TestClient(create_app(Settings(rules_dir=str(rules_dir), log=str(log))))
    query = "as_of=2018-06-20&dry_run=true"
    before = post_facts(client, token, "lde", example("lde").read_bytes(), query=query)
    assert json.loads(before.content)["allocated_fte"] == 155
    path = rules_dir / "lde" / "lde-2018.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("fte: 155", "fte: 100"), encoding="utf-8")
    after = post_facts(client, token, "lde", example("lde").read_bytes(), query=query)
    assert json.loads(after.content)["budget_fte"] == 100 and json.loads(after.content)["allocated_fte"] == 100


def test_the_library_takes_facts_as_parsed_data():
    from rules_engine import api
    data = json.loads(json.dumps(YAML(typ="safe").load(example("lde").read_text()), default=str))
    _ruleset, from_data, facts = api.evaluate("lde", data, AS_OF, RULES)
    _ruleset, from_file, _facts = api.evaluate("lde", example("lde"), AS_OF, RULES)
    assert facts.format == "json" and from_data["decisions"] == from_file["decisions"]


def test_four_eyes_over_http(tmp_path):
    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        store = TokenStore(opened)
        tokens = {name: store.add(name, role) for name, role in
                  (("case", "evaluator"), ("ann", "approver"), ("ben", "approver"), ("po", "policy-owner"))}
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log), require_approvals=2)))
    body = example("lde").read_bytes()
    approve = "/v1/rulesets/lde/versions/2018.1/approve"
    assert client.post(approve, headers=auth(tokens["po"]), json={}).status_code == 403  # a policy owner may not
    assert client.post(approve, headers=auth(tokens["ann"]), json={"note": "read it"}).status_code == 201
    refused = post_facts(client, tokens["case"], "lde", body)
    assert refused.status_code == 422 and refused.json()["type"] == "/problems/refused-by-governance"
    assert client.post(approve, headers=auth(tokens["ben"])).status_code == 201
    decided = post_facts(client, tokens["case"], "lde", body)
    assert decided.status_code == 201
    record = json.loads(decided.content)
    assert record["kind"] == "official" and [a["by"] for a in record["approvals"]] == ["ann", "ben"]
    simulation = post_facts(client, tokens["case"], "lde", body, query="as_of=2018-06-20&set=min_realisation_rate=0.93")
    assert simulation.status_code == 201 and json.loads(simulation.content)["kind"] == "simulation"


def test_found_by_schemathesis(service):
    """A cursor beyond SQLite's integers was a 500; a surrogate in a rule text's key broke the problem's JSON."""
    client, tokens, _log = service
    assert client.get("/v1/decisions?cursor=9223372036854775808", headers=auth(tokens["auditor"])).status_code == 400
    response = client.post("/v1/validate", content='{"\\ud800\\udc00": null}'.encode(),
                           headers={**auth(tokens["policy-owner"]), "content-type": "text/plain"})
    assert response.status_code == 422 and "lone surrogate" in response.text


@pytest.mark.parametrize("spec", ["..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd", "rules%2Flde%2Flde-2018.yaml",
                                  "lde@2018.1%2F..%2F..", "LDE"])
def test_no_request_can_name_a_file(service, spec):
    client, tokens, _log = service
    response = post_facts(client, tokens["evaluator"], spec, example("lde").read_bytes())
    assert response.status_code in (400, 404), response.text[:200]
    assert "root:" not in response.text
    diff = client.post("/v1/diff", headers=auth(tokens["policy-owner"]),
                       json={"old": "/etc/passwd", "new": "lde", "facts": {"applicants": []}})
    assert diff.status_code == 400 and "not a ruleset id" in diff.text


def test_a_dry_run_needs_no_readable_log(tmp_path):
    log = tmp_path / "log.sqlite"
    log.write_text("not a database")
    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log), no_auth=True)))
    response = post_facts(client, None, "lde", example("lde").read_bytes(), query="as_of=2018-06-20&dry_run=true")
    assert response.status_code == 200
    logged = post_facts(client, None, "lde", example("lde").read_bytes())
    assert logged.status_code == 503 and "not a decision log" in logged.text


def test_every_problem_type_answers_what_it_means(service):
    # Issue 23, item 2: a problem's type URI (/problems/forbidden) answered 404. Every title the service raises
    # has its page; an unknown one is 404.
    import re

    client, _tokens, _log = service
    source = "".join(p.read_text(encoding="utf-8") for p in (Path(__file__).parent.parent / "service").glob("*.py"))
    titles = set(re.findall(r'ProblemError\(\d+, "([^"]+)"', source))
    kinds = {re.sub(r"[^a-z]+", "-", t.lower()).strip("-") for t in titles}
    kinds |= {"invalid-input", "refused-by-governance", "idempotency-key-reused", "method-not-allowed"}
    wrong_method = client.delete("/v1/rulesets")
    assert wrong_method.status_code == 405 and wrong_method.json()["type"] == "/problems/method-not-allowed"
    for kind in sorted(kinds):
        page = client.get(f"/problems/{kind}")
        assert page.status_code == 200 and "HTTP " in page.text, kind
    assert client.get("/problems/no-such-thing").status_code == 404


def test_a_404_does_not_show_the_servers_rules_path_and_the_head_reads_as_it_was_given(service):
    client, tokens, _log = service
    missing = client.post("/v1/rulesets/nope/evaluate?as_of=2018-06-20", content=b"applicants: []",
                          headers={**auth(tokens["evaluator"]), "content-type": "application/yaml"})
    assert missing.status_code == 404 and str(RULES) not in missing.text and "the rules folder" in missing.json()["detail"]
    head = client.get("/v1/audit/head", headers=auth(tokens["auditor"])).json()
    for given in (head, f"{head['count']}:{head['hash']}"):
        verified = client.post("/v1/audit/verify", json={"head": given}, headers=auth(tokens["auditor"]))
        assert verified.status_code == 200 and verified.json()["ok"] is True
    bad = client.post("/v1/audit/verify", json={"head": "3:abc"}, headers=auth(tokens["auditor"]))
    assert bad.status_code == 400 and "--head" not in bad.text and "GET /v1/audit/head" in bad.json()["detail"]
    unauthorized = client.get("/v1/audit/head")
    assert unauthorized.status_code == 401 and "rules token add" not in unauthorized.text


def test_each_request_is_counted_timed_and_logged_as_one_json_line(service, caplog):
    # Issue 23, item 1: metrics and request logs. The route is the template (no applicant data in the log).
    import logging
    import re

    client, tokens, _log = service
    with caplog.at_level(logging.INFO, logger="rules.access"):
        answered = client.get("/v1/rulesets", headers={**auth(tokens["evaluator"]), "X-Request-Id": "abc-123"})
        client.get("/v1/decisions/999999", headers=auth(tokens["auditor"]))
    assert answered.headers["X-Request-Id"] == "abc-123"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "rules.access"]
    assert lines[0]["request_id"] == "abc-123" and lines[0]["route"] == "/v1/rulesets" and lines[0]["status"] == 200
    assert lines[1]["route"] == "/v1/decisions/{ref}" and lines[1]["status"] == 404 and "999999" not in json.dumps(lines[1])
    assert client.get("/metrics").status_code == 401
    text = client.get("/metrics", headers=auth(tokens["auditor"])).text
    assert 'rules_http_requests_total{method="GET",route="/v1/rulesets",status="200",worker="' in text
    assert 'route="/v1/decisions/{ref}",status="404"' in text
    count = re.search(r'rules_http_request_duration_seconds_count\{route="/v1/rulesets",worker="\d+"\} (\d+)', text)
    assert count and int(count.group(1)) == 1


def test_a_record_is_cached_by_its_hash_and_the_contract_declares_its_tokens(service):
    # Issue 23, item 2: immutable records carry an ETag (the chain hash) and may be kept; the OpenAPI document
    # declares the bearer tokens (and that the health checks need none).
    client, tokens, _log = service
    response = post_facts(client, tokens["evaluator"], "lde", example("lde").read_bytes())
    location = response.headers["location"]
    first = client.get(location, headers=auth(tokens["auditor"]))
    tag = first.headers["etag"]
    assert first.status_code == 200 and "immutable" in first.headers["cache-control"] and len(tag) == 66
    again = client.get(location, headers={**auth(tokens["auditor"]), "If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    other = client.get(location, headers={**auth(tokens["auditor"]), "If-None-Match": '"0000"'})
    assert other.status_code == 200
    spec = client.get("/openapi.json").json()
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer" and spec["security"] == [{"bearer": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []


def test_the_api_can_be_tried_from_the_browser_without_a_cdn(tmp_path):
    # Issue 23, item 4: /docs/try: Swagger UI served by this server itself (the swagger-ui-py package), on
    # /openapi.json; nothing is fetched from elsewhere.
    import re

    from fastapi.testclient import TestClient

    from rules_service.app import Settings, create_app

    from conftest import RULES

    client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(tmp_path / "log.sqlite"))))
    assert 'href="/docs/try"' in client.get("/docs").text
    page = client.get("/docs/try")
    assert page.status_code == 200 and "script-src" not in page.headers["content-security-policy"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") for s in sources), sources  # all from this server
    for source in sources:
        assert client.get(source).status_code == 200, source
    assert "SwaggerUIBundle" in client.get("/docs/swagger/swagger-ui-bundle.js").text
    assert '"/openapi.json"' in client.get("/static/try.js").text
