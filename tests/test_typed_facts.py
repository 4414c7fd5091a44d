"""Facts parsed as their schema's type (rules/typed.py): never accepting what the schema refuses, and the same data
as the general way whenever it accepts."""
from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import json
import random
from decimal import Decimal
from pathlib import Path

import jsonschema
import jsonschema_rs
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from rules_engine import api
from rules_engine.errors import InputError
from rules_engine.rules.load import load_json_checked
from rules_engine.rules.typed import parse, shape_for
from rules_engine.rules.validate import shipped_only

from helpers import paths

ROOT = Path(__file__).resolve().parents[1]
# bench/generate.py, the benchmark's seeded calls (loaded by its path: bench/ also holds a service.py)
_SPEC = importlib.util.spec_from_file_location("bench_generate", ROOT / "bench" / "generate.py")
generate = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(generate)

SCHEMAS = ("lde", "sheltered-workshops", "social-workshops")


def schema_of(name: str) -> dict:
    return json.loads((ROOT / "schemas" / f"{name}.facts.schema.json").read_text())


def call_of(name: str, n: int = 6, seed: int = 7) -> dict:
    rng = random.Random(seed)
    if name == "lde":
        data = generate.lde(n, rng)
        data["applicants"][0]["merged_on"] = "2016-02-29"
        data["call"] = {"name": "oproep", "budget": 155, "rate": 0.5, "open": True, "closed_on": None}
        return data
    return generate.workshops(n, rng, "work_disabled" if name == "sheltered-workshops" else "nwwz")


def text_of(data) -> str:
    return msgspec.json.Encoder(decimal_format="number").encode(data).decode()


def exact(text: str):
    """The facts as the general way reads them (the standard library, decimals exact), for comparison."""
    return json.loads(text, parse_float=Decimal)


def schema_allows(schema: dict, text: str) -> bool:
    """Both validators the general way uses, on the data as it reads them."""
    data = exact(text)
    fast = jsonschema_rs.validator_for(copy.deepcopy(schema), validate_formats=True, retriever=shipped_only)
    slow = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    return fast.is_valid(data) and slow.is_valid(json.loads(text))


def typed(schema: dict, text: str):
    shape = shape_for(schema)
    assert shape is not None
    return load_json_checked(text, "f.json", shape)


def same(a, b) -> bool:
    """Equal as JSON is written: an integer is not a decimal, and the keys keep their order."""
    return msgspec.json.encode(a) == msgspec.json.encode(b) and type_tree(a) == type_tree(b)


def type_tree(value):
    if isinstance(value, dict):
        return [(k, type_tree(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [type_tree(v) for v in value]
    return type(value).__name__


@pytest.mark.parametrize("name", SCHEMAS)
def test_a_shipped_call_is_read_as_the_general_way_reads_it(name):
    schema, text = schema_of(name), text_of(call_of(name))
    assert schema_allows(schema, text)
    data, checked = typed(schema, text)
    assert checked and same(data, exact(text))


@pytest.mark.parametrize("name", SCHEMAS)
def test_numbers_keep_their_kind_and_digits(name):
    data = call_of(name, 2)
    data["applicants"][0]["contingent_fte"] = 12  # a whole number stays an int, 12.0 a decimal with its zero
    data["applicants"][1]["contingent_fte"] = Decimal("12.0")
    text = text_of(data)
    got, checked = typed(schema_of(name), text)
    assert checked
    assert type(got["applicants"][0]["contingent_fte"]) is int
    assert str(got["applicants"][1]["contingent_fte"]) == "12.0"


def lde_with(change) -> str:
    data = call_of("lde", 3)
    change(data["applicants"][1])
    return text_of(data)


def set_key(key, value, inner=None):
    def change(applicant):
        (applicant[inner] if inner else applicant)[key] = value
    return change


# Each is refused by the schema: the typed way must not take it (the general way then says where).
REFUSED_LDE = {
    "negative contingent": set_key("contingent_fte", Decimal("-0.01")),
    "rate above one": set_key("realisation_rate", Decimal("1.001")),
    "whole rate above one": set_key("realisation_rate", 2),
    "score above three": set_key("guidance_actions", 4, "assessment"),
    "score as text": set_key("guidance_actions", "3", "assessment"),
    "score as boolean": set_key("guidance_actions", True, "assessment"),
    "requested zero": set_key("requested_fte", 0),
    "unknown province": set_key("province", "Brussel"),
    "empty id": set_key("id", ""),
    "id too long": set_key("id", "x" * 65),
    "empty name": set_key("name", ""),
    "date of no day": set_key("merged_on", "2018-02-30"),
    "date without dashes": set_key("merged_on", "20180220"),
    "date with a time": set_key("merged_on", "2018-02-20T10:00:00"),
    "date as number": set_key("merged_on", 2018),
    "unknown key": set_key("remark", "x"),
    "unknown score": set_key("extra", 1, "assessment"),
    "missing key": lambda a: a.pop("merged_on"),
    "missing score": lambda a: a["assessment"].pop("transition_vision"),
    "rate as null": set_key("realisation_rate", None),
    "assessment as list": set_key("assessment", [1, 2]),
}


@pytest.mark.parametrize("change", REFUSED_LDE.values(), ids=REFUSED_LDE.keys())
def test_what_the_schema_refuses_is_not_taken(change):
    schema, text = schema_of("lde"), lde_with(change)
    assert not schema_allows(schema, text)
    assert typed(schema, text)[1] is False


@pytest.mark.parametrize("text", [
    # the call's metadata holds scalars only
    '{"applicants": [], "call": {"a": {"b": 1}}}',
    '{"applicants": [], "call": {"a": [1]}}',
    '{"applicants": [], "call": {"a": -1, "b": {}}}',
    '{"applicants": {}}',
    '[]',
])
def test_whole_calls_refused(text):
    schema = schema_of("lde")
    assert typed(schema, text)[1] is False


def test_a_key_written_twice_inside_an_applicant_is_still_found():
    text = lde_with(lambda a: None).replace('"requested_fte":', '"requested_fte":3,"requested_fte":', 1)
    shape = shape_for(schema_of("lde"))
    assert parse(shape, text) is not None  # msgspec alone takes it
    with pytest.raises(InputError, match="duplicate key 'requested_fte'"):
        load_json_checked(text, "f.json", shape)


@pytest.mark.parametrize("quarter", ["2018Q1\n", "2018Q5", "18Q1", "2018q1", "x2018Q1"])
def test_a_pattern_is_held_to_the_end_of_the_text(quarter):
    data = call_of("social-workshops", 2)
    data["applicants"][0]["quarters"][0]["quarter"] = quarter
    schema, text = schema_of("social-workshops"), text_of(data)
    assert not schema_allows(schema, text)
    assert typed(schema, text)[1] is False


@pytest.mark.parametrize("regions", [{}, {"Brussel": {"nwwz": 1}}, {"Limburg": {"nwwz": -1}},
                                     {"Limburg": {"nwwz": 1, "other": 2}}, {"Limburg": {}}])
def test_regions_refused(regions):
    data = call_of("social-workshops", 2)
    data["regions"] = regions
    schema, text = schema_of("social-workshops"), text_of(data)
    assert not schema_allows(schema, text)
    assert typed(schema, text)[1] is False


def test_a_colon_in_a_text_is_no_key():
    data = call_of("lde", 3)
    data["applicants"][2]["name"] = "vzw De Sleutel: Gent"
    text = text_of(data)
    got, checked = typed(schema_of("lde"), text)
    assert checked and same(got, exact(text))
    escaped = text.replace("Sleutel: Gent", "Sleutel\\u003a Gent")
    got, checked = typed(schema_of("lde"), escaped)
    assert checked and same(got, exact(text))
    # a key unknown to the schema (dropped by the type) beside an escaped colon: the colons add up, yet the
    # general way decides, and refuses the key
    data["applicants"][0]["remark"] = "x"
    unknown = text_of(data).replace("Sleutel: Gent", "Sleutel\\u003a Gent")
    assert parse(shape_for(schema_of("lde")), unknown) is not None
    assert not typed(schema_of("lde"), unknown)[1]


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"applicants": {"type": "array"}}},  # open: other keys allowed
    {"type": "object", "additionalProperties": False, "properties": {"a": {"anyOf": [{"type": "string"}]}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "number", "minimum": 0.5}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "number", "multipleOf": 2}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string", "pattern": "^a.b$"}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string", "pattern": "^\\d+$"}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string", "pattern": "a{,3}"}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string", "pattern": "(?i)a"}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": ["string", "null"],
                                                                          "enum": ["x"]}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"enum": ["x", None]}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "string", "format": "email"}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"$ref": "other.json"}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"$ref": "#/$defs/a"}},
     "$defs": {"a": {"$ref": "#/$defs/a"}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {}}},  # anything
    {"type": "object", "additionalProperties": False, "required": ["b"], "properties": {"a": {"type": "string"}}},
    {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "additionalProperties": False},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": ["string", "object"]}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "array"}}},  # items unsaid
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "object",
                                                                          "additionalProperties": True}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "object", "properties": {
        "b": {"type": "string"}}, "additionalProperties": {"type": "string"}}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"enum": ["x", 1]}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"type": "integer", "minimum": 0,
                                                                          "exclusiveMinimum": 0}}},
    # a map of maps of maps ... without end: declined, not followed
    {"type": "object", "additionalProperties": False, "properties": {"a": {"$ref": "#/$defs/m"}},
     "$defs": {"m": {"type": "object", "additionalProperties": {"$ref": "#/$defs/m"}}}},
    {"type": "object", "additionalProperties": False, "properties": {"a": {"$ref": "#/$defs/o"}},
     "$defs": {"o": {"type": "object", "additionalProperties": False, "properties": {"o": {"$ref": "#/$defs/o"}}}}},
])
def test_a_schema_saying_more_than_the_type_can_has_no_shape(schema):
    assert shape_for(schema) is None


def test_an_example_policy_without_closed_objects_is_read_the_general_way():
    ruleset = api.resolve("pro-rata", ROOT / "examples" / "policies", dt.date(2018, 6, 1))
    assert shape_for(ruleset.facts_schema) is None


def test_a_bad_call_says_the_same_as_before():
    text = lde_with(set_key("realisation_rate", Decimal("1.5")))
    ruleset = api.resolve("lde", ROOT / "rules", dt.date(2018, 6, 20))
    with pytest.raises(InputError) as info:
        api.parse_facts(text.encode(), "f.json", ruleset)
    assert "f.json:1:" in str(info.value) and "applicants[1]" in str(info.value) and "1.5" in str(info.value)


def test_the_same_facts_either_way(monkeypatch):
    """A call read the typed way is the call the general way reads: the same applicants, regions and call, the
    same hash."""
    for name, spec, day in (("lde", "lde", dt.date(2018, 6, 20)),
                            ("social-workshops", "social-workshops@2019.1", dt.date(2019, 6, 20))):
        ruleset = api.resolve(spec, ROOT / "rules", day)
        raw = text_of(call_of(name, 40)).encode()
        assert shape_for(ruleset.facts_schema) is not None
        fast = api.parse_facts(raw, "f.json", ruleset)
        with monkeypatch.context() as patch:
            patch.setattr("rules_engine.rules.facts.shape_for", lambda schema: None)
            general = api.parse_facts(raw, "f.json", ruleset)
        assert fast == general and same([fast.applicants, fast.regions, fast.call],
                                        [general.applicants, general.regions, general.call])


LEAVES = st.sampled_from([-1, 0, 1, 3, 4, 100001, Decimal("-0.5"), Decimal("0.5"), Decimal("1.0"), Decimal("1.5"),
                          "", "x", "2018Q1", "2018Q1\n", "2016-02-29", "2017-02-29", "Limburg", None, True, False,
                          {}, [], {"nwwz": 1}])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(SCHEMAS), seed=st.integers(0, 10 ** 6), changes=st.lists(
    st.tuples(st.integers(0, 10 ** 6), st.sampled_from(["set", "drop", "add"]), LEAVES), min_size=1, max_size=3))
def test_a_mutated_call_is_taken_only_when_the_schema_allows_it(name, seed, changes):
    data = call_of(name, 2, seed)
    for pick, what, leaf in changes:
        places = list(paths(data))
        path = places[pick % len(places)]
        if not path:
            continue
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if what == "set":
            parent[path[-1]] = copy.deepcopy(leaf)
        elif what == "drop":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent["x-" + str(pick % 5)] = copy.deepcopy(leaf)
    schema, text = schema_of(name), text_of(data)
    data_read, checked = typed(schema, text)
    if checked:
        assert schema_allows(schema, text)
        assert same(data_read, exact(text))


FIELDS = {
    "text or whole": {"type": ["string", "integer"]},
    "whole or yes/no": {"type": ["integer", "boolean"], "minimum": 0},
    "text, yes/no or null": {"type": ["string", "boolean", "null"], "maxLength": 2},
    "number or yes/no": {"type": ["number", "boolean"], "maximum": 1},
    "anything scalar": {"type": ["string", "number", "boolean", "null"], "minimum": 0},
    "whole, exclusive": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
    "number, exclusive": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 3},
    "quarter or null": {"type": ["string", "null"], "pattern": "^[0-9]{4}Q[1-4]$"},
    "date or null": {"type": ["string", "null"], "format": "date"},
    "a list of scores": {"type": "array", "minItems": 1, "maxItems": 2, "items": {"type": "integer", "maximum": 3}},
    "whole-valued bounds written as decimals": {"type": "number", "minimum": 0.0, "maximum": 3.0},
    "named counts": {"type": "object", "propertyNames": {"enum": ["a", "b"]}, "maxProperties": 1,
                     "additionalProperties": {"type": "integer"}},
}
VALUES = ["x", "xyz", "", "2018Q1", "2018Q1\n", "2018-06-31", "2018-06-30", 0, 1, 2, 3, -1, Decimal("0.5"),
          Decimal("3.0"), Decimal("-0.0"), True, False, None, [1], [0, 3], [1, 2, 3], [4], [], {"a": 1}, {"b": 0}, {"c": 1},
          {"a": 1, "b": 2}, {"a": "1"}]


@pytest.mark.parametrize("field", FIELDS.values(), ids=FIELDS.keys())
def test_each_kind_of_field_is_taken_exactly_when_the_schema_allows_it(field):
    schema = {"type": "object", "additionalProperties": False, "required": ["applicants"],
              "properties": {"applicants": {"type": "array", "items": {
                  "type": "object", "additionalProperties": False, "properties": {"a": field}}}}}
    taken = 0
    for value in VALUES:
        text = text_of({"applicants": [{"a": value}]})
        checked = typed(schema, text)[1]
        # -0.0 and 3.0 are whole numbers to JSON Schema: the typed way may leave those to the general way
        assert checked == schema_allows(schema, text) or (not checked and isinstance(value, Decimal)), value
        taken += checked
    assert taken >= 2


def test_a_valid_json_call_is_not_checked_again(monkeypatch):
    """The typed way is the way taken: the facts it read are not handed to jsonschema-rs again (which took as long
    as parsing them), nor walked value by value for their keys; YAML facts still are."""
    ruleset = api.resolve("lde", ROOT / "rules", dt.date(2018, 6, 20))
    raw = text_of(call_of("lde", 5)).encode()

    def unneeded(*args, **kwargs):
        raise AssertionError("checked again")
    with monkeypatch.context() as patch:
        patch.setattr("rules_engine.rules.validate._fast", unneeded)
        patch.setattr("rules_engine.rules.load._check_depth", unneeded)
        assert len(api.parse_facts(raw, "f.json", ruleset).applicants) == 5
        with pytest.raises(AssertionError, match="checked again"):
            api.parse_facts((ROOT / "examples" / "lde-2018.yaml").read_bytes(), "f.yaml", ruleset)


def test_a_shape_is_not_changed_once_made():
    """A shape is shared by every call of its schema (cached): it cannot be changed by one of them."""
    import dataclasses

    shape = shape_for(schema_of("lde"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        shape.walk = None


# A closed schema of every kind of field the rules fuzzer uses (tests/test_fuzz_rules.py), nested lists included.
NUMBER = {"type": "number"}
CLOSED = {"type": "object", "additionalProperties": False, "required": ["applicants"], "properties": {
    "applicants": {"type": "array", "items": {
        "type": "object", "additionalProperties": False, "required": ["id", "requested_fte"], "properties": {
            "id": {"type": "string", "minLength": 1}, "requested_fte": {"type": "integer", "minimum": 0},
            "n": NUMBER, "i": {"type": "integer", "minimum": 0}, "m": {"type": ["number", "null"], "maximum": 10},
            "s": {"type": "string"}, "e": {"enum": ["a", "b", "c"]}, "d": {"type": "string", "format": "date"},
            "b": {"type": "boolean"}, "u": {"type": ["string", "number"]},
            "o": {"type": "object", "additionalProperties": False, "properties": {"x": NUMBER, "y": {"type": "string"}}},
            "q": {"type": "array", "items": {"type": "object", "additionalProperties": False, "required": ["k"],
                                             "properties": {"k": NUMBER, "t": {"type": "string", "pattern": "^t[0-9]$"},
                                                            "w": {"type": "array", "maxItems": 2, "items": {
                                                                "type": "object", "additionalProperties": False,
                                                                "properties": {"z": NUMBER}}}}}}}}},
    "regions": {"type": "object", "additionalProperties": {"type": "object", "additionalProperties": False,
                                                           "properties": {"weight": NUMBER}}}}}
ANY_VALUE = st.deferred(lambda: st.one_of(
    LEAVES, st.integers(-3, 12), st.sampled_from(["t1", "t10", "a", "d", "2018-06-20"]),
    st.lists(st.dictionaries(st.sampled_from(["k", "t", "w", "z", "x", "y"]), ANY_VALUE, max_size=3), max_size=3),
    st.dictionaries(st.sampled_from(["x", "y", "z", "weight"]), ANY_VALUE, max_size=2)))
NUMBERS = st.one_of(st.integers(-5, 10), st.sampled_from([Decimal("0.5"), Decimal("-1.25"), Decimal("3.0"),
                                                          Decimal("10.00"), Decimal("-0.0")]))


def mostly(valid):
    """A field's value: most often one its schema allows, else anything."""
    return st.tuples(st.integers(0, 9), valid, ANY_VALUE).map(lambda t: t[2] if t[0] == 5 else t[1])


W_ITEM = st.fixed_dictionaries({}, optional={"z": mostly(NUMBERS)})
Q_ITEM = st.fixed_dictionaries({"k": mostly(NUMBERS)}, optional={
    "t": mostly(st.sampled_from(["t1", "t9", "xt0"])), "w": mostly(st.lists(W_ITEM, max_size=2))})
APPLICANT = st.fixed_dictionaries(
    {"id": mostly(st.sampled_from(["A", "B"])), "requested_fte": mostly(st.integers(0, 5))},
    optional={"n": mostly(NUMBERS), "i": mostly(st.integers(0, 5)), "m": mostly(st.one_of(st.none(), NUMBERS)),
              "s": mostly(st.text(max_size=3)), "e": mostly(st.sampled_from(["a", "c"])),
              "d": mostly(st.sampled_from(["2018-06-20", "2020-02-29"])), "b": mostly(st.booleans()),
              "u": mostly(st.one_of(st.text(max_size=2), NUMBERS)),
              "o": mostly(st.fixed_dictionaries({}, optional={"x": mostly(NUMBERS), "y": mostly(st.text(max_size=2))})),
              "q": mostly(st.lists(Q_ITEM, max_size=3))}).flatmap(
    lambda applicant: mostly(st.just(applicant)).map(lambda value: value if value is applicant else {**applicant,
                                                                                                   "other": value}))


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(applicants=st.lists(APPLICANT, min_size=1, max_size=3),
       regions=st.dictionaries(st.sampled_from(["R1", "R2"]), mostly(st.fixed_dictionaries(
           {}, optional={"weight": mostly(NUMBERS)})), max_size=2))
def test_generated_facts_of_every_kind_are_taken_only_when_the_schema_allows_them(applicants, regions):
    text = text_of({"applicants": applicants, "regions": regions})
    data, checked = typed(CLOSED, text)
    if checked:
        assert schema_allows(CLOSED, text)
        assert same(data, exact(text))


def test_a_generated_call_of_every_kind_is_taken():
    call = {"applicants": [{"id": "A", "requested_fte": 2, "n": Decimal("1.5"), "i": 0, "m": None, "s": "x", "e": "b",
                            "d": "2018-06-20", "b": True, "u": "x", "o": {"x": 1},
                            "q": [{"k": Decimal("0.5"), "t": "t3", "w": [{"z": 1}, {}]}, {"k": 2}]},
                           {"id": "B", "requested_fte": 0, "m": 10, "u": Decimal("2.5"), "q": []}],
            "regions": {"R1": {"weight": 3}, "R2": {}}}
    text = text_of(call)
    assert schema_allows(CLOSED, text)
    data, checked = typed(CLOSED, text)
    assert checked and same(data, exact(text))


def test_without_a_way_to_say_a_field_is_optional_such_a_schema_is_read_the_general_way(monkeypatch):
    """On Python 3.10 without typing_extensions, ``NotRequired`` is missing: a schema with an optional field has no
    shape (its facts are read as before), one whose every field is required keeps its shape."""
    from rules_engine.rules import typed as module

    monkeypatch.setattr(module, "NotRequired", None)
    monkeypatch.setattr(module, "_SHAPES", {})
    assert shape_for(schema_of("lde")) is None  # its call metadata is optional
    closed = {"type": "object", "additionalProperties": False, "required": ["applicants"], "properties": {
        "applicants": {"type": "array", "items": {"type": "object", "additionalProperties": False,
                                                  "required": ["id"], "properties": {"id": {"type": "string"}}}}}}
    assert typed(closed, '{"applicants": [{"id": "A"}]}')[1]
