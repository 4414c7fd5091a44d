"""Loading: hostile and malformed input ends in a positioned InputError, never another exception."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rules_engine.errors import InputError
from rules_engine.rules.load import MAX_YAML_BYTES, decode, load_json_fast, load_yaml_document, load_yaml_fast, read_text


def error_of(fn, *args) -> str:
    with pytest.raises(InputError) as info:
        fn(*args)
    return str(info.value)


def test_positions_of_keys_and_values():
    doc = load_yaml_document("a: 1\nb:\n  c: [x, 2.50]\n", "f.yaml")
    assert doc.data == {"a": 1, "b": {"c": ["x", Decimal("2.50")]}}
    assert str(doc.loc(("b", "c", 1))) == "f.yaml:3:10"
    assert str(doc.loc(("b", "c"), key=True)) == "f.yaml:3:3"
    assert str(doc.loc(("b", "missing"))) == "f.yaml:3:3"  # nearest known ancestor: the value of b


def test_numbers_are_exact_and_dates_are_dates():
    doc = load_yaml_document("x: 0.1\ny: 2018-06-15\nz: 7\n", "f.yaml")
    assert doc.data["x"] == Decimal("0.1") and isinstance(doc.data["x"], Decimal)
    assert doc.data["y"] == dt.date(2018, 6, 15)
    assert type(doc.data["z"]) is int
    assert load_json_fast('{"x": 0.1}', "f.json") == {"x": Decimal("0.1")}


@pytest.mark.parametrize("text, where, words", [
    ("a: 1\n\tb: 2\n", "f.yaml:2:1", "tab character"),
    ("a: 1\na: 2\n", "f.yaml:2:1", "duplicate key"),
    ("a: [1, 2\n", "f.yaml:2:1", "YAML syntax"),
    ("", "f.yaml:1:1", "file is empty"),
    ("   \n\n", "f.yaml:1:1", "file is empty"),
    ("- 1\n- 2\n", "f.yaml:1:1", "must be a mapping"),
    ("just text\n", "f.yaml:1:1", "must be a mapping"),
    ("x: .nan\n", "f.yaml:1:4", "not finite"),
    ("a: &x [1]\nb: *x\n", "f.yaml:2:4", "aliases"),
])
def test_bad_yaml(text, where, words):
    message = error_of(load_yaml_document, text, "f.yaml")
    assert message.startswith(where) and words in message, message


def test_billion_laughs_is_refused_without_expanding():
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    text = "\n".join(lines) + "\n"
    assert "aliases" in error_of(load_yaml_document, text, "bomb.yaml")
    assert "aliases" in error_of(load_yaml_fast, text, "bomb.yaml")


def test_deep_nesting_is_refused():
    deep = "a: " + "[" * 10_000 + "]" * 10_000 + "\n"
    assert "nesting" in error_of(load_yaml_document, deep, "deep.yaml")
    assert "nesting" in error_of(load_json_fast, "[" * 10_000 + "]" * 10_000, "deep.json")


def test_binary_and_encoding():
    assert "binary data" in error_of(decode, b"a: 1\n\x00\x01", "bin.yaml")
    message = error_of(decode, "a: 'é'\nb: \xff\n".encode("latin-1"), "latin.yaml")
    assert message.startswith("latin.yaml:1:5") and "not valid UTF-8" in message


def test_large_yaml_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"# padding\n" * (MAX_YAML_BYTES // 10 + 1))
    message = error_of(read_text, path)
    assert "over the limit" in message and "JSON" in message


@pytest.mark.parametrize("text, where, words", [
    ('{"a": 1,}', "f.json:1:9", "JSON syntax"),
    ('{"a": 1, "a": 2}', "f.json:1:10", "duplicate key 'a'"),
    ('{"a": NaN}', "f.json:1:7", "not a number"),
    ('{"a":\n  [1, 2', "f.json:2:8", "JSON syntax"),
])
def test_bad_json(text, where, words):
    message = error_of(load_json_fast, text, "f.json")
    assert message.startswith(where) and words in message, message


def test_missing_file_and_folder(tmp_path):
    assert "file not found" in error_of(read_text, tmp_path / "nope.yaml")
    assert "is a directory" in error_of(read_text, tmp_path)


@pytest.mark.parametrize("text, words", [
    ('{"a": 1e400}', "a.json:1:7"),
    ('{"a": 12345678901234567890123456789012345678901234567890123456789012345678901234567890}', "a.json:1:7"),
    ('{"a": [1, 2, 1E5000]}', "a.json:1:14"),
])
def test_a_number_out_of_bounds_in_json_is_refused_at_its_place(text, words):
    assert error_of(load_json_fast, text, "a.json").startswith(words)


def test_the_scan_for_numbers_to_check_finds_all_the_expression_it_replaced_finds():
    """The cheap scan decides whether every number is checked one by one; it may say yes more often than the
    regular expression it replaced (dots and e's outside numbers), never less."""
    import random
    import re

    from rules_engine.rules.load import _suspicious_numbers

    old = re.compile(r"[0-9][0-9.]{15}|[0-9][eE]")
    rng = random.Random(24)
    alphabet = "0123456789....eE\" :,[]{}aé-"
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        if old.search(text):
            assert _suspicious_numbers(text), text
    assert not _suspicious_numbers('{"a": 1234567890123.5, "b": "LDE-0001", "c": 0.90}')
    assert _suspicious_numbers('{"a": 1234567890123456}') and _suspicious_numbers('{"a": 2E3}')
    assert _suspicious_numbers('{"a": "\\ud800", "b": 1e5}')


def test_the_scan_reads_the_bytes_a_file_came_as_the_same_as_its_text():
    """The facts' bytes, when the reader has them, are scanned as they are (not encoded again from the text: 28 MB
    copied for 100,000 LDE applicants); a byte order mark in front changes nothing."""
    import random

    from rules_engine.rules.load import _suspicious_numbers

    rng = random.Random(7)
    alphabet = "0123456789....eE\" :,[]{}aé€-"
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40)))
        assert _suspicious_numbers(text.encode()) == _suspicious_numbers(b"\xef\xbb\xbf" + text.encode()) \
            == _suspicious_numbers(text), text


def test_a_number_out_of_bounds_behind_a_byte_order_mark_is_refused_at_its_place(tmp_path):
    from rules_engine.rules.facts import load_data

    raw = b"\xef\xbb\xbf" + b'{"applicants": [\n  {"id": "A", "requested_fte": 12345678901234567890}\n]}'
    with pytest.raises(InputError) as caught:
        load_data(raw, "f.json", "json")
    assert str(caught.value).startswith("f.json:2:")


@pytest.mark.parametrize("text, where", [
    ('{"a": {"b": 1, "b": 2}}', "f.json:1:16"),
    ('{"x": "a:b", "a": 1, "a": 2}', "f.json:1:22"),
    ('[{"a": 1}, {"a": 1, "c": {"d": [], "d": []}}]', "f.json:1:36"),
])
def test_a_duplicate_key_anywhere_is_refused_at_its_second_place(text, where):
    assert error_of(load_json_fast, text, "f.json").startswith(where + ": duplicate key")


def test_json_is_read_as_the_standard_library_reads_it_exactly():
    """Whichever parser reads it, a JSON text gives the data the standard library gives with exact decimals
    (the same values of the same types, in the same order), or is refused where the standard library fails."""
    import json
    import random

    def reference(text):
        def pairs(items):
            assert len({k for k, _ in items}) == len(items), "duplicate"
            return dict(items)
        return json.loads(text, parse_float=Decimal, object_pairs_hook=pairs)

    def value(rng, depth):
        pick = rng.random()
        if depth > 3 or pick < 0.4:
            return rng.choice([1, -0, 0.5, "1.10", "a:b", "é", True, None, 12345, 'x"y'])
        if pick < 0.7:
            return [value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        return {rng.choice("abc:"): value(rng, depth + 1) for _ in range(rng.randint(0, 3))}

    def text_of(rng, node):  # written by hand, so that duplicate keys and decimal texts can be made
        if isinstance(node, dict):
            keys = list(node) + ([rng.choice(list(node))] if node and rng.random() < 0.2 else [])
            return "{" + ", ".join(f"{json.dumps(k)}: {text_of(rng, node[k])}" for k in keys) + "}"
        if isinstance(node, list):
            return "[" + ",".join(text_of(rng, item) for item in node) + "]"
        return node if node == "1.10" else json.dumps(node)

    rng = random.Random(7)
    for _ in range(2000):
        text = text_of(rng, {"applicants": value(rng, 0)})
        try:
            expected = reference(text)
        except AssertionError:
            assert "duplicate key" in error_of(load_json_fast, text, "f.json"), text
            continue
        got = load_json_fast(text, "f.json")
        assert repr(got) == repr(expected), text


def test_a_colon_in_a_text_keeps_the_fast_parser_and_a_repeated_key_beside_it_is_still_found():
    """Names often hold a colon ("Werkplaats X: afdeling Y"); the fast parser's count of keys must still see a key
    written twice, also when a colon is written as the escape \\u003a (which the count of the text cannot see)."""
    from rules_engine.rules.load import _quick_json

    named = '{"applicants": [{"id": "A", "name": "Werkplaats X: afdeling Y", "time": "12:00"}]}'
    assert _quick_json(named) == {"applicants": [{"id": "A", "name": "Werkplaats X: afdeling Y", "time": "12:00"}]}
    for text in ('{"a": "x:y", "a": "z"}', '{"a": "x\\u003ay", "b": 1, "b": 2}', '{"a": "\\u003A", "a": 1}'):
        assert _quick_json(text) is None, text
        assert "duplicate key" in error_of(load_json_fast, text, "f.json"), text
    assert load_json_fast('{"a": "x\\u003ay"}', "f.json") == {"a": "x:y"}
