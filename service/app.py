"""``rules serve``: the engine as an HTTP service. A thin shell, like ``cli.py``.

Routes parse the request, check the token's role, call ``rules_engine`` (its ``api`` and ``audit``),
and map the engine's errors to RFC 9457 problems. No policy logic lives here, and the engine never
imports this package. The CPU work of a request runs in a thread under a deadline, so a request
that takes too long is stopped and answered 503 while the server goes on serving.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import functools
import hashlib
import html
import json
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

from fastapi import Body, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rules_engine import __version__

from rules_engine import api
from rules_engine.record.audit import DecisionLog, default_path, parse_head
from rules_engine.record.drafts import DraftStore
from rules_engine.record.audit_pg import is_postgres
from rules_engine.decide.decision import to_json_bytes
from rules_engine.errors import InputError, LogError, RulesError
from rules_engine.limits import deadline

from . import models as M
from .docs import docs_page
from .auth import ALLOWED, check_spec as _spec, find_token as _find_token, registry_log
from .observe import Metrics, add_observing
from .problems import MEDIA_TYPE, PROBLEM_TYPES, ProblemDetails, ProblemError, documented, from_engine, public_paths

LOG = logging.getLogger("rules.service")
MAX_BODY = 64 * 1024 * 1024
FACTS_TYPES = {"application/json": "json", "application/yaml": "yaml", "application/x-yaml": "yaml",
               "text/yaml": "yaml", "text/x-yaml": "yaml"}
SPREADSHEET = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
RULE_TEXT_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")



@dataclass(frozen=True)
class Settings:
    rules_dir: str = "rules"
    log: str = ""
    time_limit: float = 30.0
    max_body: int = MAX_BODY
    no_auth: bool = False
    require_approvals: int = 0
    heavy_requests: int = 2  # large bodies decided at once per worker (each in a child process)
    signers: tuple = ()  # the allowed signers' public keys: only approvals signed by one of them count
    checkpoint_key: str = ""  # a signing key file: the server signs checkpoints of the log's tree (GET /v1/audit/checkpoint)
    checkpoint_every: float = 60.0  # at most one new checkpoint per this many seconds

    @classmethod
    def from_env(cls) -> "Settings":
        """What ``rules serve`` hands its worker processes."""
        env = os.environ
        return cls(env.get("RULES_SERVE_RULES_DIR", "rules"), env.get("RULES_LOG", ""),
                   float(env.get("RULES_SERVE_TIME_LIMIT", "30")), int(env.get("RULES_SERVE_MAX_BODY", str(MAX_BODY))),
                   env.get("RULES_SERVE_NO_AUTH") == "1", int(env.get("RULES_REQUIRE_APPROVALS", "0") or 0),
                   int(env.get("RULES_SERVE_HEAVY", "2")), _signers(env.get("RULES_ALLOWED_SIGNERS", "")),
                   env.get("RULES_CHECKPOINT_KEY", ""), float(env.get("RULES_CHECKPOINT_EVERY", "60")))

    @property
    def log_path(self) -> str:
        """The decision log: a file, or a postgresql:// URL."""
        return self.log or str(default_path())

    def log_exists(self) -> bool:
        return is_postgres(self.log_path) or Path(self.log_path).exists()


@dataclass(frozen=True)
class Caller:
    name: str
    role: str


# /docs has its own inline style and nothing else: no script, nothing from elsewhere, never in a frame
DOCS_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}

def app_from_env() -> FastAPI:
    return create_app(Settings.from_env())


POOL_SIZE = 8  # connections per worker and database; a request past them connects on its own


def create_app(settings: Settings) -> FastAPI:
    """The ASGI application for ``settings``."""
    app = FastAPI(title="rules", version=__version__, docs_url=None, redoc_url=None,
                  description="Allocation policy as data: evaluate calls, read the decision log, replay and verify.")
    app.state.settings = settings
    from rules_engine.limits import max_applicants, max_json_bytes, max_letters

    max_applicants(), max_json_bytes(), max_letters()  # a mistyped limit stops the server at start, not each request
    if is_postgres(settings.log_path):  # each worker keeps its connections open across requests
        from rules_engine.record.audit_pg import close_pools, use_pools

        use_pools(POOL_SIZE)
        app.router.on_shutdown.append(close_pools)
    metrics = Metrics()
    add_observing(app, metrics)
    _handlers(app)
    _routes(app, settings)

    @app.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
    def metrics_text(request: Request):
        """Requests and their durations, in Prometheus' text format (this worker's)."""
        _caller(request, settings, "read")
        return PlainTextResponse(metrics.render(), media_type="text/plain; version=0.0.4")

    from .web import add_web

    add_web(app, settings)
    _patch_openapi(app)
    return app


# --- errors -------------------------------------------------------------------


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    async def problem(_request: Request, exc: ProblemError):
        return JSONResponse(exc.body(), exc.status, headers=exc.headers, media_type=MEDIA_TYPE)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException):
        body = ProblemError(exc.status_code, _reason(exc.status_code), str(exc.detail)).body()
        return JSONResponse(body, exc.status_code, headers=getattr(exc, "headers", None), media_type=MEDIA_TYPE)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError):
        items = [{"file": "<request>", "line": 0, "column": 0, "field": ".".join(map(str, e.get("loc", ()))),
                  "message": str(e.get("msg", "")), "code": str(e.get("type", "invalid"))} for e in exc.errors()]
        body = ProblemError(400, "Bad request", "the request's parameters are not valid", items).body()
        return JSONResponse(body, 400, media_type=MEDIA_TYPE)

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception):
        error_id = uuid.uuid4().hex
        LOG.error("error %s", error_id, exc_info=exc)
        body = ProblemError(500, "Internal error", f"an unexpected error; quote error id {error_id}").body()
        return JSONResponse({**body, "error_id": error_id}, 500, media_type=MEDIA_TYPE)


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _patch_openapi(app: FastAPI) -> None:
    """Every error response is a problem document; FastAPI's own 422 schema is not used."""
    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        schema.setdefault("components", {}).setdefault("schemas", {})
        schema["components"]["schemas"].update(ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
                                               .pop("$defs", {}))
        schema["components"]["schemas"]["ProblemDetails"] = _problem_schema()
        for path in schema["paths"].values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                for status, entry in documented(400, 500, 503).items():
                    responses.setdefault(str(status), entry)
                if "422" in responses and "HTTPValidationError" in json.dumps(responses["422"]):
                    responses["422"] = documented(422)[422]
        for name in ("HTTPValidationError", "ValidationError"):
            schema["components"]["schemas"].pop(name, None)
        schema["components"]["securitySchemes"] = {"bearer": {
            "type": "http", "scheme": "bearer", "description": "A token from `rules token add NAME --role ROLE`, made "
            "by an administrator of the service; its role says what it may do."}}
        schema["security"] = [{"bearer": []}]
        for public in ("/healthz", "/readyz"):  # no token needed
            for operation in schema["paths"].get(public, {}).values():
                operation["security"] = []
        app.openapi_schema = schema
        return schema
    app.openapi = openapi


def _problem_schema() -> dict:
    schema = ProblemDetails.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    return schema


# --- the caller -------------------------------------------------------------------


ACTIONS = {"policy": "do a policy owner's work (publish, check drafts, compare)", "dry-run": "make a dry run",
           "read-own": "read decisions", "realisation": "report on the realisation of a decision",
           "drafts": "read drafts"}


def _caller(request: Request, settings: Settings, action: str) -> Caller:
    """Who is asking (from the bearer token), if their role may do ``action``; else 401 or 403."""
    if settings.no_auth:
        return Caller("local", "admin")
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="rules"'}
    if scheme.lower() != "bearer" or not secret.strip():
        raise ProblemError(401, "Unauthorized", "send 'Authorization: Bearer TOKEN' with a token an administrator of "
                           "this service made for you",
                           headers=challenge)
    token = _find_token(settings, secret.strip())
    if token is None:
        raise ProblemError(401, "Unauthorized", "unknown or revoked token", headers=challenge)
    if token.role not in ALLOWED[action]:
        raise ProblemError(403, "Forbidden", f"the role '{token.role}' may not {ACTIONS.get(action, action)} "
                           f"(allowed: {', '.join(sorted(ALLOWED[action]))})")
    return Caller(token.name, token.role)


# --- bodies and parameters ------------------------------------------------------------


async def _body(request: Request, settings: Settings) -> bytes:
    """The request body, refused (413) past the limit without reading more than that, within the time limit."""
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > settings.max_body:
        raise ProblemError(413, "Payload too large", f"the body is {int(length):,} bytes; the limit is "
                           f"{settings.max_body:,} (send large calls from the command line)")

    async def read() -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_body:
                raise ProblemError(413, "Payload too large", f"the body is over the limit of {settings.max_body:,} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    try:
        return await asyncio.wait_for(read(), settings.time_limit)
    except asyncio.TimeoutError:
        raise ProblemError(503, "Time limit exceeded", "the body did not arrive within the time limit",
                           headers={"Retry-After": "60"}) from None


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


class Checkpoints:
    """The checkpoints this worker signs with the server's key: a new one when the last is older than
    ``checkpoint_every`` seconds and the log has grown since; else the last one again."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.lock = threading.Lock()
        self.note, self.size, self.at = "", -1, float("-inf")

    def latest(self) -> str:
        from rules_engine.record.checkpoint import BadNote, signer
        from rules_engine.record.proofs import sign_checkpoint

        with self.lock:
            if time.monotonic() - self.at < self.settings.checkpoint_every and self.note:
                return self.note
            try:
                key = signer(Path(self.settings.checkpoint_key).read_text(encoding="utf-8"))
            except (OSError, BadNote) as exc:
                raise LogError(f"the server's checkpoint key cannot be used: {exc}") from None
            with DecisionLog(self.settings.log_path, create=True) as log:
                size = log.head()[0]
                if size != self.size or not self.note:
                    self.note, self.size = sign_checkpoint(log, key), size
            self.at = time.monotonic()
            return self.note


def _signers(path: str) -> tuple:
    """The allowed signers' public keys from ``rules serve --allowed-signers`` (checked when it started)."""
    from rules_engine.policy.signing import read_allowed

    return read_allowed(path) if path else ()


def _facts_format(request: Request, workbook: bool = False) -> str:
    """json or yaml from the body's Content-Type (and xlsx, where a workbook is taken); else 415."""
    media = _media(request)
    if workbook and media == SPREADSHEET:
        return "xlsx"
    if media not in FACTS_TYPES:
        kinds = "application/json, application/yaml or a workbook" if workbook else "application/json or application/yaml"
        raise ProblemError(415, "Unsupported media type", f"send the facts as {kinds}, not '{media or 'nothing'}'")
    return FACTS_TYPES[media]


def _date(value: str | None, name: str = "as_of") -> dt.date:
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ProblemError(400, "Bad request", f"{name} must be a date YYYY-MM-DD, not '{value[:40]}'") from None




def _overrides(values: list[str]) -> dict:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ProblemError(400, "Bad request", f"set must be NAME=VALUE, not '{item[:60]}'")
        out[name.strip()] = value.strip()
    return out


async def _work(settings: Settings, function: Callable, *args, json_body: bool = False) -> Any:
    """Run engine work in a thread under the time limit; engine errors become problems."""
    def run():
        with deadline(settings.time_limit):
            return function(*args)
    try:
        return await run_in_threadpool(run)
    except RulesError as exc:
        raise public_paths(from_engine(exc, json_body), settings.rules_dir) from None


async def _stoppable(settings: Settings, size: int, function: Callable, *args, json_body: bool = False) -> Any:
    """Pure engine work on a body of ``size`` bytes: a large one in a child process the time limit can stop,
    within this worker's heavy slots (503 with Retry-After when they are all taken); a small one as ``_work``."""
    from .heavy import HEAVY_BYTES, Busy, run_stoppable

    if size < HEAVY_BYTES:
        return await _work(settings, function, *args, json_body=json_body)
    try:
        with _slots(settings):
            return await run_in_threadpool(run_stoppable, function, args, settings.time_limit)
    except Busy:
        raise ProblemError(503, "Busy", f"this server decides {settings.heavy_requests} large call(s) at a time; "
                           "send it again shortly", headers={"Retry-After": "5"}) from None
    except RulesError as exc:
        raise public_paths(from_engine(exc, json_body), settings.rules_dir) from None


@functools.lru_cache(maxsize=None)
def _slots(settings: Settings):
    from .heavy import Slots

    return Slots(settings.heavy_requests)


def _json(data: Any, status: int = 200, headers: dict | None = None) -> Response:
    """Exact JSON (decimals as numbers, as in the decision record)."""
    return Response(to_json_bytes(data) + b"\n", status, headers=headers, media_type="application/json")


# --- routes -------------------------------------------------------------------------------


FACTS_BODY = {"requestBody": {"required": True, "description": "The facts of the call, as a facts file holds them",
                              "content": {"application/json": {"schema": {"type": "object"}},
                                          "application/yaml": {"schema": {"type": "string"}}}}}
SETTLEMENTS_BODY = {"requestBody": {"required": True, "description": "The settled quarters, per applicant: a facts file "
                                    "with quarters (quarter, contingent_fte, filled_fte), or such a workbook",
                                    "content": {"application/json": {"schema": {"type": "object"}},
                                                "application/yaml": {"schema": {"type": "string"}},
                                                SPREADSHEET: {"schema": {"type": "string", "format": "binary"}}}}}
RULE_TEXT_BODY = {"requestBody": {"required": True, "description": "The text of a rule file",
                                  "content": {m: {"schema": {"type": "string"}} for m in RULE_TEXT_TYPES}}}


def _routes(app: FastAPI, settings: Settings) -> None:
    _health_routes(app, settings)
    _ruleset_routes(app, settings)
    _draft_routes(app, settings)
    _policy_routes(app, settings)
    _decision_routes(app, settings)
    _audit_routes(app, settings)


def _health_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/healthz", response_model=M.Status, tags=["health"])
    def healthz():
        """Alive."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=M.Status, responses=documented(503), tags=["health"])
    def readyz():
        """Ready: the rules compile and the decision log can be opened."""
        try:
            with registry_log(settings) as log:
                count = sum(len(v) for v in api.catalogue(settings.rules_dir, log).values())
            if settings.log_exists():
                DecisionLog(settings.log_path, create=False).close()
        except RulesError as exc:
            raise ProblemError(503, "Not ready", str(exc)) from None
        return {"status": f"ready: {count} rule file(s)"}

    @app.get("/problems/{kind}", response_class=HTMLResponse, include_in_schema=False)
    def problem_type(kind: str):
        """What a problem's ``type`` says: its meaning and what to do (RFC 9457)."""
        if kind not in PROBLEM_TYPES:
            raise ProblemError(404, "Not found", "no such problem type")
        status, text = PROBLEM_TYPES[kind]
        title = html.escape(kind.replace("-", " ").capitalize())
        page = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title></head><body>"
                f"<h1>{title}</h1><p>HTTP {status}</p><p>{html.escape(text)}</p></body></html>")
        return HTMLResponse(page, headers=DOCS_HEADERS)

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    def docs():
        return HTMLResponse(docs_page(app.openapi()), headers=DOCS_HEADERS)

    @app.get("/docs/try", response_class=HTMLResponse, include_in_schema=False)
    def try_it():
        """Swagger UI on this server's OpenAPI document: every call tried with a token (Authorize)."""
        from .docs import TRY, TRY_HEADERS

        return HTMLResponse(TRY, headers=TRY_HEADERS)

    from fastapi.staticfiles import StaticFiles

    from .docs import swagger_folder

    app.mount("/docs/swagger", StaticFiles(directory=swagger_folder()), name="swagger")


def _ruleset_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/v1/rulesets", response_model=list[M.RulesetVersions], responses=documented(401, 403), tags=["rulesets"])
    async def rulesets(request: Request):
        """The rulesets, with their versions and effective periods."""
        _caller(request, settings, "read")
        found = await _work(settings, _catalogue, settings)
        return [{"id": rid, "versions": [M.version_summary(r) for r in versions]} for rid, versions in found.items()]

    @app.get("/v1/rulesets/{ruleset_id}/versions/{version}", response_model=M.RulesetVersion,
             responses=documented(401, 403, 404, 422), tags=["rulesets"])
    async def ruleset_version(ruleset_id: str, version: str, request: Request):
        """One version: its rule text and its parameters."""
        _caller(request, settings, "read")
        spec = _spec(f"{ruleset_id}@{version}")
        ruleset = await _work(settings, _resolved, settings, spec)
        return M.version_detail(ruleset)

    @app.post("/v1/rulesets/{ruleset_id}/versions/{version}/approve", status_code=201, response_model=M.Approval,
              responses=documented(401, 403, 404, 422), tags=["rulesets"])
    async def approve(ruleset_id: str, version: str, request: Request, payload: M.ApprovalRequest | None = Body(None)):
        """Approve the exact text of a version as the token's name: a record in the log's chain."""
        caller = _caller(request, settings, "approve")
        _spec(f"{ruleset_id}@{version}")
        note = payload.note if payload else None
        signature = payload.signature if payload else None
        once = _once(request, caller, {"note": note, "signature": signature})
        entry = await _work(settings, _approve, settings, f"{ruleset_id}@{version}", caller.name, note, once, signature)
        return {"seq": entry.seq, "ruleset": entry.ruleset_id, "version": entry.ruleset_version,
                "ruleset_sha256": entry.ruleset_sha256, "by": entry.requested_by, "recorded_at": entry.recorded_at}

    @app.post("/v1/registry", status_code=201, response_model=M.Publication, responses=documented(401, 403, 409, 422),
              tags=["rulesets"])
    async def publish(payload: M.PublishRequest, request: Request):
        """Publish a rule text into the log's registry (a record in the chain): from then on every server that uses
        this log decides its id with this exact text. The same text again answers its publication."""
        caller = _caller(request, settings, "policy")
        entry = await _work(settings, _publish, settings, payload.text, payload.file, caller.name, payload.note)
        return _publication(entry)

    @app.post("/v1/rulesets/{ruleset_id}/versions/{version}/withdraw", status_code=201, response_model=M.Publication,
              responses=documented(401, 403, 404, 409, 422), tags=["rulesets"])
    async def withdraw(ruleset_id: str, version: str, payload: M.WithdrawRequest, request: Request):
        """Withdraw a published version: it no longer decides; what it decided stays and replays."""
        caller = _caller(request, settings, "policy")
        _spec(f"{ruleset_id}@{version}")
        entry = await _work(settings, _withdraw, settings, ruleset_id, version, caller.name, payload.reason)
        return _publication(entry)

    @app.post("/v1/rulesets/{spec}/evaluate", status_code=201, openapi_extra=FACTS_BODY, tags=["rulesets"],
              responses={201: {"description": "Decided and logged; the body is `rules evaluate --format json`",
                               "content": {"application/json": {"schema": {"type": "object"}}},
                               "headers": {"Location": {"schema": {"type": "string"}}}},
                         200: {"description": "A dry run: decided, not logged",
                               "content": {"application/json": {"schema": {"type": "object"}}}},
                         **documented(401, 403, 404, 413, 415, 422)})
    async def evaluate(spec: str, request: Request, as_of: str | None = None, dry_run: bool = False,
                       simulate: bool = False, engine: Literal["python", "durable"] = "python",
                       set_: list[str] = Query([], alias="set")):
        """Decide a call: SPEC is a ruleset id (the published version in force on as_of) or id@version.

        Overrides (set), a draft or simulate=true make a simulation; dry_run=true logs nothing.
        """
        caller = _caller(request, settings, "dry-run" if dry_run else "evaluate")
        spec = _spec(spec)
        fmt = _facts_format(request)
        body = await _body(request, settings)
        day, overrides = _date(as_of), _overrides(set_)
        asking = api.Asking(simulate, not dry_run, caller.name, None, settings.require_approvals, settings.signers)
        once = None if dry_run else _once(request, caller, {"body_sha256": hashlib.sha256(body).hexdigest(),
                                                            "content_type": _media(request)})
        first = await _work(settings, _earlier, settings, once) if once else None
        if first is not None:
            data, seq = first
        else:
            decided = await _stoppable(settings, len(body), _decided, settings, spec, body, fmt, day, engine, overrides,
                                       asking, json_body=fmt == "json")
            data, seq = await _work(settings, _record_it, settings, decided, once)
        if seq is None:
            return Response(data, 200, media_type="application/json")
        return Response(data, 201, headers={"Location": f"/v1/decisions/{seq}"}, media_type="application/json")


def _own(caller: "Caller", log: DecisionLog, ref: str):
    """The checked record ``ref``, if the caller may read it: auditors every one, an evaluator its own."""
    entry = log.checked(log.get(ref))
    if caller.role not in ALLOWED["audit"] and entry.requested_by != caller.name:
        raise ProblemError(403, "Forbidden", f"record {entry.record_id} was not asked for by '{caller.name}': an "
                           f"evaluator reads the records it asked for (all records: {', '.join(sorted(ALLOWED['audit']))})")
    return entry


def _once(request: Request, caller: "Caller", body: dict) -> "api.Once | None":
    """The request's Idempotency-Key, bound to who sends it and to what it asks (method, path, query, body)."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    asked = {"method": request.method, "path": request.url.path, "query": sorted(request.query_params.multi_items()),
             **body}
    try:
        return api.Once.of(caller.name, key.strip('"'), asked)
    except InputError as exc:
        raise ProblemError(400, "Bad Idempotency-Key", exc.problems[0].message) from None


def _earlier(settings: Settings, once: "api.Once") -> tuple[bytes, str] | None:
    """The answer an idempotency key was given already, if any."""
    if not settings.log_exists():
        return None
    with DecisionLog(settings.log_path) as log:
        first = api.earlier(log, once)
    return (first.text, first.record_id) if first is not None else None


def _decided(settings: Settings, spec: str, body: bytes, fmt: str, day: dt.date, engine: str, overrides: dict,
             asking: "api.Asking") -> tuple[bytes, Any]:
    """Parse, validate and decide, writing nothing: (the JSON of ``rules evaluate``, what the log would store,
    or None for a dry run). Governance (approvals) is read from the log as it stands."""
    if not asking.logging and not _readable_log(settings):  # a dry run needs no log, only its approvals if any
        ruleset, record, facts = api.evaluate(spec, body, day, settings.rules_dir, engine, overrides, "<body>", fmt,
                                              asking)
        return to_json_bytes(record, end=b"\n"), None
    if asking.logging:
        DecisionLog(settings.log_path, create=True).close()  # made (or upgraded) before it is read
    with DecisionLog(settings.log_path, create=False) as log:
        ruleset, record, facts = api.evaluate(spec, body, day, settings.rules_dir, engine, overrides, "<body>", fmt,
                                              asking, log)
    data = to_json_bytes(record, end=b"\n")
    return data, api.submission(ruleset, record, data, facts, asking.who) if asking.logging else None


def _record_it(settings: Settings, decided: tuple, once: "api.Once | None") -> tuple[bytes, str | None]:
    """Append what was decided (unless a dry run): the answer is the record as stored, and its id."""
    data, submission = decided
    if submission is None:
        return data, None
    if once is not None:
        submission = dataclasses.replace(submission, idempotency_key=once.key, request_sha256=once.request_sha256)
    with DecisionLog(settings.log_path, create=True) as log:
        entry = log.append(submission)
    return entry.text, entry.record_id


def _expected_head(head: "str | M.Head") -> tuple[int, str]:
    text = head if isinstance(head, str) else f"{head.count}:{head.hash}"
    try:
        return parse_head(text)
    except RulesError:
        raise ProblemError(400, "Bad request", "head must be what GET /v1/audit/head answers ({\"count\": N, "
                           "\"hash\": \"64 hex digits\"}), or the text COUNT:HASH", kind="bad-request") from None


def _signed_checkpoint(payload: "M.VerifyRequest") -> tuple:
    from rules_engine.record.checkpoint import BadNote, verifier

    if not (payload.checkpoint and payload.public_key):
        raise ProblemError(400, "Bad request", "a checkpoint is checked with its signer's public key: send both "
                           "'checkpoint' and 'public_key'")
    try:
        return payload.checkpoint, verifier(payload.public_key)
    except BadNote as exc:
        raise ProblemError(400, "Bad request", f"public_key: {exc}") from None


def _draft_routes(app: FastAPI, settings: Settings) -> None:
    """Drafts in the registry: written and saved (ETag / If-Match), submitted, approved, published."""
    base = "/v1/rulesets/{ruleset_id}/drafts"
    one = base + "/{version}"

    @app.post(base, status_code=201, tags=["drafts"], responses=documented(401, 403, 404, 409, 422))
    async def start_draft(ruleset_id: str, payload: M.DraftRequest, request: Request):
        """A new draft: from a rule text (`text`), or from a version (`from`, with the new `version`)."""
        caller = _caller(request, settings, "policy")
        draft = await _work(settings, _in_log, settings, lambda log: api.start_draft(
            log, ruleset_id, caller.name, payload.text, payload.from_, payload.version, settings.rules_dir))
        return _draft_answer(draft, [], 201, {"Location": f"/v1/rulesets/{ruleset_id}/drafts/{draft.name.split('@', 1)[1]}"})

    @app.get(one, tags=["drafts"], responses=documented(401, 403, 404))
    async def get_draft(ruleset_id: str, version: str, request: Request):
        """A draft, its text and state; its ETag is what a change sends back in If-Match."""
        _caller(request, settings, "drafts")
        draft = await _work(settings, _in_log, settings, lambda log: DraftStore(log).get(f"{ruleset_id}@{version}"))
        return _draft_answer(draft, [])

    @app.put(one, tags=["drafts"], responses=documented(401, 403, 404, 412, 422, 428))
    async def save_draft(ruleset_id: str, version: str, payload: M.DraftText, request: Request):
        """Save the draft's new text, if If-Match is still its ETag (else 412, and nothing is written over); the
        answer lists the text's problems, each at its line and column (a draft may be saved with problems)."""
        from rules_engine.policy import drafts

        caller = _caller(request, settings, "policy")
        etag = _if_match(request)
        draft, problems = await _work(settings, _in_log, settings, lambda log: drafts.save(
            log, f"{ruleset_id}@{version}", payload.text, etag, caller.name))
        return _draft_answer(draft, problems)

    @app.post(one + "/submit", tags=["drafts"], responses=documented(401, 403, 404, 412, 422, 428))
    async def submit_draft(ruleset_id: str, version: str, payload: M.ReasonRequest, request: Request):
        """Submit the draft for approval: its text is fixed as it will be published (a record in the chain)."""
        caller = _caller(request, settings, "policy")
        etag = _if_match(request)
        draft, entry = await _work(settings, _in_log, settings, lambda log: api.submit_draft(
            log, f"{ruleset_id}@{version}", etag, caller.name, payload.reason, settings.rules_dir))
        return _draft_answer(draft, [], extra={"submission": _publication(entry)})

    @app.post(one + "/approve", status_code=201, response_model=M.Approval, tags=["drafts"],
              responses=documented(401, 403, 404, 422))
    async def approve_draft(ruleset_id: str, version: str, request: Request,
                            payload: M.ApprovalRequest | None = Body(None)):
        """Approve the submitted text (never its author's own): a record in the chain."""
        caller = _caller(request, settings, "approve")
        note, signature = (payload.note, payload.signature) if payload else (None, None)
        draft = await _work(settings, _in_log, settings, lambda log: DraftStore(log).get(f"{ruleset_id}@{version}"))
        if api.same_person(draft.author, caller.name):
            raise ProblemError(403, "Forbidden", f"{caller.name} wrote draft {draft.name}: an author never approves "
                               "their own text; another approver does")
        entry = await _work(settings, _in_log, settings, lambda log: api.approve_draft(
            log, f"{ruleset_id}@{version}", caller.name, note, None, signature, settings.signers))
        return {"seq": entry.seq, "ruleset": entry.ruleset_id, "version": entry.ruleset_version,
                "ruleset_sha256": entry.ruleset_sha256, "by": entry.requested_by, "recorded_at": entry.recorded_at}

    @app.post(one + "/publish", status_code=201, response_model=M.Publication, tags=["drafts"],
              responses=documented(401, 403, 404, 409, 422))
    async def publish_draft(ruleset_id: str, version: str, request: Request,
                            payload: M.PublishDraftRequest | None = Body(None)):
        """Publish the submitted text once it has the approvals this server requires (at least one, by others than
        its author): from then on it decides on every server of this log."""
        caller = _caller(request, settings, "policy")
        note = payload.note if payload else None
        entry = await _work(settings, _in_log, settings, lambda log: api.publish_draft(
            log, f"{ruleset_id}@{version}", caller.name, settings.require_approvals, note, settings.signers))
        return _publication(entry)


def _in_log(settings: Settings, action: Callable[[DecisionLog], Any]) -> Any:
    with DecisionLog(settings.log_path, create=True) as log:
        return action(log)


def _if_match(request: Request) -> str:
    etag = request.headers.get("if-match")
    if not etag:
        raise ProblemError(428, "Precondition required", "send If-Match with the draft's ETag (from GET), so that no "
                           "edit is written over another unseen")
    return etag


def _draft_answer(draft, problems: list, status: int = 200, headers: dict | None = None,
                  extra: dict | None = None) -> JSONResponse:
    from rules_service.problems import problem_items

    body = {"name": draft.name, "ruleset": draft.ruleset_id, "version": draft.name.split("@", 1)[1],
            "state": draft.state, "author": draft.author, "revision": draft.revision, "updated_at": draft.updated_at,
            "etag": draft.etag, "text": draft.text, "problems": problem_items(problems, False), **(extra or {})}
    return JSONResponse(body, status, headers={"ETag": draft.etag, **(headers or {})})


def _publish(settings: Settings, text: str, file: str, who: str, note: str | None):
    from rules_engine.policy import registry

    ruleset = api.compile_text(text, file)
    with DecisionLog(settings.log_path, create=True) as log:
        return registry.publish(log, ruleset, who, file, note)


def _withdraw(settings: Settings, ruleset_id: str, version: str, who: str, reason: str):
    from rules_engine.policy import registry

    with DecisionLog(settings.log_path, create=True) as log:
        return registry.withdraw(log, ruleset_id, version, who, reason)


def _publication(entry) -> dict:
    return {"seq": entry.seq, "kind": entry.kind, "ruleset": entry.ruleset_id, "version": entry.ruleset_version,
            "ruleset_sha256": entry.ruleset_sha256, "by": entry.requested_by, "recorded_at": entry.recorded_at}


def _catalogue(settings: Settings) -> dict:
    with registry_log(settings) as log:
        return api.catalogue(settings.rules_dir, log)


def _resolved(settings: Settings, spec: str):
    with registry_log(settings) as log:
        return api.resolve(spec, settings.rules_dir, dt.date.today(), log=log)


def _approve(settings: Settings, spec: str, who: str, note: str | None, once: "api.Once | None" = None,
             signature: str | None = None):
    with DecisionLog(settings.log_path, create=True) as log:
        first = api.earlier(log, once)
        if first is not None:
            return first
        ruleset = api.resolve(spec, settings.rules_dir, dt.date.today(), log=log)
        return api.approve(log, ruleset, who, note, once, signature=signature, allowed=settings.signers)


def _readable_log(settings: Settings) -> bool:
    if not settings.log_exists():
        return False
    try:
        DecisionLog(settings.log_path, create=False).close()
    except RulesError as exc:
        LOG.warning("dry run without approvals: %s", exc)
        return False
    return True


def _policy_routes(app: FastAPI, settings: Settings) -> None:
    @app.post("/v1/validate", response_model=M.Validation, openapi_extra=RULE_TEXT_BODY,
              responses=documented(401, 403, 413, 415, 422), tags=["policy"])
    async def validate(request: Request):
        """Check a rule text as `rules validate --strict` does (422 with its problems); nothing is stored."""
        _caller(request, settings, "policy")
        if _media(request) not in RULE_TEXT_TYPES:
            raise ProblemError(415, "Unsupported media type", "send the rule text as application/yaml or text/plain")
        body = await _body(request, settings)
        return await _stoppable(settings, len(body), _check, body)

    @app.post("/v1/diff", responses={200: {"description": "The JSON of `rules diff`",
                                           "content": {"application/json": {"schema": {"type": "object"}}}},
                                     **documented(401, 403, 404, 413, 415, 422)}, tags=["policy"])
    async def diff(request: Request, payload: M.DiffRequest = Body(...)):
        """What a change does: OLD and NEW (ids, id@version or rule texts) on the same facts."""
        _caller(request, settings, "policy")
        data = await _work(settings, _impact, settings, payload)
        return _json(data)


def _check(body: bytes) -> dict:
    from rules_engine.rules.load import decode

    result = api.check_text(decode(body, "<rule text>"), "<rule text>")
    if result.problems:
        raise InputError(result.problems)
    return {"valid": True,
            "findings": [{"file": f.location.file, "line": f.location.line, "column": f.location.col,
                          "code": f.code, "subject": f.subject, "message": f.message} for f in result.findings]}


def _impact(settings: Settings, payload: "M.DiffRequest") -> dict:
    from rules_engine.policy.diff import as_dict, impact_of

    day = _date(payload.as_of)
    for side in (payload.old, payload.new):
        if "\n" not in side:  # a rule text, or else an id: never a path
            _spec(side)
    with registry_log(settings) as log:
        old = api.resolve_text_or_spec(payload.old, settings.rules_dir, day, label="<old>", log=log)
        new = api.resolve_text_or_spec(payload.new, settings.rules_dir, day, payload.set or {}, label="<new>", log=log)
    if isinstance(payload.facts, str):
        raw, fmt = payload.facts.encode("utf-8"), "yaml"
    else:
        raw, fmt = json.dumps(payload.facts).encode("utf-8"), "json"
    return as_dict(impact_of(old, new, raw, "<facts>", fmt, day))


def _decision_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/v1/decisions", response_model=M.DecisionPage, responses=documented(401, 403, 409), tags=["decisions"])
    async def decisions(request: Request, ruleset: str | None = None, since: str | None = None,
                        until: str | None = None, limit: int = Query(100, ge=1, le=1000),
                        cursor: int = Query(0, ge=0, le=1 << 62)):
        """The log, oldest first, a page at a time (``cursor``: the last seq of the previous page)."""
        _caller(request, settings, "audit")
        bounds = [_date(v, n).isoformat() if v else None for v, n in ((since, "since"), (until, "until"))]
        return await _work(settings, _page, settings, ruleset, *bounds, limit, cursor)

    @app.get("/v1/decisions/{ref}", responses={200: {"description": "The stored record, byte for byte",
                                                     "content": {"application/json": {"schema": {"type": "object"}}}},
                                               **documented(401, 403, 404, 409)}, tags=["decisions"])
    async def decision(ref: str, request: Request):
        """One logged decision, byte for byte what `rules show` prints (an evaluator: the ones it asked for)."""
        caller = _caller(request, settings, "read-own")
        entry = await _work(settings, _with_log, settings, lambda log: _own(caller, log, ref))
        # a record never changes: its chain hash is its version; private (it holds applicants' data)
        tag = f'"{entry.hash}"'
        headers = {"ETag": tag, "Cache-Control": "private, max-age=31536000, immutable"}
        if tag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        return Response(entry.text, 200, media_type="application/json", headers=headers)

    @app.get("/v1/decisions/{ref}/letter/{applicant}", tags=["decisions"],
             responses={200: {"description": "The letter to the applicant: the statement of reasons in its words",
                              "content": {"text/plain": {"schema": {"type": "string"}},
                                          "text/html": {"schema": {"type": "string"}},
                                          "application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                        **documented(401, 403, 404, 406, 409)})
    async def letter(ref: str, applicant: str, request: Request, lang: Literal["nl", "en"] = "nl"):
        """The letter to one applicant (Dutch by default), as text or as a page to print (``Accept``)."""
        caller = _caller(request, settings, "read-own")
        media = _letter_media(request.headers.get("accept", "text/plain"))
        result = await _work(settings, _with_log, settings, lambda log: api.explain_record(
            log, _own(caller, log, ref).record_id, applicant, lang, audience="applicant"))
        from rules_engine.tell.letter import as_letter_html, as_letter_text, as_letters_pdf

        if media == "text/html":
            return HTMLResponse(as_letter_html(result), headers=LETTER_HEADERS)
        if media == "application/pdf":
            pdf = await _work(settings, as_letters_pdf, [result])
            return Response(pdf, 200, media_type="application/pdf",
                            headers={"Content-Disposition": f'inline; filename="letter-{applicant[:40]}.pdf"'})
        return Response(as_letter_text(result), 200, media_type="text/plain; charset=utf-8")

    @app.get("/v1/decisions/{ref}/letters", tags=["decisions"],
             responses={200: {"description": "Every applicant's letter as one PDF, one letter from a new page",
                              "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
                        **documented(401, 403, 404, 409, 422)})
    async def letters(ref: str, request: Request, lang: Literal["nl", "en"] = "nl"):
        """The letters of a decision as one PDF to print or send; over the operator's limit (``RULES_MAX_LETTERS``,
        500 unless set), 422: ask for each applicant's letter (``/letter/{applicant}``) instead."""
        caller = _caller(request, settings, "read-own")
        pdf = await _work(settings, _with_log, settings, lambda log: api.letters_pdf(
            log, _own(caller, log, ref).record_id, lang))
        return Response(pdf, 200, media_type="application/pdf",
                        headers={"Content-Disposition": 'attachment; filename="letters.pdf"'})

    @app.post("/v1/decisions/{ref}/realisation", tags=["decisions"], openapi_extra=SETTLEMENTS_BODY,
              responses={200: {"description": "As `rules report realisation REF SETTLEMENTS --format json` "
                                              "(or csv, or xlsx: as Accept asks)",
                               "content": {"application/json": {"schema": {"type": "object"}},
                                           "text/csv": {"schema": {"type": "string"}},
                                           SPREADSHEET: {"schema": {"type": "string", "format": "binary"}}}},
                         **documented(400, 401, 403, 404, 406, 409, 415, 422)})
    async def realisation(ref: str, request: Request, base: str | None = None, quarter: str | None = None,
                          through: str | None = None, lang: Literal["nl", "en"] = "nl"):
        """How far the growth path of a logged official decision was realised, from the settled quarters in the
        body (each applicant's quarters: quarter, contingent_fte, filled_fte; YAML, JSON or a workbook). The
        answer is JSON, or CSV or a workbook with headings in ``lang`` when Accept asks for them."""
        from rules_engine.tell.report import realisation_csv, realisation_workbook

        _caller(request, settings, "realisation")
        media = _report_media(request.headers.get("accept", ""))
        fmt = _facts_format(request, workbook=True)
        body = await _body(request, settings)
        result = await _work(settings, _with_log, settings,
                             lambda log: api.realisation_report(log, ref, body, base, quarter, through),
                             json_body=fmt == "json")
        if media == "text/csv":
            return Response(realisation_csv(result, lang), 200, media_type="text/csv; charset=utf-8")
        if media == SPREADSHEET:
            return Response(realisation_workbook(result, lang), 200, media_type=SPREADSHEET,
                            headers={"Content-Disposition": 'attachment; filename="realisation.xlsx"'})
        return _json(result.as_dict())

    async def explanation(ref: str, applicant: str | None, request: Request, lang: str, fmt: str):
        _caller(request, settings, "audit")
        result = await _work(settings, _with_log, settings, lambda log: api.explain_record(log, ref, applicant, lang))
        if fmt == "json":
            return _json(result)
        from rules_engine.tell.explain import as_text

        return Response(as_text(result), 200, media_type="text/plain; charset=utf-8")

    explain_responses = {200: {"description": "The statement of reasons",
                               "content": {"text/plain": {"schema": {"type": "string"}},
                                           "application/json": {"schema": {"type": "object"}}}},
                         **documented(401, 403, 404, 409)}

    @app.get("/v1/decisions/{ref}/explain", responses=explain_responses, tags=["decisions"])
    async def explain_call(ref: str, request: Request, lang: Literal["nl", "en"] = "nl",
                           format: Literal["text", "json"] = "text"):  # noqa: A002 - the API's parameter name
        """The statement of reasons of the whole call (Dutch by default)."""
        return await explanation(ref, None, request, lang, format)

    @app.get("/v1/decisions/{ref}/explain/{applicant}", responses=explain_responses, tags=["decisions"])
    async def explain_applicant(ref: str, applicant: str, request: Request, lang: Literal["nl", "en"] = "nl",
                                format: Literal["text", "json"] = "text"):  # noqa: A002
        """The statement of reasons for one applicant."""
        return await explanation(ref, applicant, request, lang, format)

    @app.post("/v1/decisions/{ref}/replay", response_model=M.ReplayResult, responses=documented(401, 403, 404, 409),
              tags=["decisions"])
    async def replay(ref: str, request: Request):
        """Recompute a logged decision from the stored texts and compare it byte for byte."""
        _caller(request, settings, "audit")
        result = await _work(settings, _with_log, settings, lambda log: api.replay_record(log, ref))
        return M.replay_result(result, __version__)


LETTER_HEADERS = {"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
                  "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}


def _accepted(accept: str) -> list[str]:
    """The media types of an Accept header, most preferred first (by their quality; in order on a tie)."""
    offered = []
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        quality = next((p.split("=", 1)[1] for p in params.split(";") if p.strip().startswith("q=")), "1")
        try:
            offered.append((float(quality), media.strip().lower()))
        except ValueError:
            continue
    return [media for _quality, media in sorted(offered, key=lambda x: -x[0])]


def _letter_media(accept: str) -> str:
    """text/plain, text/html or application/pdf, whichever Accept prefers (a plain */* takes text); else 406."""
    for media in _accepted(accept):
        if media in ("text/plain", "text/*", "*/*"):
            return "text/plain"
        if media in ("text/html", "application/pdf"):
            return media
    raise ProblemError(406, "Not acceptable", "a letter is text/plain, text/html or application/pdf")


def _report_media(accept: str) -> str:
    """application/json, text/csv or a workbook, whichever Accept prefers (*/* and no Accept: JSON); else 406."""
    for media in _accepted(accept or "application/json"):
        if media in ("application/json", "application/*", "*/*"):
            return "application/json"
        if media in ("text/csv", SPREADSHEET):
            return media
    raise ProblemError(406, "Not acceptable", f"a report is application/json, text/csv or {SPREADSHEET}")


def _with_log(settings: Settings, action: Callable[[DecisionLog], Any]) -> Any:
    with DecisionLog(settings.log_path, create=False) as log:
        return action(log)


def _page(settings: Settings, ruleset: str | None, since: str | None, until: str | None, limit: int,
          cursor: int) -> dict:
    if not settings.log_exists():
        return {"decisions": [], "next_cursor": None}
    with DecisionLog(settings.log_path, create=False) as log:
        entries = list(log.entries(ruleset, since, until, after=cursor, limit=limit + 1))
    more = len(entries) > limit
    entries = entries[:limit]
    return {"decisions": [M.entry_summary(e) for e in entries],
            "next_cursor": entries[-1].seq if more and entries else None}


def _audit_routes(app: FastAPI, settings: Settings) -> None:
    @app.get("/v1/audit/tree", tags=["audit"], responses={200: {"description": "The Merkle tree's size and root "
             "(base64), what a checkpoint signs", "content": {"application/json": {"schema": {"type": "object"}}}},
             **documented(401, 403, 409)})
    async def tree(request: Request):
        """The log's Merkle tree (RFC 6962) now: sign it offline with `rules audit checkpoint` (the server never holds
        the key), compare it with a checkpoint you hold."""
        from rules_engine.record.proofs import tree_head

        _caller(request, settings, "read")
        if not settings.log_exists():
            return {"size": 0, "root": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}
        return await _work(settings, _with_log, settings, tree_head)

    signed = Checkpoints(settings)

    @app.get("/v1/audit/checkpoint", tags=["audit"], response_class=Response,
             responses={200: {"description": "The server's latest signed checkpoint of the log's tree (C2SP "
                                             "tlog-checkpoint in a signed note), as `rules audit checkpoint` writes it",
                              "content": {"text/plain": {"schema": {"type": "string"}}}}, **documented(401, 403, 404, 409)})
    async def checkpoint(request: Request):
        """A checkpoint this server signed with its own key (`rules serve --checkpoint-key`): at most one new one
        every `--checkpoint-every` seconds, and only when the log has grown. Keep it: should the log later show
        another history, this note proves what it showed you. Check it with `rules audit verify --checkpoint`."""
        _caller(request, settings, "read")
        if not settings.checkpoint_key:
            raise ProblemError(404, "Not found", "this server signs no checkpoints (rules serve --checkpoint-key); "
                               "sign the tree yourself: GET /v1/audit/tree, rules audit checkpoint")
        note = await _work(settings, signed.latest)
        return Response(note, 200, media_type="text/plain; charset=utf-8", headers={"Cache-Control": "no-cache"})

    @app.get("/v1/audit/proof/{ref}", tags=["audit"], responses={200: {"description": "As `rules audit prove`, "
             "against the tree of `size` records", "content": {"application/json": {"schema": {"type": "object"}}}},
             **documented(401, 403, 404, 409, 422)})
    async def proof(ref: str, request: Request, size: int | None = Query(None, ge=1)):
        """The inclusion proof of a record in the tree of `size` records (that of a checkpoint you hold; default:
        now). An evaluator gets the proofs of its own records only."""
        from rules_engine.record.proofs import inclusion_at

        caller = _caller(request, settings, "read-own")
        return await _work(settings, _with_log, settings, lambda log: inclusion_at(log, _own(caller, log, ref), size))

    @app.get("/v1/decisions/{ref}/proof", tags=["decisions"], responses={200: {"description": "As `rules audit "
             "prove REF`: the record's hash, its inclusion proof and, when this server signs checkpoints, the signed "
             "checkpoint it is proven against", "content": {"application/json": {"schema": {"type": "object"}}}},
             **documented(401, 403, 404, 409)})
    async def decision_proof(ref: str, request: Request):
        """The proof that a decision is in the log: with the server's signed checkpoint (`--checkpoint-key`), it
        checks with nothing but the server's public key (`rules audit check-proof`, docs/check_proof.py)."""
        from rules_engine.record.checkpoint import Verifier, signer
        from rules_engine.record.proofs import inclusion_at, inclusion_bundle

        caller = _caller(request, settings, "read-own")
        if not settings.checkpoint_key:
            return await _work(settings, _with_log, settings, lambda log: inclusion_at(log, _own(caller, log, ref)))
        note = await _work(settings, signed.latest)
        key = signer(Path(settings.checkpoint_key).read_text(encoding="utf-8"))
        public = Verifier(key.name, key.key_id, key.key.public_key())
        return await _work(settings, _with_log, settings,
                           lambda log: inclusion_bundle(log, _own(caller, log, ref), note, public))

    @app.get("/v1/audit/consistency", tags=["audit"], responses={200: {"description": "As `rules audit consistency`",
             "content": {"application/json": {"schema": {"type": "object"}}}}, **documented(401, 403, 409)})
    async def consistency(request: Request, old_size: int = Query(..., alias="from", ge=0)):
        """The proof that the tree of `from` records is the start of the tree now: for a witness."""
        from rules_engine.record.proofs import consistency_bundle

        _caller(request, settings, "read")
        return await _work(settings, _with_log, settings, lambda log: consistency_bundle(log, old_size))

    @app.get("/v1/audit/head", response_model=M.Head, responses=documented(401, 403, 409), tags=["audit"])
    async def head(request: Request):
        """COUNT:HASH of the log's last record, for an auditor to write down."""
        _caller(request, settings, "audit")
        if not settings.log_exists():
            return {"count": 0, "hash": "0" * 64}
        count, digest = await _work(settings, _with_log, settings, lambda log: log.head())
        return {"count": count, "hash": digest}

    @app.post("/v1/audit/verify", response_model=M.Verified, responses=documented(401, 403, 409), tags=["audit"])
    async def verify(request: Request, payload: M.VerifyRequest | None = Body(None)):
        """Recompute the chain and every stored text; 409 with the first bad record."""
        _caller(request, settings, "audit")
        expected = _expected_head(payload.head) if payload and payload.head else None
        signed = _signed_checkpoint(payload) if payload and (payload.checkpoint or payload.public_key) else None

        def check(log: DecisionLog) -> tuple[int, tuple]:
            from rules_engine.record.proofs import check_checkpoint
            count = log.verify(expected)
            if signed:
                check_checkpoint(log, signed[0], signed[1])
            return count, log.head()
        count, current = await _work(settings, _with_log, settings, check)
        return {"ok": True, "count": count, "head": f"{current[0]}:{current[1]}"}
