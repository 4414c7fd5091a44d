"""The web pages, through the ASGI app: sign-in, roles, CSRF, hostile uploads, escaping, and the page
structure every page must have (language, labels, header cells). The browser walks are in
test_web_browser.py."""
from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rules_cli.cli import main
from rules_engine.record.audit import DecisionLog, TokenStore
from rules_service.app import Settings, create_app

from conftest import RULES, example

HOSTILE = Path(__file__).parent / "hostile"
ROLES = ("evaluator", "policy-owner", "approver", "auditor", "admin")


@pytest.fixture
def site(tmp_path, runner):
    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        store = TokenStore(opened)
        tokens = {role: store.add(role.replace("-", ""), role) for role in ROLES}
    result = runner.invoke(main, ["evaluate", "sheltered-workshops", str(example("sheltered-workshops")), "--as-of",
                                  "2018-06-20", "--rules-dir", str(RULES), "--log", str(log)])
    assert result.exit_code == 0, result.output
    app = create_app(Settings(rules_dir=str(RULES), log=str(log)))
    return app, tokens, log


def sign_in(client: TestClient, token: str, next_path: str = "/"):
    """Sign in as a browser does: the form first (its CSRF value, also in a cookie), then the post."""
    form = client.get("/login")
    return client.post("/login", data={"token": token, "next": next_path, "csrf": csrf(form.text)},
                       follow_redirects=False)


def signed_in(app, token: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    response = sign_in(client, token)
    assert response.status_code == 303
    return client


def csrf(page: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def test_signing_in_sets_a_strict_httponly_cookie(site):
    app, tokens, _log = site
    client = TestClient(app)
    response = sign_in(client, tokens["auditor"], "/decisions")
    assert response.status_code == 303 and response.headers["location"] == "/decisions"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert "secure" not in cookie  # plain HTTP here; over TLS the cookie is Secure
    wrong = sign_in(client, "nope")
    assert wrong.status_code == 401 and "onbekend of ingetrokken" in wrong.text


def test_without_a_session_every_page_sends_you_to_sign_in(site):
    app, _tokens, _log = site
    client = TestClient(app)
    for path in ("/", "/rules", "/check", "/simulate", "/compare", "/decisions", "/decisions/1", "/integrity"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path


def test_no_open_redirect_after_signing_in(site):
    app, tokens, _log = site
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        response = sign_in(TestClient(app), tokens["admin"], target)
        assert response.headers["location"] == "/"


@pytest.mark.parametrize("role, path", [("policy-owner", "/decisions"), ("policy-owner", "/integrity"),
                                         ("auditor", "/check"), ("auditor", "/compare"), ("evaluator", "/check"),
                                         ("approver", "/simulate"), ("policy-owner", "/decisions/1")])
def test_a_role_cannot_reach_another_roles_page(site, role, path):
    app, tokens, _log = site
    response = signed_in(app, tokens[role]).get(path)
    assert response.status_code == 403
    assert "<h1>Geen toegang</h1>" in response.text and '<html lang="nl">' in response.text


@pytest.mark.parametrize("path, data", [("/check", {"rule_text": "x: 1"}), ("/decisions/1/replay", {}),
                                        ("/integrity", {"head": ""}), ("/logout", {}),
                                        ("/simulate", {"spec": "lde@2018.1", "example": "lde-2018.yaml"})])
def test_a_form_posted_without_its_csrf_token_is_refused(site, path, data):
    app, tokens, _log = site
    client = signed_in(app, tokens["admin"])
    assert client.post(path, data=data).status_code == 403
    assert client.post(path, data={**data, "csrf": "0" * 64}).status_code == 403
    other = signed_in(app, tokens["auditor"])  # a token of another session does not do either
    foreign = csrf(other.get("/integrity").text)
    assert client.post(path, data={**data, "csrf": foreign}).status_code == 403


def test_a_description_with_a_script_renders_as_text(site):
    app, tokens, _log = site
    client = signed_in(app, tokens["policy-owner"])
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8").replace(
        "description: Een project heeft", "description: <script>alert(1)</script> Een project heeft", 1)
    text = text.replace("title: Lokale", "title: <script>alert('t')</script> Lokale", 1)
    page = client.post("/check", data={"csrf": csrf(client.get("/check").text), "rule_text": text}).text
    assert "<script>" not in page and "&lt;script&gt;alert(&#39;t&#39;)&lt;/script&gt;" in page


@pytest.mark.parametrize("name", sorted(p.name for p in HOSTILE.glob("*") if p.suffix in (".yaml", ".json")
                                        and p.name not in ("cases.yaml",)))
def test_a_hostile_upload_shows_the_message_of_the_command_line(site, runner, name, tmp_path):
    app, tokens, _log = site
    client = signed_in(app, tokens["policy-owner"])
    path = HOSTILE / name
    cli = runner.invoke(main, ["evaluate", "lde", str(path), "--as-of", "2018-06-20", "--rules-dir", str(RULES),
                               "--no-log"])
    shown = {}
    for lang in ("en", "nl"):  # the command line speaks English; a Dutch page names the same place
        client.get(f"/lang/{lang}")
        page = client.post("/simulate", data={"csrf": csrf(client.get("/simulate").text), "spec": "lde@2018.1",
                                              "as_of": "2018-06-20"},
                           files={"facts_file": (name, path.read_bytes())})
        assert page.status_code in (200, 422) and "Traceback" not in page.text
        found = re.search(r'<pre class="error" role="alert">(.*?)</pre>', page.text, re.S)
        shown[lang] = _unescape(found.group(1)) if found else None
    if cli.exit_code == 1:
        first = cli.stderr.strip().splitlines()[0].replace(str(path), name)
        assert _unescape(first) in shown["en"]
        assert first.split(": ", 1)[0] in shown["nl"]


def _unescape(text: str) -> str:
    import html

    return html.unescape(text)


class _Page(HTMLParser):
    """What a page's structure check needs: its language, links, fields and their labels, tables."""

    def __init__(self):
        super().__init__()
        self.lang, self.links, self.fields, self.labels, self.tables, self.headers = None, [], [], set(), 0, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.lang = a.get("lang")
        elif tag == "a" and a.get("href", "").startswith("/") and "download" not in a:
            self.links.append(a["href"].split("#")[0])
        elif tag in ("input", "select", "textarea") and a.get("type") != "hidden":
            self.fields.append(a.get("id"))
        elif tag == "label":
            self.labels.add(a.get("for"))
        elif tag == "table":
            self.tables += 1
        elif tag == "th":
            self.headers += 1


def test_every_page_is_reachable_from_the_start_and_well_formed(site):
    """Follow every link from / (as an admin): each page declares its language, labels every field,
    and gives its tables header cells."""
    app, tokens, _log = site
    client = signed_in(app, tokens["admin"])
    seen, queue = set(), ["/"]
    while queue and len(seen) < 60:
        path = queue.pop(0)
        if path in seen or path.startswith(("/static", "/lang", "/decisions/1/record")):
            continue
        seen.add(path)
        response = client.get(path)
        assert response.status_code == 200, path
        page = _Page()
        page.feed(response.text)
        assert page.lang == "nl", path
        assert all(field and field in page.labels for field in page.fields), (path, page.fields, page.labels)
        assert page.headers >= page.tables, path
        queue += [link for link in page.links if link not in seen]
    for expected in ("/rules", "/rules/sheltered-workshops/2018.1", "/check", "/simulate", "/compare", "/decisions",
                     "/decisions/1", "/integrity"):
        assert expected in seen, expected


def test_english_on_a_switch(site):
    app, tokens, _log = site
    client = signed_in(app, tokens["admin"])
    client.get("/lang/en?back=/rules", follow_redirects=False)
    page = client.get("/rules").text
    assert '<html lang="en">' in page and "Every ruleset, its versions" in page


def test_the_texts_exist_in_both_languages():
    from rules_service.texts import TEXTS

    assert set(TEXTS["nl"]) == set(TEXTS["en"])


def test_pages_forbid_framing_and_foreign_content(site):
    app, tokens, _log = site
    response = signed_in(app, tokens["admin"]).get("/rules")
    assert response.headers["content-security-policy"].startswith("default-src 'self'")
    assert response.headers["x-frame-options"] == "DENY"
    assert "http://" not in response.text and "https://" not in response.text  # no CDN, nothing fetched elsewhere


def test_a_draft_runs_its_own_test_cases(site):
    app, tokens, _log = site
    client = signed_in(app, tokens["policy-owner"])
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    cases = (RULES / "lde" / "tests" / "lde-2018.yaml").read_text(encoding="utf-8")
    token = csrf(client.get("/check").text)
    page = client.post("/check", data={"csrf": token, "rule_text": text, "tests_text": cases}).text
    assert page.count("geslaagd") == 2 and "mislukt" not in page
    wrong = cases.replace("D: {eligible: true, tier: 3, rank: 3, allocated_fte: 5}",
                          "D: {eligible: true, tier: 3, rank: 3, allocated_fte: 6}")
    page = client.post("/check", data={"csrf": token, "rule_text": text, "tests_text": wrong}).text
    assert "mislukt" in page and "D.allocated_fte: expected 6, got 5" in page
    broken = client.post("/check", data={"csrf": token, "rule_text": text, "tests_text": "cases: 3"}).text
    assert "&lt;tests&gt;:1:8: cases: must be" in broken


def test_a_motivation_links_to_the_rules_it_cites(site):
    app, tokens, _log = site
    page = signed_in(app, tokens["auditor"]).get("/decisions/1?applicant=BW-008").text
    assert 'href="/rules/sheltered-workshops/2018.1#rule-complete_reference_period"' in page
    assert "Er ontbreekt: 2017Q1." in page


def test_pages_speak_dutch_values_and_numbers(site):
    """Issue 19, item 5: no 'official' or '17.0' on a Dutch page; what changed, with its Δ."""
    app, tokens, _log = site
    auditor = signed_in(app, tokens["auditor"])
    listing = auditor.get("/decisions").text
    assert "<td>officieel</td>" in listing and "<td>official</td>" not in listing
    with DecisionLog(_log, create=False) as opened:
        record_id = next(iter(opened.entries())).record_id
    assert f"<code>{record_id}</code>" in listing  # each record by its own id
    assert f"<code>{record_id}</code>" in auditor.get("/decisions/1").text
    owner = signed_in(app, tokens["policy-owner"])
    rules_page = owner.get("/rules").text
    assert "ontwerp" in rules_page and "gepubliceerd" in rules_page and ">draft<" not in rules_page
    form = owner.get("/compare").text
    page = owner.post("/compare", data={"csrf": csrf(form), "old": "sheltered-workshops@2018.1",
                                        "new": "sheltered-workshops@2019.1", "example": "sheltered-workshops-2018.yaml",
                                        "as_of": "2019-04-01"})
    assert page.status_code == 200, page.text[:500]
    assert "Δ VTE" in page.text and "Δ plaats" in page.text
    assert re.search(r"\d,5 VTE", page.text)  # the 2019 draft hands out half FTE, written the Dutch way
    assert '<td class="num">+0,5</td>' in page.text  # BW-020 gains half an FTE
    assert not re.search(r"\d\.\d+ VTE", page.text) and ".0 VTE" not in page.text


def test_a_checked_draft_shows_one_numbered_line_per_line_with_the_wrong_one_marked(site):
    # Issue 23, item 4: every numbered line of the draft was in one row of the <pre> (a newline lost to trim_blocks)
    import re

    app, tokens, _log = site
    client = signed_in(app, tokens["policy-owner"])
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8").replace(
        "when: assessment_sum >= params.min_assessment_sum", "when: asessment_sum >= 6")
    page = client.post("/check", data={"csrf": csrf(client.get("/check").text), "rule_text": text}).text
    code = page.split('<pre class="code">', 1)[1].split("</pre>", 1)[0]
    rows = code.split("\n")
    assert len(rows) == len(text.splitlines())
    wrong = next(i for i, line in enumerate(text.splitlines(), 1) if "asessment_sum" in line)
    assert re.search(rf'id="L{wrong}">\s*{wrong}</span><mark>', rows[wrong - 1])
    assert f'id="L{wrong + 1}"' in rows[wrong] and "<mark>" not in rows[wrong]


def test_a_policy_owner_publishes_a_checked_text_from_the_page(site, tmp_path):
    # Issue 21: what a policy owner does in the browser becomes a version: checked, then published into the
    # log's registry, and then it is what decides (the rules folder is no longer asked).
    app, tokens, log = site
    owner = signed_in(app, tokens["policy-owner"])
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    page = owner.post("/check", data={"csrf": csrf(owner.get("/check").text), "rule_text": text}).text
    assert 'action="/check/publish"' in page
    published = owner.post("/check/publish", data={"csrf": csrf(page), "rule_text": text, "file_name": "lde-2018.yaml",
                                                   "note": "ronde 2018"}, follow_redirects=False)
    location = published.headers["location"]
    assert published.status_code == 303 and location.startswith("/rules/lde/2018.1?published=")
    shown = owner.get(location).text
    assert f"Gepubliceerd in het register als record {location.rsplit('=', 1)[1]}." in shown
    listed = owner.get("/rules").text
    assert "lde" in listed and "sheltered-workshops" not in listed  # the registry's versions, not the folder's
    changed = text.replace("value: 0.90", "value: 0.91")
    refused = owner.post("/check/publish", data={"csrf": csrf(page), "rule_text": changed, "file_name": "lde-2018.yaml"})
    assert refused.status_code == 422 and "never changes" in refused.text
    draft = (RULES / "lde" / "lde-2019.yaml").read_text(encoding="utf-8")
    refused = owner.post("/check/publish", data={"csrf": csrf(page), "rule_text": draft, "file_name": "lde-2019.yaml"})
    assert refused.status_code == 422 and "Niet gepubliceerd" in refused.text and "only a text that says" in refused.text
    evaluator = signed_in(app, tokens["evaluator"])
    assert evaluator.post("/check/publish", data={"csrf": csrf(evaluator.get("/").text), "rule_text": text,
                                                  "file_name": "x.yaml"}).status_code == 403


def test_each_role_sees_the_pages_it_may_open_and_a_refusal_names_the_roles(site):
    # Issue 23, item 5: every role saw all six pages and landed on a 403 that did not say which role was needed.
    import re

    app, tokens, _log = site
    links = lambda page: set(re.findall(r'<a href="(/[a-z]+)">', page.split("</nav>")[0]))  # noqa: E731
    evaluator = signed_in(app, tokens["evaluator"])
    assert links(evaluator.get("/").text) == {"/rules", "/simulate"}
    auditor = signed_in(app, tokens["auditor"])
    assert links(auditor.get("/").text) == {"/rules", "/drafts", "/decisions", "/integrity"}  # drafts: to read
    owner = signed_in(app, tokens["policy-owner"])
    assert links(owner.get("/").text) == {"/rules", "/check", "/drafts", "/simulate", "/compare"}
    refused = evaluator.get("/decisions")
    assert refused.status_code == 403 and "Ze is er voor de rollen: admin, auditor." in refused.text


def test_a_draft_is_never_in_force_on_the_rules_page(site, monkeypatch):
    # Issue 23, item 5: a draft was shown as "Vandaag van kracht: ja". On 2019-01-15 the drafts 2019.1 of lde and of
    # the sheltered workshops are in their periods; social-workshops 2019.1 (published) is too.
    import datetime as real

    class Day(real.date):
        @classmethod
        def today(cls):
            return cls(2019, 1, 15)

    import types

    from rules_service import web
    # the page's own view of the date module, not the module itself: a ruleset compiled (and cached) while the date
    # module were patched would hold Day objects, which no later test could write as JSON
    monkeypatch.setattr(web, "dt", types.SimpleNamespace(**{**vars(real), "date": Day}))
    app, tokens, _log = site
    page = signed_in(app, tokens["auditor"]).get("/rules").text
    rows = [re.sub(r"<[^>]+>", " ", row).split() for row in page.split("<tr")[1:]]
    drafts = [cells for cells in rows if "2019.1" in cells and "ontwerp" in cells]
    published = [cells for cells in rows if "2019.1" in cells and "gepubliceerd" in cells]
    assert drafts and all("ja" not in cells for cells in drafts)
    assert published and all("ja" in cells for cells in published)


def test_the_timeline_has_a_year_axis(site):
    # Issue 23, item 5: the timeline had no year axis. The shipped versions run from 2018-04-01 to today: a tick
    # and a label for each year that begins in between, 2019 first.
    app, tokens, _log = site
    page = signed_in(app, tokens["auditor"]).get("/rules").text
    axis = page.split('<svg class="axis"', 1)[1].split("</svg>", 1)[0]
    labels = re.findall(r">(\d{4})</text>", axis)
    assert labels[0] == "2019" and labels == [str(y) for y in range(2019, 2019 + len(labels))]
    assert page.count('class="tick"') == len(labels) * page.count('class="timeline"')


def test_the_decisions_are_searched_by_applicant(tmp_path):
    # Issue 23, item 5: the decision log searched by an applicant's file number or a part of its name.
    from click.testing import CliRunner

    from rules_cli.cli import main
    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    from conftest import EXAMPLES, RULES

    log = tmp_path / "log.sqlite"
    for args in (("sheltered-workshops", EXAMPLES / "sheltered-workshops-2018.yaml", "2018-06-20"),
                 ("lde", EXAMPLES / "lde-2018.yaml", "2018-06-20")):
        result = CliRunner().invoke(main, ["evaluate", args[0], str(args[1]), "--as-of", args[2], "--rules-dir",
                                           str(RULES), "--log", str(log)])
        assert result.exit_code == 0, result.output
    with DecisionLog(log) as opened:
        auditor = TokenStore(opened).add("auditor", "auditor")
    client = signed_in(create_app(Settings(rules_dir=str(RULES), log=str(log))), auditor)

    def seqs(query: str) -> list[str]:
        page = client.get("/decisions", params={"applicant": query})
        assert page.status_code == 200, page.text
        return re.findall(r'<a href="/decisions/(\d+)">', page.text)

    assert seqs("bw-004") == ["1"]  # the file number, case aside
    assert seqs("LDE-001") == ["2"] and seqs("beschutte WERKPLAATS") == ["1"]  # a part of a name
    assert seqs("nobody at all") == [] and "Geen beslissingen" in client.get("/decisions?applicant=nobody").text
    assert seqs("") == ["1", "2"]
    assert 'id="applicant"' in client.get("/decisions").text


def test_the_integrity_page_checks_a_signed_checkpoint(tmp_path):
    # Issue 22, item 4: the page takes a checkpoint the auditor kept, and its public key.
    from click.testing import CliRunner

    from rules_cli.cli import main
    from rules_engine.record.audit import DecisionLog, TokenStore
    from rules_service.app import Settings, create_app

    from conftest import EXAMPLES, RULES

    log = tmp_path / "log.sqlite"
    runner = CliRunner()

    def decide() -> None:
        assert runner.invoke(main, ["evaluate", "lde", str(EXAMPLES / "lde-2018.yaml"), "--as-of", "2018-06-20",
                                    "--rules-dir", str(RULES), "--log", str(log), "--simulate"]).exit_code == 0
    decide()
    public = runner.invoke(main, ["audit", "keygen", "auditor.example", "-o", str(tmp_path / "a.key")]).stdout.strip()
    note = runner.invoke(main, ["audit", "checkpoint", "--key", str(tmp_path / "a.key"), "--log", str(log)]).stdout
    decide()  # the log grows after the checkpoint: it still holds the signed tree
    with DecisionLog(log) as opened:
        auditor = TokenStore(opened).add("auditor", "auditor")
    client = signed_in(create_app(Settings(rules_dir=str(RULES), log=str(log))), auditor)
    page = client.get("/integrity")
    ok = client.post("/integrity", data={"csrf": csrf(page.text), "head": "", "checkpoint": note, "public_key": public})
    assert ok.status_code == 200 and 'id="verify-result" class="ok"' in ok.text
    other = runner.invoke(main, ["audit", "keygen", "someone.else", "-o", str(tmp_path / "b.key")]).stdout.strip()
    wrong = client.post("/integrity", data={"csrf": csrf(page.text), "head": "", "checkpoint": note, "public_key": other})
    assert wrong.status_code == 409 and "no signature by someone.else" in wrong.text
    bent = note.replace("\n1\n", "\n2\n", 1)  # the size changed: the signature no longer holds
    assert bent != note
    refused = client.post("/integrity", data={"csrf": csrf(page.text), "head": "", "checkpoint": bent,
                                              "public_key": public})
    assert refused.status_code == 409 and "Traceback" not in refused.text


def test_a_large_decision_is_shown_a_page_of_applicants_at_a_time(tmp_path, runner):
    """A decision of 100,000 applicants was one page of 22 MB, 25 s to make: the table now shows 200 applicants a
    page, in the record's order, each once over the pages; the totals stay those of the whole call."""
    import json

    import yaml

    data = json.loads(json.dumps(yaml.safe_load(example("lde").read_text(encoding="utf-8")), default=str))
    first = data["applicants"][0]
    data["applicants"] = [{**first, "id": f"LDE-{n:05d}", "requested_fte": 1 + n % 7} for n in range(450)]
    facts = tmp_path / "call.json"
    facts.write_text(json.dumps(data), encoding="utf-8")
    log = tmp_path / "log.sqlite"
    result = runner.invoke(main, ["evaluate", "lde", str(facts), "--as-of", "2018-06-20", "--rules-dir", str(RULES),
                                  "--log", str(log)])
    assert result.exit_code == 0, result.output
    with DecisionLog(log) as opened:
        secret = TokenStore(opened).add("audit-office", "auditor")
        record = json.loads(next(iter(opened.entries())).text)
    client = signed_in(create_app(Settings(rules_dir=str(RULES), log=str(log))), secret)
    ids = [d["id"] for d in record["decisions"]]

    def rows(page: str) -> list[str]:
        table = page.split('<table class="ranked">', 1)[1].split("</table>", 1)[0]
        return re.findall(r'\?applicant=([\w-]+)[^"]*#motivation', table)

    pages = [client.get("/decisions/1"), client.get("/decisions/1?page=2"), client.get("/decisions/1?page=3")]
    assert [len(rows(p.text)) for p in pages] == [200, 200, 50]
    assert rows(pages[0].text) + rows(pages[1].text) + rows(pages[2].text) == ids
    assert "Aanvragers 1–200 van 450" in pages[0].text and "Aanvragers 401–450 van 450" in pages[2].text
    assert 'href="/decisions/1?page=2"' in pages[0].text and "?page=0" not in pages[0].text
    assert 'href="/decisions/1?page=2"' in pages[2].text and "?page=4" not in pages[2].text
    allocated = re.search(r'id="allocated-total">([^<]*)<', pages[2].text).group(1)
    assert allocated == re.search(r'id="allocated-total">([^<]*)<', pages[0].text).group(1)
    assert client.get("/decisions/1?page=9").text.count("Aanvragers 401–450 van 450") == 1  # past the end: the last
    assert client.get("/decisions/1?page=0").text.count("Aanvragers 1–200 van 450") == 1
    motivation = client.get(f"/decisions/1?applicant={ids[300]}&page=2")
    assert ids[300] in rows(motivation.text) and 'id="motivation"' in motivation.text
    assert f'href="/decisions/1?applicant={ids[300]}&amp;page=2#motivation"' in motivation.text
    client.get("/lang/en")
    english = client.get("/decisions/1?page=3").text
    assert "Applicants 401–450 of 450" in english and ">Previous page<" in english and "Aanvragers" not in english
