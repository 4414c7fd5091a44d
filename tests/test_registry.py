"""Issue 21: the registry. Rule texts published into the log decide on every server that uses the log;
a published text never changes; a withdrawal ends a version's use; import and export keep the bytes.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil

import pytest
from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.api import Asking, evaluate
from rules_engine.record.audit import DecisionLog, TokenStore

from conftest import RULES, example

AS_OF = dt.date(2018, 6, 20)


def run(*args, token=None):
    env = {"RULES_TOKEN": token} if token else {}
    return CliRunner().invoke(main, [str(a) for a in args], env=env)


@pytest.fixture()
def world(tmp_path):
    """A log with a policy owner's and an evaluator's token, and a copy of the rules folder."""
    log = tmp_path / "log.sqlite"
    with DecisionLog(log) as opened:
        owner = TokenStore(opened).add("owner", "policy-owner")
        evaluator = TokenStore(opened).add("clerk", "evaluator")
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules)
    return {"log": log, "owner": owner, "evaluator": evaluator, "rules": rules, "tmp": tmp_path}


def test_a_published_text_decides_on_a_server_whose_folder_differs(world):
    published = run("publish", world["rules"] / "lde" / "lde-2018.yaml", "--log", world["log"], token=world["owner"])
    assert published.exit_code == 0 and "lde@2018.1" in published.stdout and "published as record 1" in published.stdout
    # a second server, its rules folder holding a changed copy of the same version: the registry's text decides
    other = world["tmp"] / "other-rules"
    shutil.copytree(RULES, other)
    path = other / "lde" / "lde-2018.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("value: 0.90", "value: 0.10"), encoding="utf-8")
    with DecisionLog(world["log"]) as log:
        ruleset, record, _ = evaluate("lde", example("lde"), AS_OF, other, log=log)
    original = (RULES / "lde" / "lde-2018.yaml").read_bytes()
    assert ruleset.sha256 == hashlib.sha256(original).hexdigest() and ruleset.label == "registry:lde@2018.1"
    assert record["kind"] == "official"
    # an id the registry does not hold is not taken from the folder either
    with DecisionLog(world["log"]) as log:
        with pytest.raises(Exception, match="no published version of 'social-workshops' in the registry"):
            evaluate("social-workshops", example("social-workshops"), AS_OF, world["rules"], log=log)


def test_a_published_text_never_changes_and_the_same_text_is_published_once(world):
    path = world["rules"] / "lde" / "lde-2018.yaml"
    assert run("publish", path, "--log", world["log"], token=world["owner"]).exit_code == 0
    again = run("publish", path, "--log", world["log"], token=world["owner"])
    assert again.exit_code == 0 and "published already, as record 1" in again.stdout
    path.write_text(path.read_text(encoding="utf-8").replace("value: 0.90", "value: 0.91"), encoding="utf-8")
    changed = run("publish", path, "--log", world["log"], token=world["owner"])
    assert changed.exit_code == 1 and "a published text never changes" in changed.output
    with DecisionLog(world["log"]) as log:
        assert log.head()[0] == 1


def test_only_a_policy_owner_publishes_and_only_published_texts(world):
    path = world["rules"] / "lde" / "lde-2018.yaml"
    refused = run("publish", path, "--log", world["log"], token=world["evaluator"])
    assert refused.exit_code == 1 and "only a policy-owner or an admin publishes" in refused.output
    assert run("publish", path, "--log", world["log"]).exit_code == 2  # no token at all
    draft = run("publish", world["rules"] / "lde" / "lde-2019.yaml", "--log", world["log"], token=world["owner"])
    assert draft.exit_code == 1 and "says 'status: draft'" in draft.output


def test_an_overlapping_period_is_refused(world):
    assert run("publish", world["rules"] / "lde" / "lde-2018.yaml", "--log", world["log"], token=world["owner"]).exit_code == 0
    text = (world["rules"] / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    other = world["tmp"] / "lde-2018b.yaml"
    other.write_text(text.replace('version: "2018.1"', 'version: "2018.2"'), encoding="utf-8")
    refused = run("publish", other, "--log", world["log"], token=world["owner"])
    assert refused.exit_code == 1 and "cannot be published" in refused.output and "overlaps 2018.1" in refused.output


def test_a_withdrawn_version_no_longer_decides_and_its_records_still_replay(world):
    assert run("import", world["rules"], "--log", world["log"], token=world["owner"]).exit_code == 0
    decided = run("evaluate", "lde", example("lde"), "--as-of", "2018-06-20", "--log", world["log"],
                  "--rules-dir", world["rules"])
    assert decided.exit_code == 0, decided.output
    withdrawn = run("withdraw", "lde@2018.1", "--reason", "a mistake in the threshold", "--log", world["log"],
                    token=world["owner"])
    assert withdrawn.exit_code == 0 and "lde@2018.1 withdrawn" in withdrawn.stdout
    refused = run("evaluate", "lde", example("lde"), "--as-of", "2018-06-20", "--log", world["log"],
                  "--rules-dir", world["rules"])
    assert refused.exit_code == 1 and "no published version of 'lde' in the registry" in refused.output
    assert "identical" in run("replay", "--all", "--log", world["log"]).stdout


def test_import_then_export_gives_the_same_bytes(world):
    imported = run("import", world["rules"], "--log", world["log"], token=world["owner"])
    assert imported.exit_code == 0, imported.output
    assert "lde@2019.1 (" in imported.stdout and "a draft, left out" in imported.stdout
    out = world["tmp"] / "exported"
    exported = run("export", out, "--log", world["log"])
    assert exported.exit_code == 0, exported.output
    published = sorted(p.relative_to(world["rules"]) for p in world["rules"].glob("*/*.yaml")
                       if "status: published" in p.read_text(encoding="utf-8"))
    assert sorted(p.relative_to(out) for p in out.glob("*/*.yaml")) == published
    for relative in published:
        assert (out / relative).read_bytes() == (world["rules"] / relative).read_bytes(), relative
    again = run("import", world["rules"], "--log", world["log"], token=world["owner"])
    with DecisionLog(world["log"]) as log:
        assert again.exit_code == 0 and log.head()[0] == len(published)  # nothing published twice


def test_publications_are_in_the_chain_and_verify(world):
    assert run("import", world["rules"], "--log", world["log"], token=world["owner"]).exit_code == 0
    verified = run("audit", "verify", "--log", world["log"])
    assert verified.exit_code == 0, verified.output
    shown = run("show", "1", "--log", world["log"])
    assert shown.exit_code == 0 and '"publication"' in shown.stdout and '"by": "owner"' in shown.stdout


def test_published_over_http_it_decides_on_every_server_of_the_log(world):
    """Two servers on one log, their rules folders different (the second has no lde at all): a text published
    through the first decides on the second at its next request; an evaluator may not publish."""
    from fastapi.testclient import TestClient

    from rules_service.app import Settings, create_app

    with DecisionLog(world["log"]) as log:
        owner = TokenStore(log).add("owner2", "policy-owner")
    empty = world["tmp"] / "empty-rules"
    (empty / "other").mkdir(parents=True)
    first = TestClient(create_app(Settings(rules_dir=str(world["rules"]), log=str(world["log"]))), raise_server_exceptions=False)
    second = TestClient(create_app(Settings(rules_dir=str(empty), log=str(world["log"]))), raise_server_exceptions=False)
    text = (RULES / "lde" / "lde-2018.yaml").read_text(encoding="utf-8")
    body = {"text": text, "file": "lde-2018.yaml", "note": "round 2018"}
    denied = first.post("/v1/registry", json=body, headers={"Authorization": f"Bearer {world['evaluator']}"})
    assert denied.status_code == 403
    made = first.post("/v1/registry", json=body, headers={"Authorization": f"Bearer {owner}"})
    assert made.status_code == 201 and made.json()["kind"] == "publication" and made.json()["by"] == "owner2"
    listed = second.get("/v1/rulesets", headers={"Authorization": f"Bearer {world['evaluator']}"})
    assert [r["id"] for r in listed.json()] == ["lde"]
    decided = second.post("/v1/rulesets/lde/evaluate?as_of=2018-06-20", content=example("lde").read_bytes(),
                          headers={"Authorization": f"Bearer {world['evaluator']}", "content-type": "application/yaml"})
    assert decided.status_code == 201, decided.text
    assert decided.json()["ruleset"]["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()
    changed = first.post("/v1/registry", json=dict(body, text=text.replace("value: 0.90", "value: 0.91")),
                         headers={"Authorization": f"Bearer {owner}"})
    assert changed.status_code == 422 and "never changes" in changed.json()["detail"]
    gone = first.post("/v1/rulesets/lde/versions/2018.1/withdraw", json={"reason": "wrong threshold"},
                      headers={"Authorization": f"Bearer {owner}"})
    assert gone.status_code == 201 and gone.json()["kind"] == "withdrawal"
    refused = second.post("/v1/rulesets/lde/evaluate?as_of=2018-06-20", content=example("lde").read_bytes(),
                          headers={"Authorization": f"Bearer {world['evaluator']}", "content-type": "application/yaml"})
    assert refused.status_code == 404 and "registry" in refused.json()["detail"]


def test_versions_lists_the_registrys_with_those_withdrawn(world):
    assert run("import", world["rules"], "--log", world["log"], token=world["owner"]).exit_code == 0
    assert run("withdraw", "social-workshops@2018.1", "--reason", "replaced", "--log", world["log"],
               token=world["owner"]).exit_code == 0
    listed = run("versions", "social-workshops", "--log", world["log"])
    rows = [line.split()[:2] for line in listed.stdout.splitlines()[2:]]
    assert listed.exit_code == 0 and rows == [["2018.1", "withdrawn"], ["2019.1", "published"]]
    folder = run("versions", "lde", "--rules-dir", world["rules"])  # without a log: the folder, drafts too
    assert [line.split()[:2] for line in folder.stdout.splitlines()[2:]] == [["2018.1", "published"], ["2019.1", "draft"]]
