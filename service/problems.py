"""Errors as RFC 9457 problem details (``application/problem+json``), carrying the CLI's problems."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from rules_engine.errors import (AuditFailure, EvaluationError, GovernanceError, InputError, KeyReused, LogError,
                                 LookupFailure, Problem, RulesError, TooLarge, escape_text)
from rules_engine.limits import TimeLimitExceeded
from rules_engine.record.drafts import Conflict, Stale

MEDIA_TYPE = "application/problem+json"


class ProblemItem(BaseModel):
    """One problem with the input, as ``rules validate`` prints it."""

    file: str
    line: int
    column: int
    field: str
    message: str
    code: str
    pointer: str | None = None  # JSON pointer into a JSON body


class ProblemDetails(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")
    type: str
    title: str
    status: int
    detail: str
    problems: list[ProblemItem] = []
    error_id: str | None = None


class ProblemError(Exception):
    """Raised by routes and dependencies; rendered by the app's handler."""

    def __init__(self, status: int, title: str, detail: str, problems: list[dict] | None = None,
                 headers: dict | None = None, kind: str | None = None):
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.problems = problems or []
        self.headers = headers or {}
        self.kind = kind or re.sub(r"[^a-z]+", "-", title.lower()).strip("-")

    def body(self) -> dict:
        return {"type": f"/problems/{self.kind}", "title": self.title, "status": self.status,
                "detail": escape_text(self.detail), "problems": self.problems}


def _pointer(field: str) -> str | None:
    """``applicants[1] (id A-2).requested_fte`` as the JSON pointer ``/applicants/1/requested_fte``."""
    if not field or field.startswith("--"):
        return None
    path = re.sub(r" \(id [^)]*\)", "", field)
    parts = re.findall(r"[^.\[\]]+|\[\d+\]", path)
    return "".join("/" + part.strip("[]").replace("~", "~0").replace("/", "~1") for part in parts)


def problem_items(problems: list[Problem], json_body: bool = False) -> list[dict]:
    return [{"file": escape_text(p.location.file), "line": p.location.line, "column": p.location.col,
             "field": escape_text(p.path), "message": escape_text(p.message), "code": p.code,
             "pointer": escape_text(_pointer(p.path) or "") or None if json_body else None}
            for p in problems]


def from_engine(exc: RulesError, json_body: bool = False) -> ProblemError:
    """The problem an engine error is to a client."""
    if isinstance(exc, InputError):
        return ProblemError(422, "Invalid input", str(exc.problems[0]) if exc.problems else "invalid input",
                            problem_items(exc.problems, json_body), kind="invalid-input")
    if isinstance(exc, GovernanceError):
        return ProblemError(422, "Refused by governance", str(exc), kind="refused-by-governance")
    if isinstance(exc, Stale):
        return ProblemError(412, "Precondition failed", str(exc))
    if isinstance(exc, Conflict):
        return ProblemError(409, "Conflict", str(exc))
    if isinstance(exc, TooLarge):
        return ProblemError(422, "Too large", str(exc), kind="too-large")
    if isinstance(exc, KeyReused):
        return ProblemError(422, "Idempotency key reused", str(exc), kind="idempotency-key-reused")
    if isinstance(exc, TimeLimitExceeded):
        return ProblemError(503, "Time limit exceeded", str(exc), headers={"Retry-After": "60"})
    if isinstance(exc, LookupFailure):
        return ProblemError(404, "Not found", str(exc))
    if isinstance(exc, AuditFailure):
        return ProblemError(409, "Audit failure", str(exc))
    if isinstance(exc, LogError):
        return ProblemError(503, "Decision log unavailable", str(exc))
    if isinstance(exc, EvaluationError):
        return ProblemError(422, "Cannot evaluate", str(exc))
    return ProblemError(400, "Bad request", str(exc))


ERROR_STATUSES = (400, 401, 403, 404, 409, 412, 413, 415, 422, 428, 500, 503)


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem documents."""
    schema = {"$ref": "#/components/schemas/ProblemDetails"}
    return {status: {"description": _WORDS.get(status, "Problem"), "content": {MEDIA_TYPE: {"schema": schema}}}
            for status in statuses}


_WORDS = {400: "Bad request", 401: "No, unknown or revoked token", 403: "The token's role may not do this",
          404: "Not found", 406: "Not acceptable: a media type this answer does not come in",
          409: "The decision log does not verify; or what the request makes exists already",
          412: "The draft was saved since: the If-Match is stale", 413: "Body too large",
          415: "Unsupported media type", 422: "Invalid input: the problems, with their positions",
          428: "If-Match is required",
          500: "Unexpected error: an error id, no details", 503: "Time limit exceeded, or the log is unavailable"}


# What each problem type means and what to do about it: what a problem's ``type`` URI answers (RFC 9457 §3.1.1).
PROBLEM_TYPES = {
    "bad-request": (400, "The request itself is malformed: a parameter, header or JSON field is not what this API "
                    "takes. The detail names it; the API's description is at /docs and /openapi.json."),
    "bad-idempotency-key": (400, "The Idempotency-Key header is not 1 to 255 printable characters. Send one key per "
                            "request you mean to make once, such as a UUID."),
    "unauthorized": (401, "No token was sent, or the token is unknown or revoked. Send 'Authorization: Bearer "
                     "TOKEN' with a token an administrator of this service made for you."),
    "forbidden": (403, "The token's role may not do this. The detail names the roles that may; ask an administrator "
                  "for a token with one of them."),
    "not-found": (404, "What the path names does not exist: a ruleset, a version, a record or an applicant."),
    "method-not-allowed": (405, "The path exists, but not with this HTTP method: the Allow header lists those it "
                           "takes."),
    "not-acceptable": (406, "The answer does not come in the media type the Accept header asks for; the detail "
                       "names those it comes in."),
    "audit-failure": (409, "The decision log does not verify: a record, its link to the one before it, or a stored "
                      "text was changed, removed or planted. The detail names the first one. Nothing is decided "
                      "or logged until an auditor has looked."),
    "conflict": (409, "What the request would make exists already: a draft of this version, or a published "
                 "version (a published text never changes: a change is a new version)."),
    "precondition-failed": (412, "The draft was saved by someone else since you loaded it: the If-Match you sent is "
                            "no longer its ETag. Load it again, redo your edit, and send the new ETag."),
    "precondition-required": (428, "Changing a draft needs the If-Match header with the ETag you loaded it with, so "
                              "that no edit is written over another unseen."),
    "payload-too-large": (413, "The body is larger than this server accepts (its --max-body)."),
    "unsupported-media-type": (415, "The body's Content-Type is not one this request takes: the detail lists them."),
    "invalid-input": (422, "The body was read, but it is not valid: each problem is listed under 'problems' with its "
                      "place (file, line, column, and for JSON a JSON pointer)."),
    "refused-by-governance": (422, "Governance refuses this: a draft or a version out of its period cannot decide "
                              "officially, an approval needs an approver, a published text never changes. The "
                              "detail says which, and what would be allowed."),
    "too-large": (422, "More was asked for in one answer than this server's operator allows (one PDF holds at most "
                  "RULES_MAX_LETTERS letters): the detail says how many, and how to ask for fewer."),
    "idempotency-key-reused": (422, "This Idempotency-Key was used for another request: a key names one request."),
    "cannot-evaluate": (422, "The rules could not be applied to these facts (a value the arithmetic or the second "
                        "evaluator cannot hold); the detail names the applicant and the value."),
    "internal-error": (500, "An unexpected error. Nothing was logged. Quote the error id to the service's operator."),
    "busy": (503, "This server is deciding as many large calls as it may at once. Send it again after the seconds "
             "in Retry-After."),
    "time-limit-exceeded": (503, "The request took longer than this server's time limit and was stopped; nothing was "
                            "logged. Split the call, or ask the operator about --time-limit."),
    "decision-log-unavailable": (503, "The decision log cannot be opened or written (a full disk, a database that "
                                 "does not answer). Nothing was decided or logged."),
    "not-ready": (503, "The server cannot decide yet: its rules do not compile or its log cannot be opened."),
}


def public_paths(problem: ProblemError, rules_dir: str) -> ProblemError:
    """The problem as a caller sees it: the server's own rules folder is 'rules', never its path on disk."""
    folder = str(rules_dir)
    if len(folder) < 2 or "/" not in folder:
        return problem
    problem.detail = problem.detail.replace(folder + "/", "rules/").replace(folder, "the rules folder")
    for item in problem.problems:
        item["file"] = str(item.get("file", "")).replace(folder + "/", "rules/").replace(folder, "rules")
    return problem
