"""The shapes of the service's JSON responses (they are the schemas of the OpenAPI document)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from rules_engine.rules.compile import Ruleset


class Status(BaseModel):
    status: str


class VersionSummary(BaseModel):
    version: str
    title: str
    effective_from: str
    effective_to: str | None
    file: str


class RulesetVersions(BaseModel):
    id: str
    versions: list[VersionSummary]


class Parameter(BaseModel):
    value: Any
    description: str
    source: str


class RulesetVersion(VersionSummary):
    id: str
    sha256: str
    text: str
    parameters: dict[str, Parameter]


class DecisionSummary(BaseModel):
    seq: int
    decision_id: str
    recorded_at: str
    ruleset: str
    version: str
    as_of: str
    applicants: int
    allocated_fte: str
    evaluator: str
    requested_by: str | None
    kind: str


class DecisionPage(BaseModel):
    decisions: list[DecisionSummary]
    next_cursor: int | None


class Change(BaseModel):
    applicant: str
    field: str
    before: Any
    after: Any


class ReplayResult(BaseModel):
    seq: int
    decision_id: str
    identical: bool
    engine_version_then: str
    engine_version_now: str
    changes: list[Change]
    error: str | None


class Head(BaseModel):
    count: int
    hash: str


class VerifyRequest(BaseModel):
    head: str | Head | None = Field(None, description="The head written down earlier: as GET /v1/audit/head answers "
                                    "it ({\"count\", \"hash\"}), or as the text COUNT:HASH")
    checkpoint: str | None = Field(None, description="A signed checkpoint (rules audit checkpoint): the log must still "
                                   "hold its tree")
    public_key: str | None = Field(None, description="The checkpoint signer's public key")


class Verified(BaseModel):
    ok: bool
    count: int
    head: str


class ApprovalRequest(BaseModel):
    note: str | None = None
    signature: str | None = Field(None, max_length=4096,
                                  description="The approver's signed note of this approval's statement, from "
                                              "'rules audit sign-approval ID@VERSION --key KEY' (optional; where "
                                              "approvals must be signed, only signed ones count)")


class DraftRequest(BaseModel):
    text: str | None = Field(None, max_length=1 << 20, description="The rule file's text")
    from_: str | None = Field(None, alias="from", description="Or: the version to start from (id or id@version)")
    version: str | None = Field(None, pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$",
                                description="With 'from': the new draft's version")


class DraftText(BaseModel):
    text: str = Field(max_length=1 << 20, description="The draft's whole new text")


class ReasonRequest(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class PublishDraftRequest(BaseModel):
    note: str | None = Field(None, max_length=2000)


class PublishRequest(BaseModel):
    text: str = Field(description="The rule file's text, exactly as it is to be published (it says 'status: published')")
    file: str = Field(description="The file name it is kept under, and exported as (e.g. lde-2018.yaml)",
                      pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml$")
    note: str | None = None


class WithdrawRequest(BaseModel):
    reason: str = Field(min_length=1)


class Publication(BaseModel):
    seq: int
    kind: str
    ruleset: str
    version: str
    ruleset_sha256: str
    by: str
    recorded_at: str


class Approval(BaseModel):
    seq: int
    ruleset: str
    version: str
    ruleset_sha256: str
    by: str
    recorded_at: str


class Finding(BaseModel):
    file: str
    line: int
    column: int
    code: str
    subject: str
    message: str


class Validation(BaseModel):
    """A valid rule text and the findings of ``rules lint`` (an invalid one is a 422 problem)."""

    valid: bool
    findings: list[Finding]


class DiffRequest(BaseModel):
    old: str
    new: str
    facts: dict[str, Any] | str
    as_of: str | None = None
    set: dict[str, str] | None = None


def version_summary(r: Ruleset) -> dict:
    return {"version": r.version, "title": r.title, "effective_from": r.effective_from.isoformat(),
            "effective_to": r.effective_to.isoformat() if r.effective_to else None, "file": r.label}


def version_detail(r: Ruleset) -> dict:
    from rules_engine.rules.validate import json_view

    return {**version_summary(r), "id": r.id, "sha256": r.sha256, "text": r.text,
            "parameters": {name: {"value": json_view(p.value), "description": p.description, "source": p.source}
                           for name, p in r.parameters.items()}}


def entry_summary(e) -> dict:
    return {"seq": e.seq, "decision_id": e.decision_id, "recorded_at": e.recorded_at, "ruleset": e.ruleset_id,
            "version": e.ruleset_version, "as_of": e.as_of, "applicants": e.applicants,
            "allocated_fte": e.allocated_fte, "evaluator": e.evaluator, "requested_by": e.requested_by, "kind": e.kind}


def replay_result(result, version_now: str) -> dict:
    return {"seq": result.entry.seq, "decision_id": result.entry.decision_id, "identical": result.identical,
            "engine_version_then": result.entry.engine_version, "engine_version_now": version_now,
            "changes": [{"applicant": c.applicant, "field": c.field, "before": _plain(c.before), "after": _plain(c.after)}
                        for c in result.changes], "error": result.error or None}


def _plain(value: Any) -> Any:
    """A value as JSON can carry it exactly (decimals as text, so nothing is rounded)."""
    from decimal import Decimal
    from fractions import Fraction

    if isinstance(value, (Decimal, Fraction)):
        return str(value)
    return value
