"""Issue 14, finding 3: a facts schema may not make the engine fetch anything.

A real HTTP server on 127.0.0.1 counts the requests it gets; every test asserts it got none.
"""
from __future__ import annotations

import http.server
import json
import threading

import pytest
from click.testing import CliRunner

from rules_cli.cli import main
from rules_engine.rules.validate import _fast, _slow, shipped_schema

from conftest import rule_file


@pytest.fixture
def server():
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            hits.append(self.path)
            body = json.dumps({"type": "object"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def schema_with(reference: dict) -> dict:
    schema = json.loads(json.dumps(shipped_schema("lde.facts.schema.json")))
    schema["$defs"]["applicant"]["properties"]["province"] = reference
    return schema


def rule_file_with(tmp_path, schema: dict, inline: bool) -> str:
    text = rule_file("lde").read_text(encoding="utf-8")
    if inline:
        text = text.replace("facts:\n  schema: lde.facts.schema.json", "facts:\n  schema: " + json.dumps(schema))
    else:
        (tmp_path / "evil.facts.schema.json").write_text(json.dumps(schema, indent=2), encoding="utf-8")
        text = text.replace("schema: lde.facts.schema.json", "schema: evil.facts.schema.json")
    assert text != rule_file("lde").read_text(encoding="utf-8")
    path = tmp_path / "lde-evil.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "schema-file"])
@pytest.mark.parametrize("make", [
    lambda base: {"$ref": f"{base}/x.json"},
    lambda base: {"$ref": "file:///dev/zero"},
    lambda base: {"$ref": "../../etc/passwd"},
    lambda base: {"$ref": "other.facts.schema.json"},
    lambda base: {"$dynamicRef": f"{base}/y.json"},
    lambda base: {"$id": f"{base}/", "$ref": "lde.facts.schema.json"},
    lambda base: {"$schema": f"{base}/meta.json", "type": "string"},
], ids=["http", "file-url", "relative-path", "unknown-file", "dynamic-ref", "remote-id", "remote-meta-schema"])
def test_remote_and_file_references_are_refused_at_their_position(tmp_path, server, make, inline):
    base, hits = server
    path = rule_file_with(tmp_path, schema_with(make(base)), inline)
    result = CliRunner().invoke(main, ["validate", path])
    assert result.exit_code == 1 and "internal error" not in result.output, result.output
    first = result.stderr.splitlines()[0]
    where = path if inline else str(tmp_path / "evil.facts.schema.json")
    assert first.startswith(where + ":") and "facts.schema.$defs.applicant.properties.province" in first, first
    line = int(first.split(":")[1])
    assert line > 1  # the line of the reference itself, not the top of the file
    assert hits == []


def test_references_inside_the_schema_and_to_shipped_schemas_work(tmp_path, server):
    _base, hits = server
    schema = schema_with({"$ref": "#/$defs/applicant/properties/name"})
    assert CliRunner().invoke(main, ["validate", rule_file_with(tmp_path, schema, True)]).exit_code == 0
    shipped = {"$ref": "quarters.facts.schema.json#/properties/call"}
    assert CliRunner().invoke(main, ["validate", rule_file_with(tmp_path, schema_with(shipped), True)]).exit_code == 0
    assert hits == []


def test_neither_validator_fetches_even_if_asked_directly(server):
    """Defence in depth: the validators themselves only know the shipped schemas."""
    base, hits = server
    schema = {"type": "object", "properties": {"x": {"$ref": f"{base}/x.json"}}}
    assert _fast(schema) is None  # jsonschema-rs cannot build it without fetching: it is not used
    with pytest.raises(Exception, match="Unresolvable|x.json"):
        list(_slow(schema).iter_errors({"x": 1}))
    assert hits == []
