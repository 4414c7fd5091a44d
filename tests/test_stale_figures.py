"""A text the letter quotes must not state a figure the rules no longer use.

Changing ``min_fill_rate`` from 0.95 to 0.90 and leaving the condition's description at "minstens 95%" would
send a letter that says "Het contingent was gemiddeld voor minstens 95% ingevuld ...: voldaan" to a workshop
at 92%: a false reason. These tests are written from that scenario (the 2018 text as shipped)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rules_engine.policy.figures import quoted_numbers, stale_figures
from rules_engine.policy.lint import lint_rulesets
from rules_engine.rules.compile import compile_text

ROOT = Path(__file__).resolve().parent.parent
SHELTERED = (ROOT / "rules/sheltered-workshops/sheltered-workshops-2018.yaml").read_text(encoding="utf-8")


def _version(text: str, version: str, **replace: str) -> str:
    text = text.replace('version: "2018.1"', f'version: "{version}"')
    for old, new in replace.items():
        assert old.replace("_", " ") in text or old in text, old
        text = text.replace(old.replace("_", " ") if old.replace("_", " ") in text else old, new)
    return text


def _compiled(text: str, label: str = "x.yaml"):
    return compile_text(text, label, None, {})


LOWER = _version(SHELTERED, "2018.2", **{"value: 0.95": "value: 0.90"})


def test_numbers_as_people_write_them_in_a_text():
    # by hand: a percentage is its hundredth; Dutch and English decimal marks both read; words with digits are not numbers
    assert quoted_numbers("minstens 95% ingevuld") == {"0.95"}
    assert quoted_numbers("minstens 95 % of 0,95 ingevuld") == {"0.95"}
    assert quoted_numbers("at least 92.5 percent") == {"0.925"}
    assert quoted_numbers("kwartaal 3/2016 tot 2017Q2, 351 VTE") == {"3", "2016", "351"}
    assert quoted_numbers("geen cijfers") == set()


def test_a_lowered_threshold_with_the_old_figure_in_its_texts_is_found_at_each_text():
    old, new = _compiled(SHELTERED), _compiled(LOWER)
    findings = stale_figures(old, new)
    # by hand: two texts of 2018.1 state 95%: the condition min_fill_rate's description and the parameter's own
    assert sorted(f.subject for f in findings) == ["min_fill_rate", "params.min_fill_rate"]
    assert {f.code for f in findings} == {"stale-figure"}
    rule = next(f for f in findings if f.subject == "min_fill_rate")
    assert "95%" in rule.message and "0.90" in rule.message
    assert rule.location.line == 50  # the condition's `- id: min_fill_rate` line in the file
    param = next(f for f in findings if f.subject == "params.min_fill_rate")
    assert param.location.line == 26


def test_texts_that_follow_the_figure_are_not_findings():
    text = LOWER.replace("minstens 95% ingevuld", "minstens 90% ingevuld").replace("(inclusief 95%)", "(inclusief 90%)")
    assert stale_figures(_compiled(SHELTERED), _compiled(text)) == []


def test_a_text_that_reads_no_changed_parameter_is_left_alone():
    # the reference quarters' texts say "1 jaar"; changing a parameter no text reads from 1 to 2 finds nothing
    old = SHELTERED.replace("  reference_quarters:\n", "  spare:\n    value: 1\n    description: een\n  reference_quarters:\n")
    old = old.replace("when: fill_rate >= params.min_fill_rate", "when: fill_rate >= params.min_fill_rate and params.spare > 0")
    old = old.replace("elk kwartaal van de referteperiode\n", "elk kwartaal van de referteperiode van 1 jaar\n")
    assert "referteperiode van 1 jaar\n" in old
    new = _version(old, "2018.2").replace("    value: 1\n    description: een", "    value: 2\n    description: een")
    assert stale_figures(_compiled(old), _compiled(new)) == []


def test_an_english_translation_with_the_old_figure_is_found():
    text = SHELTERED.replace(
        "description: Het contingent was gemiddeld voor minstens 95% ingevuld over de referteperiode",
        "description: {nl: Het contingent was gemiddeld voor minstens 90% ingevuld over de referteperiode, "
        "en: The quota was filled for at least 95 percent on average}")
    new = _version(text, "2018.2", **{"value: 0.95": "value: 0.90"}).replace("(inclusief 95%)", "(inclusief 90%)")
    findings = stale_figures(_compiled(SHELTERED), _compiled(new))
    assert [f.subject for f in findings] == ["min_fill_rate"]
    assert "95 percent" in findings[0].message


def test_a_dated_parameter_whose_text_states_one_of_its_values():
    dated = SHELTERED.replace("    value: 0.95\n", "    values: {2018-04-01: 0.95, 2018-10-01: 0.90}\n")
    findings = stale_figures(None, _compiled(dated))
    assert sorted(f.subject for f in findings) == ["min_fill_rate", "params.min_fill_rate"]
    assert "2018-10-01" in findings[0].message


def test_lint_finds_the_stale_figure_between_consecutive_versions(tmp_path):
    old, new = _compiled(SHELTERED, "a.yaml"), _compiled(LOWER.replace("from: 2018-04-01", "from: 2018-04-01"), "b.yaml")
    codes = [(f.code, f.subject) for f in lint_rulesets([old, new]) if f.code == "stale-figure"]
    # in the order of the file: the parameter (line 26), then the condition (line 50)
    assert codes == [("stale-figure", "params.min_fill_rate"), ("stale-figure", "min_fill_rate")]


def test_a_draft_with_a_stale_figure_is_not_submitted(tmp_path):
    from rules_engine.errors import InputError
    from rules_engine.policy import drafts
    from rules_engine.record.audit import DecisionLog

    with DecisionLog(tmp_path / "log.sqlite", create=True) as log:
        draft = drafts.start(log, "sheltered-workshops", _version(SHELTERED, "2018.2"), "ann")
        draft, _ = drafts.save(log, draft.name, LOWER, draft.etag, "ann")
        with pytest.raises(InputError) as refused:
            drafts.submit(log, draft.name, draft.etag, "ann", "lager", replaces=_compiled(SHELTERED))
        problems = refused.value.problems
        assert sorted(p.location.line for p in problems) == [26, 50]
        assert all("95%" in p.message for p in problems)
        fixed = LOWER.replace("minstens 95% ingevuld", "minstens 90% ingevuld").replace("(inclusief 95%)", "(inclusief 90%)")
        draft, _ = drafts.save(log, draft.name, fixed, draft.etag, "ann")
        draft, _ = drafts.submit(log, draft.name, draft.etag, "ann", "lager", replaces=_compiled(SHELTERED))
        assert draft.state == "submitted"


def test_rules_publish_refuses_a_stale_figure_and_import_keeps_history(tmp_path):
    from click.testing import CliRunner

    from rules_cli.cli import main
    from rules_engine.record.audit import DecisionLog, TokenStore

    log = tmp_path / "log.sqlite"
    with DecisionLog(log, create=True) as opened:
        secret = TokenStore(opened).add("olivia", "policy-owner")
    first = tmp_path / "a.yaml"
    first.write_text(SHELTERED, encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(main, ["publish", str(first), "--token", secret, "--log", str(log)]).exit_code == 0
    later = LOWER.replace("from: 2018-04-01\n  to: 2019-03-31", "from: 2019-04-01")
    second = tmp_path / "b.yaml"
    second.write_text(later, encoding="utf-8")
    refused = runner.invoke(main, ["publish", str(second), "--token", secret, "--log", str(log)])
    assert refused.exit_code == 1 and "internal error" not in refused.output
    lines = later.splitlines()
    param, rule = lines.index("  min_fill_rate:") + 1, lines.index("  - id: min_fill_rate") + 1
    assert f"{second}:{param}:3" in refused.stderr and f"{second}:{rule}:5" in refused.stderr and "95%" in refused.stderr
    second.write_text(later.replace("95%", "90%"), encoding="utf-8")
    assert runner.invoke(main, ["publish", str(second), "--token", secret, "--log", str(log)]).exit_code == 0
    # a registry seeded from an existing folder keeps its history as it was (lint still names the text)
    folder = tmp_path / "rules" / "sheltered-workshops"
    folder.mkdir(parents=True)
    (folder / "a.yaml").write_text(SHELTERED, encoding="utf-8")
    (folder / "b.yaml").write_text(later, encoding="utf-8")
    seeded = runner.invoke(main, ["import", str(tmp_path / "rules"), "--token", secret, "--log", str(tmp_path / "new.sqlite")])
    assert seeded.exit_code == 1 and "token" in seeded.output  # a new log has no tokens: make one there first
    with DecisionLog(tmp_path / "new.sqlite", create=True) as opened:
        other = TokenStore(opened).add("olivia", "policy-owner")
    seeded = runner.invoke(main, ["import", str(tmp_path / "rules"), "--token", other, "--log", str(tmp_path / "new.sqlite")])
    assert seeded.exit_code == 0, seeded.output
    linted = runner.invoke(main, ["lint", str(tmp_path / "rules")])
    assert linted.exit_code == 1 and "stale-figure" in linted.output
