"""Schemathesis over every operation of the OpenAPI document, with each role's token and none.

No 5xx; every status code, content type, header and body conforms to the document. Bounded for CI;
longer: RULES_API_FUZZ_EXAMPLES=500 python -m pytest tests/test_service_fuzz.py
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from rules_engine.record.audit import DecisionLog, TokenStore
from rules_service.app import Settings, create_app

from conftest import RULES, example

EXAMPLES = int(os.environ.get("RULES_API_FUZZ_EXAMPLES", "12"))
ROLES = ("evaluator", "policy-owner", "approver", "auditor", "admin")

_folder = Path(tempfile.mkdtemp(prefix="rules-api-fuzz-"))
_log = _folder / "log.sqlite"
with DecisionLog(_log) as _opened:
    TOKENS = {role: TokenStore(_opened).add(role, role) for role in ROLES}
APP = create_app(Settings(rules_dir=str(RULES), log=str(_log), time_limit=10))
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)

CHECKS = [checks.not_a_server_error, checks.status_code_conformance, checks.content_type_conformance,
          checks.response_headers_conformance, checks.response_schema_conformance]


def _seed_a_decision() -> None:
    from fastapi.testclient import TestClient

    response = TestClient(APP).post("/v1/rulesets/lde/evaluate?as_of=2018-06-20", content=example("lde").read_bytes(),
                                    headers={"Authorization": f"Bearer {TOKENS['admin']}",
                                             "content-type": "application/yaml"})
    assert response.status_code == 201


_seed_a_decision()


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_for_every_role(case):
    for secret in (None, *TOKENS.values()):
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        case.call_and_validate(headers=headers, checks=CHECKS)
