"""The web pages of ``rules serve``: the policy explorer, checking a draft, simulating, comparing,
the decision log with its motivations, replay, and the integrity check.

Server-rendered HTML (Jinja2, autoescaped), every asset shipped in this package; every page works without
JavaScript (the draft editor's ``static/editor.js`` adds checking as one types and sortable tables).
Signing in at ``/login`` takes an API token and sets it as an HttpOnly, SameSite=Strict session
cookie (Secure over TLS); the same roles as the API decide what a page shows. Every form that
runs something carries a CSRF token derived from the session (HMAC), checked on POST. The pages
call ``rules_engine.api`` like the API routes do; the engine never imports this package.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal
from fractions import Fraction
import hmac
import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, pass_context, select_autoescape

from rules_engine import api
from rules_engine.record.audit import NOT_DECISIONS, SESSION_HOURS, DecisionLog, Sessions, parse_head
from rules_engine.record.drafts import DraftStore, Stale
from rules_engine.errors import AuditFailure, InputError, Location, LookupFailure, RulesError, TooLarge, with_article
from rules_engine.limits import max_letters

from .auth import registry_log
from .dutch import error_text
from .texts import TEXTS

HERE = Path(__file__).resolve().parent
COOKIE, LANG_COOKIE, LOGIN_COOKIE = "rules_session", "rules_lang", "rules_login"
PAGE_SIZE = 50
ENV = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                  trim_blocks=True, lstrip_blocks=True)


@pass_context
def _number(context, value: Any, signed: bool = False) -> str:
    """A number as the page's reader writes it (Babel): 17 not 17.0, 1.234,5 in Dutch; a fraction to 4 decimals."""
    from rules_engine.tell.letter import Formatter

    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, Fraction, dict, str)):
        return str(value)
    if isinstance(value, float):
        value = Decimal(repr(value))
    text = Formatter.number_in(context.get("lang", "nl"), value)
    positive = isinstance(value, (int, Decimal, Fraction)) and value > 0
    return ("+" + text) if signed and positive else text


@pass_context
def _value(context, value: Any) -> str:
    """A value of the engine (official, draft, a step's kind) in the page's language."""
    return context["t"].get("values", {}).get(value, value) if isinstance(value, str) else value


@pass_context
def _percent(context, value: Any) -> str:
    """A rate as a percentage with two decimals, in the page's language (83,33% in Dutch)."""
    from rules_engine.tell.render import percent

    if value is None:
        return ""
    text = percent(value)
    return text.replace(".", ",") if context.get("lang", "nl") == "nl" else text


ENV.filters["pct"] = _percent
ENV.filters["num"] = _number
ENV.filters["v"] = _value


# every HTML page, /docs included: nothing from elsewhere, never in a frame
PAGE_HEADERS = {"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
                "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"}


class Denied(Exception):
    """A page the caller may not see (403), or must sign in for (redirect)."""

    def __init__(self, status: int, detail: str = ""):
        super().__init__(detail)
        self.status, self.detail = status, detail


def add_web(app: FastAPI, settings) -> None:
    """Mount the pages and their static files on the API's application."""
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    pages = Pages(settings)

    @app.exception_handler(Denied)
    async def denied(request: Request, exc: Denied):
        if exc.status == 401:
            return RedirectResponse(f"/login?next={quote(request.url.path)}", 303)
        from .auth import ALLOWED

        roles = ", ".join(sorted(ALLOWED[exc.detail])) if exc.status == 403 and exc.detail in ALLOWED else ""
        return pages.render(request, "error.html", pages.user(request), status=exc.status, code=exc.status,
                            detail=exc.detail, roles=roles)

    for path, method, handler in pages.routes():
        app.add_api_route(path, handler, methods=[method], include_in_schema=False, response_class=HTMLResponse)


class Pages:
    def __init__(self, settings):
        self.settings = settings

    def routes(self) -> list:
        return [("/", "GET", self.home), ("/login", "GET", self.login_form), ("/login", "POST", self.login),
                ("/logout", "POST", self.logout), ("/lang/{code}", "GET", self.language),
                ("/rules", "GET", self.rulesets), ("/rules/{ruleset_id}/{version}", "GET", self.ruleset),
                ("/check", "GET", self.check_form), ("/check", "POST", self.check),
                ("/check/publish", "POST", self.publish),
                ("/simulate", "GET", self.simulate_form), ("/simulate", "POST", self.simulate),
                ("/compare", "GET", self.compare_form), ("/compare", "POST", self.compare),
                ("/decisions", "GET", self.decisions), ("/decisions/{seq}", "GET", self.decision),
                ("/decisions/{seq}/record.json", "GET", self.record),
                ("/decisions/{seq}/letters.pdf", "GET", self.letters), ("/decisions/{seq}/replay", "POST", self.replay),
                ("/decisions/{seq}/realisation", "GET", self.realisation_form),
                ("/decisions/{seq}/realisation", "POST", self.realisation),
                ("/integrity", "GET", self.integrity), ("/integrity", "POST", self.verify),
                ("/drafts", "GET", self.drafts), ("/drafts", "POST", self.new_draft),
                ("/drafts/{ruleset_id}/{version}", "GET", self.draft), ("/drafts/{ruleset_id}/{version}", "POST",
                                                                        self.save_draft),
                ("/drafts/{ruleset_id}/{version}/submit", "POST", self.submit_draft),
                ("/drafts/{ruleset_id}/{version}/approve", "POST", self.approve_draft),
                ("/drafts/{ruleset_id}/{version}/publish", "POST", self.publish_draft),
                ("/drafts/{ruleset_id}/{version}/check", "POST", self.check_draft),
                ("/drafts/{ruleset_id}/{version}/try", "POST", self.try_draft)]

    # --- drafts: the editor beside its checks, and the approver's review ----------------------------

    async def drafts(self, request: Request):
        user = self.need(request, "drafts")
        listed = await _threaded(self.settings, _drafts_list, self.settings)
        return self.render(request, "drafts.html", user, drafts=listed, bases=_published(self._catalogue()))

    async def new_draft(self, request: Request):
        user = self.need(request, "policy")
        form = await self.form(request, user)
        base, version = str(form.get("base", "")).strip(), str(form.get("version", "")).strip()
        try:
            draft = await _threaded(self.settings, _in_log, self.settings, lambda log: api.start_draft(
                log, base.split("@", 1)[0], user[0], None, base, version, self.settings.rules_dir))
        except RulesError as exc:
            listed = await _threaded(self.settings, _drafts_list, self.settings)
            return self.render(request, "drafts.html", user, drafts=listed, bases=_published(self._catalogue()),
                               error=error_text(exc, self.lang(request)), status=422)
        return RedirectResponse(f"/drafts/{quote(draft.ruleset_id)}/{quote(draft.name.split('@', 1)[1])}", 303)

    async def draft(self, request: Request, ruleset_id: str, version: str, error: str = "", status: int = 200,
                    text: str | None = None, trial: dict | None = None):
        user = self.need(request, "drafts")
        lang = self.lang(request)
        view = await _threaded(self.settings, _draft_view, self.settings, f"{ruleset_id}@{version}", lang, text)
        return self.render(request, "draft.html", user, error=error, status=status, trial=trial or {},
                           bars=_shift_chart(trial["impact"], TEXTS[lang]) if trial and trial.get("impact") else None,
                           **view)

    async def check_draft(self, request: Request, ruleset_id: str, version: str):
        """The live check of the editor: the form's fields written into the draft, its problems under their
        fields (at their place in the field), in the page's language. Nothing is saved."""
        user = self.need(request, "policy")
        form = await self.form(request, user)
        typed = str(form.get("text", "")).replace("\r\n", "\n")
        found = await _threaded(self.settings, _live_check, self.settings, f"{ruleset_id}@{version}", typed,
                                _form_changes(form), self.lang(request))
        return JSONResponse(found, headers={"Cache-Control": "no-store"})

    async def try_draft(self, request: Request, ruleset_id: str, version: str):
        """Try the draft as saved: its test cases, or a simulation on a logged call's facts or an uploaded file,
        with the impact against the version in force."""
        user = self.need(request, "drafts")
        form = await self.form(request, user)
        name = f"{ruleset_id}@{version}"
        try:
            upload = form.get("facts_file")
            raw = await upload.read(self.settings.max_body + 1) if upload is not None and hasattr(upload, "read") else b""
            if len(raw) > self.settings.max_body:
                raise InputError.at(Location(upload.filename or "<facts>"), "the file is over the size limit")
            label = _upload_name(upload.filename, "<facts>") if raw else ""
            trial = await _threaded(self.settings, _try_draft, self.settings, name, {
                "tests": str(form.get("tests", "")), "call": str(form.get("call", "")), "as_of": str(form.get("as_of", "")),
                "facts": raw, "label": label, "run": str(form.get("run", ""))})
        except RulesError as exc:
            return await self.draft(request, ruleset_id, version, error=error_text(exc, self.lang(request)),
                                    status=422,
                                    trial={"tests_text": str(form.get("tests", ""))})
        return await self.draft(request, ruleset_id, version, trial=trial)

    async def save_draft(self, request: Request, ruleset_id: str, version: str):
        """Save the form: a changed YAML text as it is, else the changed fields written into the stored text."""
        from rules_engine.policy import drafts

        from .editor import apply

        user = self.need(request, "policy")
        form = await self.form(request, user)
        name, etag = f"{ruleset_id}@{version}", str(form.get("etag", ""))
        stored = await _threaded(self.settings, _in_log, self.settings, lambda log: DraftStore(log).get(name))
        typed = str(form.get("text", "")).replace("\r\n", "\n")
        changes = _form_changes(form)
        try:
            text = typed if typed != stored.text else apply(stored.text, changes)
            await _threaded(self.settings, _in_log, self.settings,
                            lambda log: drafts.save(log, name, text, etag, user[0]))
        except RulesError as exc:
            return await self.draft(request, ruleset_id, version, error=error_text(exc, self.lang(request)),
                                    status=412 if isinstance(exc, Stale) else 422, text=typed)
        except Exception as exc:  # noqa: BLE001 - a value the YAML cannot take (an unclosed bracket)
            return await self.draft(request, ruleset_id, version, error=f"{type(exc).__name__}: {exc}"[:300],
                                    status=422, text=typed)
        return RedirectResponse(f"/drafts/{quote(ruleset_id)}/{quote(version)}", 303)

    async def submit_draft(self, request: Request, ruleset_id: str, version: str):
        user = self.need(request, "policy")
        form = await self.form(request, user)
        name, etag, reason = f"{ruleset_id}@{version}", str(form.get("etag", "")), str(form.get("reason", "")).strip()
        return await self._draft_step(request, ruleset_id, version, lambda log: api.submit_draft(
            log, name, etag, user[0], reason, self.settings.rules_dir))

    async def approve_draft(self, request: Request, ruleset_id: str, version: str):
        user = self.need(request, "approve")
        form = await self.form(request, user)
        note = str(form.get("note", "")).strip() or None
        return await self._draft_step(request, ruleset_id, version, lambda log: api.approve_draft(
            log, f"{ruleset_id}@{version}", user[0], note, allowed=self.settings.signers))

    async def publish_draft(self, request: Request, ruleset_id: str, version: str):
        user = self.need(request, "policy")
        form = await self.form(request, user)
        note = str(form.get("note", "")).strip() or None
        try:
            entry = await _threaded(self.settings, _in_log, self.settings, lambda log: api.publish_draft(
                log, f"{ruleset_id}@{version}", user[0], self.settings.require_approvals, note, self.settings.signers))
        except RulesError as exc:
            return await self.draft(request, ruleset_id, version, error=error_text(exc, self.lang(request)),
                                    status=422)
        return RedirectResponse(f"/rules/{quote(entry.ruleset_id)}/{quote(entry.ruleset_version)}?published={entry.seq}",
                                status_code=303)

    async def _draft_step(self, request: Request, ruleset_id: str, version: str, step):
        try:
            await _threaded(self.settings, _in_log, self.settings, step)
        except RulesError as exc:
            return await self.draft(request, ruleset_id, version, error=error_text(exc, self.lang(request)),
                                    status=412 if isinstance(exc, Stale) else 422)
        return RedirectResponse(f"/drafts/{quote(ruleset_id)}/{quote(version)}", 303)

    # --- sessions, roles, rendering -------------------------------------------------

    def user(self, request: Request) -> tuple[str, str, str] | None:
        """(name, role, session id) of the signed-in session, or None. The cookie holds a session id, never a
        token: it does not open the API, and signing out or revoking the token ends it."""
        if self.settings.no_auth:
            return ("local", "admin", "local")
        session = request.cookies.get(COOKIE, "")
        if not session or len(session) > 100 or not self.settings.log_exists():
            return None
        try:
            with DecisionLog(self.settings.log_path) as log:
                token = Sessions(log).token(session)
        except RulesError:
            return None
        return (token.name, token.role, session) if token else None

    def need(self, request: Request, action: str) -> tuple[str, str, str]:
        from .auth import ALLOWED

        user = self.user(request)
        if user is None:
            raise Denied(401)
        if user[1] not in ALLOWED[action]:
            raise Denied(403, action)
        return user

    @staticmethod
    def csrf(user: tuple | None) -> str:
        return hmac.new(user[2].encode(), b"rules csrf", hashlib.sha256).hexdigest() if user else ""

    async def form(self, request: Request, user: tuple) -> Any:
        form = await request.form()
        if not hmac.compare_digest(str(form.get("csrf", "")), self.csrf(user)):
            raise Denied(403, "csrf")
        return form

    def lang(self, request: Request) -> str:
        return "en" if request.cookies.get(LANG_COOKIE) == "en" else "nl"

    def render(self, request: Request, template: str, user: tuple | None, status: int = 200, **context) -> HTMLResponse:
        from .auth import ALLOWED

        lang = self.lang(request)
        may = {action: bool(user) and user[1] in roles for action, roles in ALLOWED.items()}  # the links shown
        html = ENV.get_template(template).render(t=TEXTS[lang], lang=lang, user=user, csrf=self.csrf(user),
                                                 path=request.url.path, may=may, **context)
        return HTMLResponse(html, status, headers=PAGE_HEADERS)

    # --- sign in ---------------------------------------------------------------------

    async def home(self, request: Request):
        user = self.user(request)
        if user is None:
            return RedirectResponse("/login", 303)
        return self.render(request, "home.html", user)  # what the role may do: ``may``, as on every page

    async def login_form(self, request: Request, next: str = "/"):  # noqa: A002 - the query parameter's name
        return self._login_page(request, _local(next), "", 200)

    def _login_page(self, request: Request, next_path: str, error: str, status: int) -> HTMLResponse:
        """The sign-in form with a fresh CSRF value, also in a cookie (the form's post must carry both)."""
        value = secrets.token_urlsafe(24)
        response = self.render(request, "login.html", None, status=status, next=next_path, error=error,
                               login_csrf=value)
        response.set_cookie(LOGIN_COOKIE, value, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            path="/login", max_age=3600)
        return response

    async def login(self, request: Request):
        from .auth import find_token as _find_token

        _same_origin(request)
        form = await request.form()
        sent, kept = str(form.get("csrf", "")), request.cookies.get(LOGIN_COOKIE, "")
        if not sent or not hmac.compare_digest(sent, kept):
            raise Denied(403, "csrf")
        secret = str(form.get("token", "")).strip()
        token = _find_token(self.settings, secret) if secret else None
        next_path = _local(str(form.get("next", "/")))
        if token is None:
            return self._login_page(request, next_path, TEXTS[self.lang(request)]["login_failed"], 401)
        with DecisionLog(self.settings.log_path) as log:
            session = Sessions(log).start(token.name)
        response = RedirectResponse(next_path, 303)
        response.set_cookie(COOKIE, session, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            path="/", max_age=SESSION_HOURS * 3600)
        response.delete_cookie(LOGIN_COOKIE, path="/login")
        return response

    async def logout(self, request: Request):
        user = self.need(request, "read")
        await self.form(request, user)
        if not self.settings.no_auth:
            with DecisionLog(self.settings.log_path) as log:
                Sessions(log).end(user[2])
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def language(self, request: Request, code: str, back: str = "/"):
        response = RedirectResponse(_local(back), 303)
        response.set_cookie(LANG_COOKIE, "en" if code == "en" else "nl", samesite="strict", path="/",
                            max_age=365 * 86400)
        return response

    # --- the policy ------------------------------------------------------------------

    def _catalogue(self) -> dict:
        with registry_log(self.settings) as log:
            return api.catalogue(self.settings.rules_dir, log)

    async def rulesets(self, request: Request):
        user = self.need(request, "read")
        listing = self._catalogue()
        return self.render(request, "rulesets.html", user, rulesets=listing, timeline=_timeline(listing),
                           today=dt.date.today())

    async def ruleset(self, request: Request, ruleset_id: str, version: str, published: int = 0):
        user = self.need(request, "read")
        found = [r for r in self._catalogue().get(ruleset_id, []) if r.version == version]
        if not found:
            raise Denied(404, f"{ruleset_id} {version}")
        return self.render(request, "ruleset.html", user, r=found[0], lines=found[0].text.splitlines(),
                           published=published)

    # --- a draft -----------------------------------------------------------------------

    async def check_form(self, request: Request):
        user = self.need(request, "policy")
        return self.render(request, "check.html", user, text="", tests_text="", result=None, cases=[], tests_error="")

    async def check(self, request: Request):
        user = self.need(request, "policy")
        form = await self.form(request, user)
        text = await _text_field(form, "rule_text", "rule_file", self.settings.max_body)
        tests_text = str(form.get("tests_text", ""))
        result = await _threaded(self.settings, _check_text, text, self.lang(request))
        cases, tests_error = [], ""
        if result["valid"] and tests_text.strip():
            cases, tests_error = await _threaded(self.settings, _run_tests, text, tests_text)
        marks = {p["line"] for p in result["problems"] + result["findings"]}
        return self.render(request, "check.html", user, text=text, tests_text=tests_text, result=result,
                           lines=text.splitlines(), marks=marks, cases=cases, tests_error=tests_error,
                           download="data:text/yaml;charset=utf-8," + quote(text))

    async def publish(self, request: Request):
        """Publish a checked text into the log's registry, as the signed-in policy owner: then it decides on every
        server of the log. The text is checked again before it is published (lint's findings are shown, not
        blocking: an old version published to seed a registry has expired)."""
        user = self.need(request, "policy")
        form = await self.form(request, user)
        text, file_name = str(form.get("rule_text", "")), str(form.get("file_name", "")).strip()
        note = str(form.get("note", "")).strip() or None
        try:
            entry = await _threaded(self.settings, _publish_text, self.settings, text, file_name, user[0], note)
        except RulesError as exc:
            result = await _threaded(self.settings, _check_text, text, self.lang(request))
            return self.render(request, "check.html", user, text=text, tests_text="", result=result,
                               lines=text.splitlines(), marks=set(), cases=[], tests_error="",
                               publish_error=error_text(exc, self.lang(request)),
                               download="data:text/yaml;charset=utf-8," + quote(text), status=422)
        return RedirectResponse(f"/rules/{quote(entry.ruleset_id)}/{quote(entry.ruleset_version)}?published={entry.seq}",
                                status_code=303)

    # --- simulate and compare ------------------------------------------------------------

    def _choices(self) -> dict:
        listing = self._catalogue()
        specs = [f"{r.id}@{r.version}" for versions in listing.values() for r in versions]
        examples = sorted(p.name for p in _examples_dir(self.settings).glob("*.yaml")) if _examples_dir(self.settings) else []
        return {"specs": specs, "examples": examples}

    async def simulate_form(self, request: Request):
        user = self.need(request, "dry-run")
        return self.render(request, "simulate.html", user, result=None, error="", form={}, **self._choices())

    async def simulate(self, request: Request):
        user = self.need(request, "dry-run")
        form = await self.form(request, user)
        values = {k: str(form.get(k, "")) for k in ("spec", "example", "as_of", "overrides", "draft")}
        try:
            facts, label = await self._facts(form, values)
            record = await _threaded(self.settings, self._simulate, values, facts, label)
        except RulesError as exc:
            return self.render(request, "simulate.html", user, result=None, error=error_text(exc, self.lang(request)),
                               form=values, status=422, **self._choices())
        if form.get("download") == "json":
            from rules_engine.decide.decision import to_json_bytes

            return Response(to_json_bytes(record, end=b"\n"), media_type="application/json",
                            headers={"Content-Disposition": 'attachment; filename="simulation.json"'})
        if form.get("download") == "csv":
            from rules_engine.tell.render import decision_csv

            return Response(decision_csv(record), media_type="text/csv; charset=utf-8",
                            headers={"Content-Disposition": 'attachment; filename="simulation.csv"'})
        return self.render(request, "simulate.html", user, result=record, error="", form=values,
                           bars=_region_chart(record, TEXTS[self.lang(request)]), **self._choices())

    async def _facts(self, form, values: dict) -> tuple[bytes, str]:
        """(bytes, name) of the uploaded facts file, else of the shipped example picked."""
        upload = form.get("facts_file")
        if upload is not None and hasattr(upload, "read"):
            raw = await upload.read(self.settings.max_body + 1)
            if raw:
                if len(raw) > self.settings.max_body:
                    raise InputError.at(Location(upload.filename or "<facts>"), "the file is over the size limit")
                return raw, _upload_name(upload.filename, "<facts>")
        folder = _examples_dir(self.settings)
        name = values.get("example", "")
        if folder and name in {p.name for p in folder.glob("*.yaml")}:
            return (folder / name).read_bytes(), name
        raise InputError.at(Location("facts"), TEXTS["en"]["no_facts"])

    def _simulate(self, values: dict, facts: bytes, label: str) -> dict:
        """The simulated record, its decisions written out here, in the worker thread: the page reads them more
        than once, and a record's decisions are written each time they are read."""
        record = self._simulated(values, facts, label)
        return {**record, "decisions": list(record["decisions"])}

    def _simulated(self, values: dict, facts: bytes, label: str) -> dict:
        day = _day(values["as_of"])
        overrides = _overrides(values["overrides"])
        spec = _draft_or_spec(values)
        if isinstance(spec, str):
            with registry_log(self.settings) as log:
                return api.evaluate(spec, facts, day, self.settings.rules_dir, overrides=overrides, label=label,
                                    asking=api.Asking(simulate=True, logging=False), log=log)[1]
        from rules_engine.decide.decision import decide
        from rules_engine.rules.facts import parse_facts

        ruleset = api.resolve_text_or_spec(values["draft"], self.settings.rules_dir, day, overrides, label="<draft>")
        return decide(ruleset, parse_facts(facts, label, ruleset), day, kind="simulation")

    async def compare_form(self, request: Request):
        user = self.need(request, "policy")
        return self.render(request, "compare.html", user, result=None, error="", form={}, **self._choices())

    async def compare(self, request: Request):
        user = self.need(request, "policy")
        form = await self.form(request, user)
        values = {k: str(form.get(k, "")) for k in ("old", "new", "example", "as_of", "overrides", "draft")}
        try:
            facts, label = await self._facts(form, values)
            result = await _threaded(self.settings, self._compare, values, facts, label)
        except RulesError as exc:
            return self.render(request, "compare.html", user, result=None, error=error_text(exc, self.lang(request)),
                               form=values,
                               status=422, **self._choices())
        return self.render(request, "compare.html", user, result=result, error="", form=values,
                           bars=_shift_chart(result, TEXTS[self.lang(request)]), **self._choices())

    def _compare(self, values: dict, facts: bytes, label: str):
        from rules_engine.policy.diff import impact_of

        day = _day(values["as_of"])
        new_spec = values["draft"] if values["new"] == "draft" and values["draft"].strip() else _spec(values["new"])
        with registry_log(self.settings) as log:
            old = api.resolve_text_or_spec(_spec(values["old"]), self.settings.rules_dir, day, label="<old>", log=log)
            new = api.resolve_text_or_spec(new_spec, self.settings.rules_dir, day, _overrides(values["overrides"]),
                                           label="<new>", log=log)
        return impact_of(old, new, facts, label, None, day)

    # --- the decision log -----------------------------------------------------------------

    async def decisions(self, request: Request, ruleset: str = "", since: str = "", until: str = "", after: int = 0,
                        applicant: str = ""):
        user = self.need(request, "audit")
        bounds = [_filter_day(name, v) for name, v in (("since", since), ("until", until))]
        after = min(max(0, after), 1 << 62)  # a number beyond the log's is simply past its end
        applicant = applicant.strip()[:200]
        if applicant:
            entries, next_after = await _threaded(self.settings, _found, self.settings, applicant, ruleset or None,
                                                  *bounds, after)
        else:
            entries = await _threaded(self.settings, _entries, self.settings, ruleset or None, *bounds, after)
            next_after = entries[PAGE_SIZE - 1].seq if len(entries) > PAGE_SIZE else None
            entries = entries[:PAGE_SIZE]
        query = {"ruleset": ruleset, "since": since, "until": until, "applicant": applicant}
        return self.render(request, "decisions.html", user, entries=entries, query=query, next_after=next_after,
                           rulesets=sorted(self._catalogue()))

    async def realisation_form(self, request: Request, seq: int):
        user = self.need(request, "realisation")
        return self.render(request, "realisation.html", user, seq=seq, result=None, error="", form={})

    async def realisation(self, request: Request, seq: int):
        """How far the growth path of decision ``seq`` was realised, from an uploaded settlements file."""
        user = self.need(request, "realisation")
        form = await self.form(request, user)
        values = {k: str(form.get(k, "")).strip() for k in ("quarter", "through")}
        try:
            raw = await _bytes_field(form, "settlements_text", "settlements_file", self.settings.max_body)
            result = await _threaded(self.settings, _realisation, self.settings, seq, raw,
                                     values["quarter"] or None, values["through"] or None)
        except RulesError as exc:
            return self.render(request, "realisation.html", user, seq=seq, result=None,
                               error=error_text(exc, self.lang(request)), form=values,
                               status=422)
        return self.render(request, "realisation.html", user, seq=seq, result=result, error="", form=values,
                           bars=_realisation_bars(result))

    async def decision(self, request: Request, seq: int, applicant: str = "", audience: str = "applicant",
                       page: str = "1"):
        user = self.need(request, "audit")
        entry, record = await _threaded(self.settings, _stored, self.settings, seq)
        motivation = None
        if applicant:
            audience = "auditor" if audience == "auditor" else "applicant"
            motivation = await _threaded(self.settings, _explain, self.settings, seq, applicant, self.lang(request),
                                         audience)
        return self.decision_page(request, user, entry, record, page, applicant=applicant, motivation=motivation,
                                  audience=audience)

    def decision_page(self, request: Request, user: tuple, entry: Any, record: dict, page: str = "1",
                      status: int = 200, **context) -> HTMLResponse:
        """A logged decision's page: its totals, and a page of its applicants (``page``, from 1)."""
        context = {"applicant": "", "motivation": None, "audience": "applicant", "replayed": None, "error": "",
                   **context}
        number = int(page) if page.isdigit() and len(page) < 10 else 1
        return self.render(request, "decision.html", user, status, entry=entry, record=record,
                           letters_limit=max_letters(), paged=page_of(record.get("decisions", []), number), **context)

    async def record(self, request: Request, seq: int):
        self.need(request, "audit")
        entry, _record = await _threaded(self.settings, _stored, self.settings, seq)
        return Response(entry.text, media_type="application/json",
                        headers={"Content-Disposition": f'attachment; filename="decision-{seq}.json"'})

    async def letters(self, request: Request, seq: int):
        """Every applicant's letter as one PDF, in the page's language."""
        user = self.need(request, "audit")
        lang = self.lang(request)
        try:
            pdf = await _threaded(self.settings, lambda: _with_log(self.settings,
                                                                    lambda log: api.letters_pdf(log, str(seq), lang)))
        except TooLarge as exc:
            entry, record = await _threaded(self.settings, _stored, self.settings, seq)
            return self.decision_page(request, user, entry, record, error=error_text(exc, lang), status=422)
        return Response(pdf, media_type="application/pdf",
                        headers={"Content-Disposition": f'attachment; filename="letters-{seq}.pdf"'})

    async def replay(self, request: Request, seq: int):
        user = self.need(request, "audit")
        await self.form(request, user)
        entry, record = await _threaded(self.settings, _stored, self.settings, seq)
        result = await _threaded(self.settings, lambda: _with_log(self.settings, lambda log: api.replay_record(log, str(seq))))
        return self.decision_page(request, user, entry, record, replayed=result)

    async def integrity(self, request: Request):
        user = self.need(request, "audit")
        head = await _threaded(self.settings, _head, self.settings)
        return self.render(request, "integrity.html", user, head=head, verified=None, error="", given="",
                           checkpoint="", public_key="")

    async def verify(self, request: Request):
        user = self.need(request, "audit")
        form = await self.form(request, user)
        given = str(form.get("head", "")).strip()
        note, key = str(form.get("checkpoint", "")).replace("\r\n", "\n"), str(form.get("public_key", "")).strip()
        head = await _threaded(self.settings, _head, self.settings)
        count, error = await _threaded(self.settings, _verify, self.settings, given, note, key)
        keep = {"given": given, "checkpoint": note, "public_key": key}
        if error:
            return self.render(request, "integrity.html", user, head=head, verified=False, error=error, status=409,
                               **keep)
        return self.render(request, "integrity.html", user, head=head, verified=count, error="", **keep)


# --- helpers: pure, or over the engine -------------------------------------------------------


def _local(target: str) -> str:
    """Only a path on this site (no open redirect)."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


DECISIONS_PAGE = 200  # applicants on a decision's page: 100,000 of them were a page of 22 MB, 25 s to make


def page_of(items: list, page: int) -> dict:
    """The items page ``page`` (from 1; past either end, the nearest) shows, and where they stand among all."""
    pages = max(1, -(-len(items) // DECISIONS_PAGE))
    page = min(max(page, 1), pages)
    start = (page - 1) * DECISIONS_PAGE
    return {"rows": items[start:start + DECISIONS_PAGE], "page": page, "pages": pages, "first": start + 1,
            "last": min(start + DECISIONS_PAGE, len(items)), "total": len(items)}


async def _threaded(settings, function, *args):
    """Engine work in a thread under the service's time limit; its errors reach the page as they are."""
    from fastapi.concurrency import run_in_threadpool

    from rules_engine.limits import deadline

    def run():
        with deadline(settings.time_limit):
            return function(*args)
    return await run_in_threadpool(run)


async def _text_field(form, text_name: str, file_name: str, limit: int) -> str:
    """The text of an uploaded file (UTF-8, checked), else of the text box."""
    from rules_engine.rules.load import decode

    upload = await _upload(form, file_name, limit)
    return decode(upload[1], upload[0]) if upload else str(form.get(text_name, ""))


async def _bytes_field(form, text_name: str, file_name: str, limit: int) -> bytes:
    """The bytes of an uploaded file as they are (a workbook too), else the text box's text as UTF-8."""
    upload = await _upload(form, file_name, limit)
    return upload[1] if upload else str(form.get(text_name, "")).encode("utf-8")


async def _upload(form, name: str, limit: int) -> tuple[str, bytes] | None:
    """(file name, bytes) of a non-empty upload within ``limit``; None when nothing was uploaded."""
    upload = form.get(name)
    if upload is None or not hasattr(upload, "read"):
        return None
    raw = await upload.read(limit + 1)
    if len(raw) > limit:
        raise InputError.at(Location(upload.filename or "<upload>"), "the file is over the size limit")
    return (upload.filename or "<upload>", raw) if raw else None


def _upload_name(name: str | None, default: str) -> str:
    """An uploaded file's own name (no folders), as the command line would name it in a message."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base[:120] if base else default


def _check_text(text: str, lang: str = "en") -> dict:
    """What `rules validate --strict` says of a text, as plain data for the page (in Dutch when it knows how)."""
    from .dutch import in_dutch

    say = in_dutch if lang == "nl" else str
    if not text.strip():
        return {"problems": [], "findings": [], "valid": False, "empty": True}
    try:
        result = api.check_text(text, "<draft>")
    except RulesError as exc:
        return {"problems": [{"line": 0, "col": 0, "message": str(exc)}], "findings": [], "valid": False, "empty": False}
    problems = [{"line": p.location.line, "col": p.location.col, "field": p.path, "message": say(p.message)}
                for p in result.problems]
    findings = [{"line": f.location.line, "col": f.location.col, "field": f.code, "message": say(f.message)}
                for f in result.findings]
    return {"problems": problems, "findings": findings, "valid": not problems, "empty": False}


def _publish_text(settings, text: str, file_name: str, who: str, note: str | None):
    """Publish a rule text from the page: valid, a plain file name; then as ``rules publish``."""
    import re

    from rules_engine.policy import registry

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\.ya?ml", file_name):
        raise InputError.at(Location("file_name"), "a file name such as lde-2019.yaml: letters, digits, '.', '_' and "
                            "'-', ending in .yaml")
    checked = api.check_text(text, file_name)
    if checked.problems:
        raise InputError.at(checked.problems[0].location, f"not published: {checked.problems[0].message}")
    with DecisionLog(settings.log_path, create=True) as log:
        return registry.publish(log, checked.ruleset, who, file_name, note)


def _realisation(settings, seq: int, settlements: bytes, quarter: str | None, through: str | None):
    if not settings.log_exists():
        raise LookupFailure(f"no record {seq}: the decision log is empty")
    with DecisionLog(settings.log_path, create=False) as log:
        return api.realisation_report(log, str(seq), settlements, None, quarter, through)


def _realisation_bars(result) -> list[dict]:
    """Per region and quarter: allocated against extra filled, as bar widths (percent of the largest allocation)."""
    rows = [r for r in result.rows if r.applicant is None and r.region is not None]
    top = max((r.allocated_fte for r in rows), default=0) or 1
    return [{"quarter": r.quarter, "region": r.region, "allocated": r.allocated_fte, "extra": r.extra_filled_fte or 0,
             "allocated_width": round(float(r.allocated_fte / top) * 100, 1),
             "extra_width": round(float((r.extra_filled_fte or 0) / top) * 100, 1)} for r in rows]


def _run_tests(text: str, tests_text: str) -> tuple[list[dict], str]:
    """The draft's own test cases, as `rules test` runs them: ([{name, passed, failures}], error)."""
    from rules_engine.tell.explain import show

    try:
        results = api.run_draft_tests(text, tests_text)
    except RulesError as exc:
        return [], str(exc)
    return [{"name": r.name, "passed": r.passed,
             "failures": [f"{f.location.line}: {f.subject}.{f.key}: expected {show(f.expected)}, got {show(f.actual)}"
                          for f in r.failures]} for r in results], ""


def _same_origin(request: Request) -> None:
    """A form posted from another site is refused (login CSRF): its Origin, when the browser sends one, is ours."""
    origin = request.headers.get("origin")
    if origin is None:  # not a browser's cross-site post (browsers send Origin on every form post)
        return
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own:
        raise Denied(403, "origin")


def _filter_day(name: str, text: str) -> str | None:
    """A date filter of a page, or 400 naming the parameter (never an error page of the server)."""
    if not text.strip():
        return None
    try:
        return dt.date.fromisoformat(text.strip()).isoformat()
    except ValueError:
        raise Denied(400, f"{name}={text[:40]}") from None


def _day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip()) if text.strip() else dt.date.today()
    except ValueError:
        raise InputError.at(Location("as_of"), f"'{text[:40]}' is not a date (YYYY-MM-DD)") from None


def _overrides(text: str) -> dict:
    out = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise InputError.at(Location("overrides", number, 1), f"write NAME=VALUE, not '{line[:60]}'")
            out[name.strip()] = value.strip()
    return out


def _spec(value: str) -> str:
    from .auth import check_spec

    return check_spec(value)


def _draft_or_spec(values: dict) -> str | None:
    """The ruleset spec picked, or None for the pasted draft (which must then be there)."""
    if values["spec"] == "draft":
        if not values["draft"].strip():
            raise InputError.at(Location("draft"), "paste the draft rule text, or pick a version")
        return None
    return _spec(values["spec"])


def _examples_dir(settings) -> Path | None:
    folder = Path(settings.rules_dir).resolve().parent / "examples"
    return folder if folder.is_dir() else None


def _with_log(settings, action):
    """``action`` on the log; a record that is not there is a 404 page, a log that does not check out a 409 page."""
    try:
        with DecisionLog(settings.log_path, create=False) as log:
            return action(log)
    except LookupFailure as exc:
        raise Denied(404, str(exc)) from None
    except AuditFailure as exc:
        raise Denied(409, str(exc)) from None


def _in_log(settings, action):
    with DecisionLog(settings.log_path, create=True) as log:
        return action(log)


def _drafts_list(settings) -> list:
    if not settings.log_exists():
        return []
    return _in_log(settings, lambda log: DraftStore(log).all())


def _published(catalogue: dict) -> list[str]:
    return [f"{r.id}@{r.version}" for versions in catalogue.values() for r in versions if r.status == "published"]


def _draft_view(settings, name: str, lang: str, typed: str | None) -> dict:
    """What the draft page shows: the text (the one typed, after a refused save), its problems at their lines, the
    form's fields, and against the version it replaces: the changes in words and line by line; its approvals."""
    from rules_engine.policy import drafts, registry
    from rules_engine.policy.backtest import official_calls

    from .editor import changes_in_words, fields, fields_of_text, line_diff

    def read(log):
        draft = DraftStore(log).get(name)
        text = draft.text if typed is None else typed
        check = _check_text(text, lang)
        compiled = api.compile_text(text, f"draft:{name}") if check["valid"] else None
        base = api.draft_base(log, name, settings.rules_dir)
        under = _field_problems(text, base, lang, compiled)
        if check["valid"] and under:  # it compiles, but states a figure it no longer uses: not to be submitted
            check = {**check, "valid": False, "problems": [{**p, "field": ""} for p in under]}
        approvals = []
        if draft.state == drafts.SUBMITTED and compiled is not None:
            approvals = api.approvals_for(log, compiled, exclude=draft.author)
        backtests = _backtests(log, compiled) if compiled is not None else []
        return {"draft": draft, "text": text, "check": check, "lines": text.splitlines(), "backtests": backtests,
                "marks": {p["line"] for p in check["problems"]},
                "fields": fields(compiled) if compiled is not None else {"parameters": [], **fields_of_text(text)},
                "base": base, "changes": changes_in_words(base, compiled, lang) if base and compiled else [],
                "diff": line_diff(base.text, text) if base else [], "approvals": approvals,
                "under": {p["field"]: p for p in under if p["field"]},
                "calls": [{"seq": e.seq, "as_of": e.as_of} for e in official_calls(log, draft.ruleset_id)][-20:],
                "in_registry": registry.has_registry(log)}
    return _with_log(settings, read)


_FORM_FIELDS = ("budget", "effective_from", "effective_to", "cap")
_FORM_PREFIXES = ("param:", "pdesc:", "when:", "desc:")


def _form_changes(form) -> dict:
    """The editor's fields the form posted (not the text, the token or the revision)."""
    return {key: str(value) for key, value in form.items() if key in _FORM_FIELDS or key.startswith(_FORM_PREFIXES)}


def _live_check(settings, name: str, typed: str, changes: dict, lang: str) -> dict:
    """The problems of the draft with the form's changes, each under its field: {problems: [...], valid}."""
    from .editor import apply

    def read(log):
        stored = DraftStore(log).get(name)
        try:
            text = typed if typed and typed != stored.text else apply(stored.text, changes)
        except Exception as exc:  # noqa: BLE001 - a value YAML cannot take (an unclosed bracket)
            return {"problems": [{"field": "", "position": 0, "line": 0, "col": 0, "message": str(exc)[:300]}],
                    "valid": False}
        problems = _field_problems(text, api.draft_base(log, name, settings.rules_dir), lang)
        return {"problems": problems, "valid": not problems}
    return _with_log(settings, read)


def _field_problems(text: str, base, lang: str, compiled=None) -> list[dict]:
    """The text's problems, or (when it compiles) the figures its texts state that its parameters do not have
    (those its rule file does not ignore, as submitting checks); each with the form field it belongs to and in
    the page's language. ``compiled``: the text, compiled already."""
    from rules_engine.errors import Problem
    from rules_engine.policy.figures import stale_figures

    from .dutch import in_dutch
    from .editor import field_problems

    try:
        compiled = compiled or api.compile_text(text, "<draft>")
        problems = [Problem(f.location, f.message, _stale_path(compiled, f.subject), f.code)
                    for f in stale_figures(base, compiled) if not f.ignored_by(compiled.lint_ignore)]
    except InputError as exc:
        problems = exc.problems
    shown = field_problems(text, problems)
    for problem in shown:
        problem["message"] = in_dutch(problem["message"]) if lang == "nl" else problem["message"]
    return shown


def _stale_path(compiled, subject: str) -> str:
    """The place of a text a stale figure was found in, as problems name places (the form's field)."""
    if subject.startswith("params."):
        return f"parameters.{subject[7:]}.description"
    for i, rule in enumerate(compiled.eligibility):
        if rule.id == subject:
            return f"eligibility[{i}].description"
    for i, rule in enumerate(compiled.tiers):
        if rule.id == subject:
            return f"priority.tiers[{i}].description"
    return ""


def _try_draft(settings, name: str, asked: dict) -> dict:
    """The draft's test cases run, or the draft simulated on a logged call's facts or an uploaded file."""
    def read(log):
        draft = DraftStore(log).get(name)
        if asked["run"] == "tests":
            return {"tests_text": asked["tests"], "tests": _draft_tests(draft.text, asked["tests"])}
        compiled = api.compile_text(draft.text, f"draft:{name}")
        return {"tests_text": asked["tests"], "call": asked["call"], "impact": _trial_impact(log, compiled, asked, settings)}
    return _with_log(settings, read)


def _draft_tests(text: str, cases: str) -> dict:
    if not cases.strip():
        raise InputError.at(Location("tests"), "write the test cases to run (as a tests/*.yaml file of the ruleset)")
    results = api.run_draft_tests(text, cases)
    return {"results": [{"name": r.name, "passed": r.passed, "failures": list(r.failures)} for r in results],
            "passed": sum(1 for r in results if r.passed), "total": len(results)}


def _trial_impact(log, compiled, asked: dict, settings):
    """The impact of the draft against the version in force: on an uploaded file (decided as of ``as_of``), or
    on a logged official call (as of its date, against the text that decided it)."""
    from rules_engine.policy.backtest import backtest, official_calls
    from rules_engine.policy.diff import impact_of

    if asked["facts"]:
        day = _day(asked["as_of"]) if asked["as_of"].strip() else compiled.effective_from
        base = api.draft_base(log, f"{compiled.id}@{compiled.version}", settings.rules_dir)
        if base is None:
            raise InputError.at(Location("facts_file"), f"no published version of {compiled.id} to compare with")
        return impact_of(base, compiled, asked["facts"], asked["label"], None, day)
    calls = {str(entry.seq): entry for entry in official_calls(log, compiled.id)}
    if asked["call"] not in calls:
        raise InputError.at(Location("call"), "pick a logged official call, or upload a facts file")
    return backtest(log, [calls[asked["call"]]], lambda _day: compiled)[0].impact


def _backtests(log, compiled, last: int = 5) -> list[dict]:
    """The draft re-run on the last official calls of its ruleset in the log, from their stored facts (what the
    approver weighs: what would each call have given)."""
    from rules_engine.policy.backtest import backtest, official_calls

    calls = official_calls(log, compiled.id)[-last:]
    runs = backtest(log, calls, lambda _day: compiled)
    return [{"seq": run.seq, "as_of": run.as_of.isoformat(), "changed": len(run.impact.changed),
             "applicants": len(run.impact.new["decisions"]), "eligible": (run.impact.old["eligible"],
                                                                          run.impact.new["eligible"]),
             "allocated": (run.impact.old["allocated_fte"], run.impact.new["allocated_fte"]),
             "regions": run.impact.regions} for run in runs]


def _found(settings, applicant: str, ruleset, since, until, after) -> tuple[list, int | None]:
    if not settings.log_exists():
        return [], None
    return _with_log(settings, lambda log: api.search_applicant(log, applicant, ruleset, since, until, after, PAGE_SIZE))


def _entries(settings, ruleset, since, until, after) -> list:
    if not settings.log_exists():
        return []
    return _with_log(settings, lambda log: list(log.entries(ruleset, since, until, after=after, limit=PAGE_SIZE + 1)))


def _stored(settings, seq: int):
    from decimal import Decimal

    def read(log):
        entry = log.checked(log.get(str(seq)))
        if entry.kind in NOT_DECISIONS:
            raise Denied(404, f"record {seq} is {with_article(entry.kind)}")
        return entry, json.loads(entry.text, parse_float=Decimal)
    if not settings.log_exists():
        raise Denied(404, f"record {seq}")
    return _with_log(settings, read)


def _explain(settings, seq: int, applicant: str, lang: str, audience: str) -> dict:
    return _with_log(settings, lambda log: api.explain_record(log, str(seq), applicant, lang, audience))


def _verify(settings, given: str, note: str = "", key: str = "") -> tuple[int | None, str]:
    """(records verified, "") or (None, why not): the chain, every stored text, the head written down, and a
    signed checkpoint (the log must still hold the tree its public key signed)."""
    from rules_engine.record.checkpoint import BadNote, verifier
    from rules_engine.record.proofs import check_checkpoint

    try:
        expected = parse_head(given) if given else None
        with DecisionLog(settings.log_path, create=False) as log:
            count = log.verify(expected)
            if note.strip():
                if not key:
                    return None, "a checkpoint is checked with the public key of whoever signed it"
                check_checkpoint(log, note if note.endswith("\n") else note + "\n", verifier(key))
            return count, ""
    except BadNote as exc:
        return None, str(exc)
    except RulesError as exc:
        return None, str(exc)


def _head(settings) -> str:
    if not settings.log_exists():
        return "0:" + "0" * 64
    count, digest = _with_log(settings, lambda log: log.head())
    return f"{count}:{digest}"


def _timeline(listing: dict) -> dict:
    """Per version, where its effective period starts and ends on a common axis (percent), for the timeline."""
    versions = [r for rs in listing.values() for r in rs]
    if not versions:
        return {}
    start = min(r.effective_from for r in versions)
    end = max([r.effective_to or r.effective_from for r in versions] + [dt.date.today()])
    span = max(1, (end - start).days)
    out = {}
    for r in versions:
        stop = r.effective_to or end
        out[(r.id, r.version)] = {"left": round(100 * (r.effective_from - start).days / span, 2),
                                  "width": max(1.0, round(100 * (stop - r.effective_from).days / span, 2))}
    years = [{"year": year, "left": round(100 * (dt.date(year, 1, 1) - start).days / span, 2)}
             for year in range(start.year + 1, end.year + 1)]  # a tick where each year begins
    return {"bars": out, "start": start, "end": end, "years": years}


def _region_chart(record: dict, t: dict) -> dict | None:
    """Requested against allocated FTE per region, as the bars of an SVG drawn here (no JavaScript)."""
    field = "region"
    groups: dict = {}
    for d in record["decisions"]:
        name = d.get(field) or t["all"]
        requested, allocated = groups.get(name, (0, 0))
        groups[name] = (requested + (float(d["requested_fte"] or 0) if d["eligible"] else 0), allocated + float(d["allocated_fte"]))
    return _bars([(name, a, b) for name, (a, b) in sorted(groups.items())], (t["requested_l"], t["allocated_l"]))


def _shift_chart(result, t: dict) -> dict | None:
    rows = [(name, float(r["before"] or 0), float(r["after"] or 0)) for name, r in result.regions.items()]
    if not rows:
        rows = [(t["all"], float(result.old["allocated_fte"]), float(result.new["allocated_fte"]))]
    return _bars(rows, (t["before"], t["after"]))


def _bars(rows: list, legend: tuple) -> dict | None:
    if not rows:
        return None
    top = max([max(a, b) for _, a, b in rows] + [1])
    height = 28 * len(rows) + 40
    bars = []
    for index, (name, first, second) in enumerate(rows):
        y = 30 + 28 * index
        bars.append({"name": name, "y": y, "a": first, "b": second, "wa": round(380 * first / top, 1),
                     "wb": round(380 * second / top, 1)})
    return {"bars": bars, "height": height, "legend": legend}
