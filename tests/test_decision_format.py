"""The documented decision format: every decision output validates against schemas/decision.schema.json."""
from __future__ import annotations

import json
from decimal import Decimal

import jsonschema
import pytest

from rules_cli.cli import main

from conftest import RULES

ROOT = RULES.parent
SCHEMA = json.loads((ROOT / "schemas" / "decision.schema.json").read_text(encoding="utf-8"))
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
CALLS = [("lde", "lde-2018.yaml", "2018-06-20", ()), ("sheltered-workshops", "sheltered-workshops-2018.yaml", "2018-06-20", ()),
         ("social-workshops", "social-workshops-2018.yaml", "2018-06-20", ()),
         ("sheltered-workshops", "sheltered-workshops-2018.yaml", "2019-06-20", ("--simulate",)),
         ("social-workshops", "social-workshops-2018.yaml", "2019-06-20", ()),
         ("maatwerk-redistribution", "maatwerk-2020.yaml", "2020-03-01", ()),
         ("lde", "lde-2018.yaml", "2019-06-20", ("--simulate",))]


def evaluate(runner, ruleset, facts, as_of, extra, *more):
    return runner.invoke(main, ["evaluate", ruleset, str(ROOT / "examples" / facts), "--as-of", as_of,
                                "--rules-dir", str(RULES), "--format", "json", *extra, *more])


@pytest.mark.parametrize("ruleset, facts, as_of, extra", CALLS)
def test_every_decision_validates_against_the_documented_format(runner, ruleset, facts, as_of, extra):
    result = evaluate(runner, ruleset, facts, as_of, extra, "--no-log")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    errors = sorted(VALIDATOR.iter_errors(record), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert record["format"] == "rules-decision/2" and len(record["decision_id"]) == 64


def test_a_fraction_is_an_object_no_consumer_takes_for_text(runner):
    record = json.loads(evaluate(runner, *CALLS[1], "--no-log").stdout, parse_float=Decimal)
    rates = [d["derived"]["fill_rate"] for d in record["decisions"] if isinstance(d["derived"]["fill_rate"], dict)]
    assert rates, "the example has fill rates that do not terminate"
    for rate in rates:
        value = Decimal(rate["numerator"]) / Decimal(rate["denominator"])
        assert rate["approx"] == f"{value:.6f}"
    assert not any(isinstance(v, str) and "/" in v for d in record["decisions"] for v in d["derived"].values())


def test_the_log_and_the_service_give_the_same_format(runner, tmp_path):
    log = tmp_path / "log.sqlite"
    assert evaluate(runner, *CALLS[0], "--log", str(log)).exit_code == 0
    shown = json.loads(runner.invoke(main, ["show", "1", "--log", str(log)]).stdout)
    assert not list(VALIDATOR.iter_errors(shown))
    listing = json.loads(runner.invoke(main, ["log", "--format", "json", "--log", str(log)]).stdout)
    assert listing[0]["format"] == "rules-decision/2" and len(listing[0]["decision_id"]) == 64
    assert isinstance(listing[0]["allocated_fte"], (int, float))


def test_a_record_of_the_earlier_format_still_replays_identical(runner):
    fixture = ROOT / "tests" / "fixtures"
    logs = sorted(fixture.glob("*.sqlite"))
    assert logs
    for path in logs:
        result = runner.invoke(main, ["replay", "--all", "--log", str(path)])
        assert result.exit_code == 0 and " 0 different, 0 failed" in result.stdout, result.output


def test_a_record_is_written_in_parts_that_join_to_its_text_at_any_chunk_size(monkeypatch):
    """A large decision list is encoded a chunk at a time and written part by part (never joined into one more
    copy): whatever the chunk, the parts join to the same bytes, which read back as the record, one decision a
    line, ending in the newline asked for."""
    from fractions import Fraction

    from rules_engine.decide import decision as D

    record = {"format": D.FORMAT, "decision_id": "x", "empty": [], "pool": {"rounds_fte": [Decimal("1.50")]},
              "decisions": [{"id": f"A{i}", "allocated_fte": Decimal(i) / 4, "ideal": Fraction(i, 3)}
                            for i in range(1, 8)]}
    whole = D.to_json_bytes(record, end=b"\n")
    for first, part in ((1, 1), (2, 1), (3, 60), (7, 1), (100, 10**6)):  # from a decision a part to all in one
        monkeypatch.setattr(D, "FIRST", first)
        monkeypatch.setattr(D, "PART", part)
        parts = D.to_json_parts(record, end=b"\n")
        assert b"".join(parts) == whole, (first, part)
    assert whole.endswith(b"\n  ]\n}\n") and whole.count(b'\n    {"id":"A') == 7
    back = json.loads(whole, parse_float=Decimal)
    assert [d["id"] for d in back["decisions"]] == [f"A{i}" for i in range(1, 8)]
    assert back["decisions"][5]["allocated_fte"] == Decimal("1.5") and back["decisions"][2]["ideal"] == 1
    assert back["decisions"][0]["ideal"] == {"numerator": 1, "denominator": 3, "approx": "0.333333"}


def test_a_large_record_is_written_in_parts_of_about_a_set_size_whatever_its_decisions_weigh(monkeypatch):
    """The decisions are encoded a part of about ``PART`` bytes at a time, however many decisions that takes: a
    few thousand small ones, a few large ones (a ruleset of a hundred rules has a long trace). A part of many
    megabytes is a buffer the process maps and unmaps for each part (at 20,000 decisions a part, a third of the
    time writing 100,000 LDE decisions went to that); a part of one decision is a call per decision."""
    from rules_engine.decide import decision as D

    monkeypatch.setattr(D, "PART", 20_000)
    small = [{"id": f"A{i}", "n": i} for i in range(5000)]  # 20-odd bytes each: about 900 to a part
    large = [{"id": f"B{i}", "trace": "x" * 3000} for i in range(200)]  # 3 kB each: 6 to a part
    for items in (small, large, small[:10] + large + small):
        parts = [bytes(p) for p in D._one_a_line(D._ENCODER_2, items, b",\n    ")]
        assert b"".join(parts) == b",\n    ".join(D._ENCODER_2.encode(item) for item in items)
        assert parts[0].count(b"\n") <= D.FIRST  # the first part: a few items, to judge their length by
        assert max(map(len, parts[1:])) <= 2 * 20_000 + 3100, [len(p) for p in parts]
        assert len(parts) >= sum(len(D._ENCODER_2.encode(i)) for i in items) // (2 * 20_000 + 3100)
    many = [bytes(p) for p in D._one_a_line(D._ENCODER_2, small, b",")]
    assert 5 <= len(many) <= 20 and all(len(p) >= 5_000 for p in many[1:-1])  # not a part per decision


def test_by_default_a_part_is_hundreds_of_kilobytes():
    """The default part: neither a buffer of megabytes (mapped anew for each part) nor a call per decision. 3,000
    decisions of about 700 bytes (as LDE's are) are about 2 MB: parts of about 512 kB after the first."""
    from rules_engine.decide import decision as D

    items = [{"id": f"A{i:04}", "trace": "x" * 680} for i in range(3000)]
    parts = [bytes(p) for p in D._one_a_line(D._ENCODER_2, items, b",\n    ")]
    assert all(300_000 <= len(p) <= 800_000 for p in parts[1:-1]) and len(parts) >= 4, [len(p) for p in parts]


def test_the_command_writes_a_large_decision_in_parts_with_the_same_bytes(tmp_path, monkeypatch):
    """`rules evaluate -o` and to standard output, with the decisions written two, then one at a time: the same bytes as
    the record's text in one piece (`rules show` of the logged record), and as with one chunk."""
    from click.testing import CliRunner

    from rules_engine.decide import decision as D

    from conftest import AS_OF, example

    monkeypatch.setattr(D, "FIRST", 2)
    monkeypatch.setattr(D, "PART", 1)  # then a decision a part
    log, out = tmp_path / "log.sqlite", tmp_path / "out.json"
    args = ["evaluate", "sheltered-workshops", str(example("sheltered-workshops")), "--as-of", AS_OF, "--rules-dir",
            str(RULES), "--format", "json"]
    logged = CliRunner().invoke(main, args + ["--log", str(log), "-o", str(out)])
    assert logged.exit_code == 0, logged.output
    printed = CliRunner().invoke(main, args + ["--no-log"])
    written = CliRunner().invoke(main, args + ["--no-log", "-o", str(tmp_path / "out2.json")])
    shown = CliRunner().invoke(main, ["show", "1", "--log", str(log)])
    assert printed.exit_code == written.exit_code == shown.exit_code == 0
    assert out.read_bytes() == shown.stdout_bytes  # the logged decision, as written and as stored
    assert printed.stdout_bytes == (tmp_path / "out2.json").read_bytes()  # a dry run, printed and written
    monkeypatch.setattr(D, "FIRST", 10**6)
    assert CliRunner().invoke(main, args + ["--no-log"]).stdout_bytes == printed.stdout_bytes  # in one chunk


def test_a_fraction_seen_again_and_another_after_it_are_each_written_as_themselves():
    from fractions import Fraction

    from rules_engine.decide.decision import FORMAT, to_json_bytes

    third, two_thirds = Fraction(1, 3), Fraction(2, 3)
    values = [third, third, two_thirds, third, Fraction(1, 3), Fraction(1, 4), two_thirds]
    text = to_json_bytes({"format": FORMAT, "values": values}, indent=None)
    a = '{"numerator":1,"denominator":3,"approx":"0.333333"}'
    b = '{"numerator":2,"denominator":3,"approx":"0.666667"}'
    assert text.decode() == f'{{"format":"{FORMAT}","values":[{a},{a},{b},{a},{a},0.25,{b}]}}'
    old = to_json_bytes({"values": values}, indent=None)  # the earlier format: 'p/q' texts
    assert old == b'{"values":["1/3","1/3","2/3","1/3","1/3",0.25,"2/3"]}'
