"""Issue 24, item 2: positions in a JSON facts file, found by walking the text to each path, are the ones the
full round-trip parse gave (ruamel, the slow path kept for YAML); and a bad value in a large call is placed
without building positions for the whole document.
"""
from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import paths
from rules_engine.rules.jsonpos import JsonPositions, json_positions
from rules_engine.rules.load import _flatten, _round_trip_yaml

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text("abc \u00e9\"\\\n", max_size=5),
                    st.decimals(-1000, 1000, places=2, allow_nan=False).map(float))
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(st.text("kxy\u00e9", max_size=3), inner, max_size=4)),
                         max_leaves=20)



@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text("ab", max_size=2), documents, max_size=4), st.sampled_from([None, 1, 2]))
def test_every_value_and_key_sits_where_the_full_parse_says(document, indent):
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    slow = _flatten(_round_trip_yaml().load(text), "f.json", text)
    values, keys = json_positions(text)
    for path in paths(document):
        assert values.get(path) == slow.positions.get(path), (path, text)
        if path and isinstance(path[-1], str):
            assert keys.get(path) == slow.key_positions.get(path), (path, text)


def test_paths_that_are_not_there_have_no_position():
    positions = JsonPositions('{"a": [1, {"b": 2}], "c": "x"}')
    assert positions.get(("a", 1, "b")) == (1, 17)
    for missing in (("z",), ("a", 2), ("a", "b"), ("c", 0), ("a", 1, "b", "c")):
        assert missing not in positions and positions.get(missing) is None


def test_a_yaml_flow_mapping_is_left_to_the_yaml_parser():
    assert json_positions("{applicants: []}") is None and json_positions("applicants: []") is None
    assert json_positions('  {"applicants": []}') is not None


def test_one_bad_value_in_a_large_call_is_placed_by_walking_to_it(tmp_path):
    # 30,000 applicants, one request as text: the message names its line and column, as the full parse would,
    # and finding it takes one walk (counted: values found on the way), not a position for every value.
    applicants = [{"id": f"A{i}", "requested_fte": 1, "quarters": [{"q": "2017Q1", "f": 1.5}]} for i in range(30000)]
    applicants[25000]["requested_fte"] = "drie"
    text = json.dumps({"applicants": applicants}, indent=1)
    values, _keys = json_positions(text)
    line, col = values[("applicants", 25000, "requested_fte")]
    assert text.splitlines()[line - 1][col - 1:].startswith('"drie"')
    assert len(values._values) < 30000 + 50  # the items of the list, and the members of the one applicant


def test_a_large_call_gets_the_same_problems_as_when_every_applicant_is_checked(monkeypatch):
    # The slow validator (which writes the messages) sees only the applicants the fast one found wrong; the
    # problems, their places and their order are those of checking every applicant. minItems is a trap: the
    # shorter list must not add a problem of its own.
    from rules_engine.rules import validate
    from rules_engine.rules.load import Document

    schema = {"type": "object", "required": ["applicants"], "properties": {"applicants": {
        "type": "array", "minItems": 100, "items": {"type": "object", "required": ["id", "n"], "additionalProperties": False,
                                                   "properties": {"id": {"type": "string"}, "n": {"type": "integer"},
                                                                  "q": {"type": "array", "items": {"type": "number"}}}}}}}
    applicants = [{"id": f"A{i}", "n": i, "q": [1, 2]} for i in range(1000)]
    applicants[3]["n"] = "x"
    applicants[500]["q"][1] = "y"
    applicants[999] = {"id": "A999", "extra": 1}
    data = {"applicants": applicants}
    text = json.dumps(data, indent=1)
    doc = Document("f.json", text, data, *json_positions(text))
    sparse = [str(p) for p in validate.validate_document(doc, schema)]
    monkeypatch.setattr(validate, "SPARSE_FROM", 10**9)
    full = [str(p) for p in validate.validate_document(doc, schema)]
    assert sparse == full and len(full) == 4
    assert any("applicants[500] (id A500).q[1]" in p for p in full)


def test_applicants_that_are_not_a_list_are_a_problem_at_their_place(tmp_path):
    # the fast path that counts the applicants met an integer: "internal error: TypeError"
    from click.testing import CliRunner

    from rules_cli.cli import main

    for text, name in (("applicants: 3\n", "f.yaml"), ('{"applicants": {"a": 1}}', "f.json")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        result = CliRunner().invoke(main, ["evaluate", "lde", str(path), "--as-of", "2018-06-20", "--no-log"])
        assert result.exit_code == 1 and "internal error" not in result.output and "applicants" in result.output
