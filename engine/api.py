"""The library's front door: what the CLI (and any other program) calls.

Nothing here prints or exits; errors are raised as ``engine.errors`` types.
"""
from __future__ import annotations

import dataclasses

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from .rules.compile import Ruleset, compile_file, compile_text
from .rules.folder import RULE_SUFFIXES, _refuse_twins, find_rule_files, list_versions, overlaps  # noqa: F401 - the API
from .decide.decision import batch, decide
from .errors import GovernanceError, InputError, Location, LookupFailure, Problem, TooLarge, with_article
from .limits import check_deadline, max_letters
from .record.audit import NOT_DECISIONS, DecisionLog, Entry, Packed, Submission
from .rules.facts import Facts, load_facts, parse_facts

@dataclass(frozen=True)
class Validation:
    files: int
    rulesets: list
    problems: list


def validate_paths(paths: Iterable[str | Path]) -> Validation:
    """Compile every rule file under ``paths``; collect all problems, then check version overlaps."""
    problems: list[Problem] = []
    rulesets: list[Ruleset] = []
    files = find_rule_files(paths)
    for path in files:
        try:
            rulesets.append(compile_file(path))
        except InputError as exc:
            problems.extend(exc.problems)
    problems.extend(overlaps(rulesets))
    return Validation(len(files), rulesets, sorted(problems, key=Problem.sort_key))


def resolve(spec: str, rules_dir: str | Path, as_of: dt.date, overrides: Mapping[str, str] | None = None,
            official: bool = False, log: DecisionLog | None = None) -> Ruleset:
    """A ruleset from a path, an id (the version in force on ``as_of``) or ``id@version``.

    For an ``official`` decision only a published version in force on ``as_of`` will do: a bare id
    looks among the published versions only, and a draft or a version out of its period is refused.
    When ``log`` holds a registry (texts published into it), ids are resolved from it, not from ``rules_dir``.
    """
    from .policy import registry

    in_registry = not named_by_path(spec) and registry.has_registry(log)
    if named_by_path(spec):
        chosen = compile_file(Path(spec))
    else:
        chosen = _pick(spec, rules_dir, as_of, official, log if in_registry else None)
    if official:
        _check_official(chosen, spec, as_of)
    dated = any(p.values for p in chosen.parameters.values())  # their value depends on the decision date
    if not (overrides or dated):
        return chosen
    if in_registry:
        return registry.compiled(log, registry.registry(log).versions[(chosen.id, chosen.version)], dict(overrides or {}),
                                 as_of if dated else None)
    return compile_file(chosen.label, overrides, as_of if dated else None)


def named_by_path(spec: str) -> bool:
    """Is ``spec`` a rule file's path rather than ``id`` or ``id@version``? A path never decides officially:
    any copy of a file can claim any version, so only what the rules folder holds under its id is reviewed."""
    path = Path(spec)
    return path.suffix in RULE_SUFFIXES or path.is_file()


def _pick(spec: str, rules_dir: str | Path, as_of: dt.date, official: bool, log: DecisionLog | None = None) -> Ruleset:
    from .policy import registry

    ruleset_id, _, version = spec.partition("@")
    candidates = registry.versions(log, ruleset_id) if log is not None else list_versions(ruleset_id, rules_dir)
    if version:
        chosen = [r for r in candidates if r.version == version]
        if not chosen:
            raise LookupFailure(f"ruleset '{ruleset_id}' has no version {version}; versions: "
                                + ", ".join(r.version for r in candidates))
        return chosen[-1]
    in_force = [r for r in candidates if r.in_force(as_of)]
    published = [r for r in in_force if r.status == "published"]
    if official and in_force and not published:
        draft = in_force[-1]
        raise GovernanceError(f"no published version of '{ruleset_id}' is in force on {as_of.isoformat()}; "
                              f"{draft.version} (from {draft.effective_from.isoformat()}) is a draft: evaluate it "
                              "with --simulate")
    if not in_force:
        raise LookupFailure(f"no version of '{ruleset_id}' is in force on {as_of.isoformat()}; versions: "
                            + "; ".join(_period(r) for r in candidates))
    return (published or in_force)[-1]


def _check_official(ruleset: Ruleset, spec: str, as_of: dt.date) -> None:
    if ruleset.status != "published":
        raise GovernanceError(f"{ruleset.id} {ruleset.version} ({ruleset.label}) is a draft: a draft never makes an "
                              "official decision; evaluate it with --simulate")
    if not ruleset.in_force(as_of):
        raise GovernanceError(f"{ruleset.id} {ruleset.version} is not in force on {as_of.isoformat()} "
                              f"({_period(ruleset)}): an official decision needs the version in force; "
                              "a simulation may use it (--simulate)")


def _period(r: Ruleset) -> str:
    if r.effective_to is None:
        return f"{r.version} from {r.effective_from.isoformat()}, with no end"
    return f"{r.version} from {r.effective_from.isoformat()} to {r.effective_to.isoformat()}"


@dataclass(frozen=True)
class Asking:
    """How a decision is asked for: what governance needs to know."""

    simulate: bool = False  # a simulation on purpose (logged as one)
    logging: bool = True  # False: nothing is logged, so a draft may be evaluated (as a simulation)
    who: str | None = None  # who asks (the service: the token's name)
    reason: str | None = None
    require_approvals: int = 0  # an official decision needs this many approvals of the exact text
    signers: tuple = ()  # the allowed signers' public keys: if any, only approvals signed by one of them count


def evaluate(spec: str, facts: str | Path | bytes | Mapping, as_of: dt.date, rules_dir: str | Path = "rules",
             engine: str = "python", overrides: Mapping[str, str] | None = None, label: str = "<facts>",
             fmt: str | None = None, asking: Asking = Asking(), log: DecisionLog | None = None
             ) -> tuple[Ruleset, dict, Facts]:
    """Resolve the ruleset as governance allows, load the facts and decide: (ruleset, record, facts).

    ``facts`` is a path (``-`` for standard input), the bytes themselves (named ``label`` in
    messages; ``fmt`` is ``json`` or ``yaml``, else told from the bytes), or the parsed data (a
    mapping, as a JSON document would give it; it is written as JSON, which is what is logged).

    A decision is official unless it is asked as a simulation, has overrides, or uses a draft; an
    official decision that will be logged needs a published version in force on ``as_of`` and, with
    ``asking.require_approvals``, that many approvals of its exact text in ``log`` by people other
    than the one asking. The record names its kind and the approvals it relied on.
    """
    if isinstance(facts, Mapping):
        from .decide.decision import to_json_bytes

        facts, fmt = to_json_bytes(dict(facts), indent=None), "json"
    by_path = named_by_path(spec)
    official = asking.logging and not asking.simulate and not overrides and not by_path
    ruleset = resolve(spec, rules_dir, as_of, overrides, official=official, log=log)
    kind = "simulation" if asking.simulate or overrides or by_path or ruleset.status == "draft" else "official"
    relied_on = approvals_for(log, ruleset, exclude=asking.who) if log is not None else []
    counted = _signed(log, ruleset, asking.who, asking.signers) if asking.signers and log is not None else relied_on
    refusal = _refusal(ruleset, spec, as_of, asking, counted, len(relied_on) - len(counted)) if kind == "official" \
        else None
    if asking.logging and refusal:
        raise GovernanceError(refusal)
    with batch():
        loaded = parse_facts(facts, label, ruleset, fmt) if isinstance(facts, bytes) else load_facts(facts, ruleset)
        if not asking.logging:  # the bytes are kept for the log only: a large call decides without a copy of them
            loaded = dataclasses.replace(loaded, raw=b"")
        record = decide(ruleset, loaded, as_of, engine, kind, relied_on)
    if not asking.logging:
        record = _dry_run(record, kind, refusal)
    return ruleset, record, loaded


def _refusal(ruleset: Ruleset, spec: str, as_of: dt.date, asking: Asking, relied_on: list,
             unsigned: int = 0) -> str | None:
    """Why governance would refuse this as an official decision, or None."""
    try:
        _check_official(ruleset, spec, as_of)
    except GovernanceError as exc:
        return str(exc)
    if len(relied_on) < asking.require_approvals:
        signed = " signed by an allowed key" if asking.signers else ""
        ignored = f" ({unsigned} more without such a signature do not count)" if unsigned else ""
        return (f"{ruleset.id} {ruleset.version} has {len(relied_on)} approval(s){signed} of its exact text by people "
                f"other than {asking.who or 'the one asking'}{ignored}; an official decision needs "
                f"{asking.require_approvals} ('rules approve {ruleset.id}@{ruleset.version}"
                f"{' --sign-with KEY' if asking.signers else ''}')")
    return None


def _signed(log: DecisionLog, ruleset: Ruleset, exclude: str | None, allowed: tuple) -> list:
    """The first approval by each person that carries their signature by an allowed key (``policy.signing``)."""
    import json

    from .policy.signing import signed_by

    return approvals_for(log, ruleset, exclude,
                         accept=lambda entry: signed_by(json.loads(entry.text)["approval"], allowed) is not None)


def search_applicant(log: DecisionLog, text: str, ruleset: str | None = None, since: str | None = None,
                     until: str | None = None, after: int = 0, limit: int = 50, scan: int = 5000
                     ) -> tuple[list[Entry], int | None]:
    """The decisions after seq ``after`` about an applicant: its id (exactly, case aside) or a part of its name
    (or of a merged member's id). Reads at most ``scan`` records a call: (the records found, at most ``limit``;
    the seq to go on after, or None at the end of the log)."""
    import json

    wanted = " ".join(text.split()).casefold()
    found: list[Entry] = []
    last = after
    for count, entry in enumerate(log.entries(ruleset, since, until, after=after), start=1):
        last = entry.seq
        if entry.kind not in NOT_DECISIONS and _mentions(json.loads(entry.text), wanted):
            found.append(entry)
        if len(found) > limit or count >= scan:
            break
    else:
        return found, None
    if len(found) > limit:
        return found[:limit], found[limit - 1].seq
    return found, last


def _mentions(record: dict, wanted: str) -> bool:
    for decision in record.get("decisions") or ():
        ids = [str(decision.get("id", ""))] + [str(m) for m in decision.get("members") or ()]
        if wanted in (i.casefold() for i in ids) or (wanted and wanted in str(decision.get("name") or "").casefold()):
            return True
    return False


# --- drafts: written, submitted, approved and published through the registry (policy.drafts) -------------


def start_draft(log: DecisionLog, ruleset_id: str, who: str, text: str | None = None, base: str | None = None,
                version: str | None = None, rules_dir: str | Path = "rules"):
    """A new draft of ``ruleset_id``: from a rule text, or from the text of version ``base`` (an id or id@version)
    with its version set to ``version``; the comments and every other byte of the base's text as they were."""
    from .policy import drafts

    if text is None:
        if not base or not version:
            raise InputError.at(Location("from"), "a draft is made from a text, or from a version ('from') with the "
                                "new 'version'")
        text = drafts.with_top(resolve(base, rules_dir, dt.date.today(), log=log).text, "version", version)
    return drafts.start(log, ruleset_id, text, who)


def approve_draft(log: DecisionLog, name: str, who: str, note: str | None = None, once: Once | None = None,
                  signature: str | None = None, allowed: tuple = ()) -> Entry:
    """An approval of a submitted draft's exact text, by anyone but its author."""
    from .policy import drafts

    draft, ruleset = drafts.submitted(log, name)
    drafts.check_approver(draft, who)
    return approve(log, ruleset, who, note, once, signature=signature, allowed=allowed)


def draft_base(log: DecisionLog, name: str, rules_dir: str | Path = "rules") -> Ruleset | None:
    """The published version a draft replaces: the latest published one of its ruleset (registry, else folder)."""
    ruleset_id = name.split("@", 1)[0]
    published = [r for r in catalogue(rules_dir, log).get(ruleset_id, [])
                 if r.status == "published" and f"{r.id}@{r.version}" != name]
    return published[-1] if published else None


def submit_draft(log: DecisionLog, name: str, etag: str, who: str, reason: str, rules_dir: str | Path = "rules"):
    """Submit a draft for approval, checked against the version it replaces (``policy.drafts.submit``)."""
    from .policy import drafts

    return drafts.submit(log, name, etag, who, reason, replaces=draft_base(log, name, rules_dir))


def publish_draft(log: DecisionLog, name: str, who: str, required: int = 1, note: str | None = None,
                  allowed: tuple = ()) -> Entry:
    """Publish a submitted draft once it has ``required`` approvals (at least one) by others than its author
    (signed by an allowed key, when there are allowed signers)."""
    from .policy import drafts

    draft, ruleset = drafts.submitted(log, name)
    approvals = (_signed(log, ruleset, draft.author, allowed) if allowed
                 else approvals_for(log, ruleset, exclude=draft.author))
    return drafts.publish(log, name, who, approvals, required, note)


def approval_statement(ruleset: Ruleset, who: str) -> str:
    """What ``who`` signs to approve the exact text of ``ruleset`` (``policy.signing``)."""
    from .policy.signing import statement

    return statement(ruleset.id, ruleset.version, ruleset.sha256, _schema_sha(ruleset), who)


def unsigned_approvals(log: DecisionLog, allowed: tuple) -> list[Entry]:
    """Every approval record of the log that carries no signature by an allowed key of its approver."""
    import json

    from .policy.signing import signed_by

    return [entry for entry in log.entries() if entry.kind == "approval"
            and signed_by(json.loads(entry.text)["approval"], allowed) is None]


def _dry_run(record: dict, would_be: str, refusal: str | None) -> dict:
    """A decision that is not logged says so (kind dry-run), and what it would have been."""
    out = {}
    for key, value in record.items():
        out[key] = "dry-run" if key == "kind" else value
        if key == "kind":
            out["dry_run"] = {"would_be": would_be, "allowed": refusal is None, "because": refusal}
    return out


def approvals_for(log: DecisionLog, ruleset: Ruleset, exclude: str | None = None, before: int | None = None,
                  accept=None) -> list:
    """The approvals of the exact text of ``ruleset`` (and its facts schema) in ``log``: the first by each
    person (that ``accept`` accepts), never ``exclude`` (who asks for the decision), only records before seq
    ``before``."""
    return log.approvals(ruleset.sha256, _schema_sha(ruleset), exclude=exclude, before=before, accept=accept)


def _schema_sha(ruleset: Ruleset) -> str:
    import hashlib

    return hashlib.sha256(ruleset.facts_schema_text.encode("utf-8")).hexdigest()


def same_person(a: str, b: str) -> bool:
    """Two names of one person: compared after Unicode NFKC, case folding and trimming ('Ann ' is 'ann')."""
    from .record.audit import person

    return person(a) == person(b)


@dataclass(frozen=True)
class Once:
    """An Idempotency-Key with what it was sent with: the same key and request append one record, once."""

    key: str  # as stored: the caller's name and its key, so that two callers' keys never meet
    request_sha256: str

    @classmethod
    def of(cls, who: str | None, key: str | None, request: Mapping) -> "Once | None":
        """``key`` from ``who`` for ``request`` (what was asked, as JSON-able data); None without a key."""
        import hashlib
        import json

        if key is None:
            return None
        if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
            raise InputError.at(Location("Idempotency-Key"), "an idempotency key is 1 to 255 printable ASCII "
                                "characters (for example a UUID)")
        digest = hashlib.sha256(json.dumps(dict(request), sort_keys=True, default=str).encode("utf-8")).hexdigest()
        return cls(f"{who or ''}:{key}", digest)


def earlier(log: DecisionLog | None, once: Once | None) -> Entry | None:
    """The record an idempotency key already appended (the first answer, to give again), or None."""
    if log is None or once is None:
        return None
    return log.idempotent(once.key, once.request_sha256)


def approver(log: DecisionLog, secret: str) -> str:
    """The name of the active approver (or admin) token ``secret``, from the log's token table."""
    return token_holder(log, secret, ("approver", "admin"), "an approval", "approves")


def token_holder(log: DecisionLog, secret: str, roles: tuple, act: str, verb: str) -> str:
    """The name of the active token ``secret`` if its role is one of ``roles``; GovernanceError otherwise."""
    from .record.audit import TokenStore

    token = TokenStore(log).find(secret.strip())
    if token is None:
        raise GovernanceError(f"unknown or revoked token: {act} needs an active token of the log "
                              f"('rules token add NAME --role {roles[0]}')")
    if token.role not in roles:
        raise GovernanceError(f"the token '{token.name}' has the role '{token.role}': only "
                              f"{' or '.join(with_article(r) for r in roles)} {verb}")
    return token.name


def approve(log: DecisionLog, ruleset: Ruleset, who: str, note: str | None = None, once: Once | None = None,
            signer=None, signature: str | None = None, allowed: tuple = ()) -> Entry:
    """Append an approval of the exact text of ``ruleset`` (and its facts schema) by ``who`` to the chain.

    ``who`` is an authenticated name (a token's); the text's own author (``author:`` in the rule file) never
    approves it. With ``signer`` (the approver's own key, named as they are), the approval carries their
    signature of what they approve (``policy.signing``); or with ``signature``, such a signature made elsewhere
    (checked against this approval's statement, and against the ``allowed`` keys when there are any)."""
    import hashlib
    import json

    from . import __version__

    if not who:
        raise GovernanceError("an approval needs the name of who approves (a token's)")
    if ruleset.author and same_person(ruleset.author, who):
        raise GovernanceError(f"{who} wrote {ruleset.id} {ruleset.version} (author: {ruleset.author}): an author "
                              "never approves their own text")
    rule_text, schema_text = ruleset.text.encode("utf-8"), ruleset.facts_schema_text.encode("utf-8")
    approval = {"approval": {"ruleset": ruleset.id, "version": ruleset.version, "status": ruleset.status,
                             "ruleset_sha256": hashlib.sha256(rule_text).hexdigest(),
                             "facts_schema_sha256": hashlib.sha256(schema_text).hexdigest(), "by": who, "note": note}}
    if signer is not None:
        from .policy.signing import sign

        if not same_person(signer.name, who):
            raise GovernanceError(f"the key is {signer.name}'s, and the approval is {who}'s: an approver signs with "
                                  "their own key (named as their token)")
        approval["approval"]["signature"] = sign(signer, approval["approval"])
    elif signature is not None:
        from .policy.signing import check_signature

        check_signature(signature, approval["approval"], allowed)
        approval["approval"]["signature"] = signature
    output = json.dumps(approval, sort_keys=True, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    return log.append(Submission(
        decision_id=hashlib.sha256(output).hexdigest(), engine_version=__version__, evaluator="-",
        ruleset_id=ruleset.id, ruleset_version=ruleset.version, rule_text=rule_text, schema_text=schema_text,
        facts=b"", as_of=dt.date.today().isoformat(), overrides={}, applicants=0, allocated_fte="0", output=output,
        requested_by=who, kind="approval", reason=note, idempotency_key=once and once.key,
        request_sha256=once and once.request_sha256))


def submission(ruleset: Ruleset, record: dict, output: bytes | Packed, facts: Facts, requested_by: str | None = None,
               reason: str | None = None) -> Submission:
    """What the decision log stores for one decision: the exact texts it depended on and its output."""
    return Submission(
        decision_id=record["decision_id"], engine_version=record["engine"]["version"],
        evaluator=record["engine"]["evaluator"], ruleset_id=ruleset.id, ruleset_version=ruleset.version,
        rule_text=ruleset.text.encode("utf-8"), schema_text=ruleset.facts_schema_text.encode("utf-8"),
        facts=facts.raw, as_of=record["as_of"], overrides=dict(ruleset.overrides),
        applicants=record["applicants"], allocated_fte=str(record["allocated_fte"]), output=output,
        facts_format=facts.format, requested_by=requested_by, kind=record.get("kind"), reason=reason)


def record_decision(log: DecisionLog, ruleset: Ruleset, record: dict, output: bytes | Packed, facts: Facts,
                    requested_by: str | None = None, reason: str | None = None, once: Once | None = None) -> Entry:
    """Append a decision to the log; returns the committed record (read back, its hash checked).

    Who asked and why are part of the chained record, not of the decision id. With ``once``, a key that
    appended a record already returns that record, and nothing is appended.
    """
    sub = submission(ruleset, record, output, facts, requested_by, reason)
    if once is not None:
        sub = dataclasses.replace(sub, idempotency_key=once.key, request_sha256=once.request_sha256)
    return log.append(sub)


def list_rulesets(rules_dir: str | Path) -> dict[str, list[Ruleset]]:
    """Every ruleset id under ``rules_dir`` with its versions, oldest first."""
    folder = Path(rules_dir)
    if not folder.is_dir():
        raise LookupFailure(f"no rules folder '{rules_dir}' (write one with the shipped rulesets: 'rules init DIR')")
    return {p.name: list_versions(p.name, rules_dir) for p in sorted(folder.iterdir()) if p.is_dir()
            and find_rule_files([p])}


def resolve_text_or_spec(spec: str, rules_dir: str | Path, as_of: dt.date,
                         overrides: Mapping[str, str] | None = None, label: str = "<rule text>",
                         log: DecisionLog | None = None) -> Ruleset:
    """A ruleset from an id, ``id@version``, or the text of a rule file (anything with a newline)."""
    if "\n" in spec:
        return compile_text(spec, label, None, overrides)
    return resolve(spec, rules_dir, as_of, overrides, log=log)


def catalogue(rules_dir: str | Path, log: DecisionLog | None = None) -> dict[str, list[Ruleset]]:
    """Every ruleset id with its versions: the registry's published ones when ``log`` holds a registry, else
    the rules folder's."""
    from .policy import registry

    if not registry.has_registry(log):
        return list_rulesets(rules_dir)
    held = registry.registry(log).versions.values()
    ids = sorted({p.ruleset_id for p in held if not p.withdrawn})
    return {rid: registry.versions(log, rid) for rid in ids}


@dataclass(frozen=True)
class TextCheck:
    """``rules validate --strict`` on one rule text: the problems, or the lint findings of a valid text."""

    problems: list
    findings: list
    ruleset: Ruleset | None


def check_text(text: str, label: str = "<rule text>") -> TextCheck:
    """Validate a rule text (nothing is written anywhere) and lint it if it is valid."""
    from .policy.lint import lint_ruleset

    try:
        ruleset = compile_text(text, label)
    except InputError as exc:
        return TextCheck(exc.problems, [], None)
    return TextCheck([], lint_ruleset(ruleset), ruleset)


def run_draft_tests(text: str, tests_text: str) -> list:
    """Run test cases (the text of a tests/*.yaml file) against a draft rule text, as `rules test` would
    if both were files of a ruleset folder. Nothing is kept: they live in a temporary folder meanwhile."""
    import tempfile

    from .policy.testing import run_file

    ruleset = compile_text(text, "<draft>")
    with tempfile.TemporaryDirectory(prefix="rules-draft-") as folder:
        rules = Path(folder) / "rules"
        (rules / ruleset.id / "tests").mkdir(parents=True)
        (rules / ruleset.id / "draft.yaml").write_text(text, encoding="utf-8")
        cases = rules / ruleset.id / "tests" / "cases.yaml"
        cases.write_text(tests_text, encoding="utf-8")
        try:
            return run_file(cases, rules)
        except InputError as exc:  # name the pasted cases, not the temporary file
            raise InputError([dataclasses.replace(p, location=dataclasses.replace(p.location, file="<tests>"))
                              for p in exc.problems]) from None


def explain_record(log: DecisionLog, ref: str, applicant: str | None = None, lang: str = "nl",
                   audience: str = "auditor") -> dict:
    """The statement of reasons of a logged decision (one applicant, or the whole call), from the log alone.

    For one applicant, ``audience`` "applicant" gives the letter (``letter``); "auditor" the detailed text.
    """
    import json
    from decimal import Decimal

    from .tell.explain import explain_applicant, explain_call, with_governance
    from .policy.replay import stored_ruleset

    entry = log.checked(log.get(ref))
    if entry.kind in NOT_DECISIONS:
        raise LookupFailure(f"record {entry.seq} is {with_article(entry.kind)}, not a decision: 'rules show {entry.seq}' prints it")
    record = json.loads(entry.text, parse_float=Decimal)
    if applicant and audience == "applicant":
        return _letter(log, entry, record, applicant, lang)
    if applicant:
        result = explain_applicant(record, stored_ruleset(log, entry), applicant, lang)
    else:
        result = explain_call(record, lang)
    published = stored_ruleset(log, entry, overrides=False).params if record.get("overrides") else {}
    return with_governance(result, record, entry.requested_by, entry.reason, published)


def _letter(log: DecisionLog, entry, record: dict, applicant: str, lang: str, facts: dict | None = None,
            ruleset: Ruleset | None = None) -> dict:
    from .tell.explain import GOVERNANCE
    from .tell.letter import for_sending, letter
    from .policy.replay import stored_ruleset

    data = facts if facts is not None else _stored_facts(log, entry)
    own = next((a for a in data.get("applicants") or [] if str(a.get("id")) == applicant), None)
    ruleset = ruleset or stored_ruleset(log, entry)
    result = letter(record, ruleset, applicant, lang, own)
    if record.get("kind") == "simulation":  # a letter about a simulation must say so first
        first = result["sections"][0]
        result["sections"][0] = dict(first, lines=[GOVERNANCE[lang]["simulation"], *first["lines"]])
    return for_sending(result, ruleset, lang, own, entry.record_id, entry.recorded_at)


def _stored_facts(log: DecisionLog, entry) -> dict:
    from .rules.facts import load_data
    from .policy.replay import legacy_format

    raw = log.blob(entry.facts_sha256)
    return load_data(raw, f"log#{entry.seq}:facts", entry.facts_format or legacy_format(raw), limited=False)[0]


def letters_pdf(log: DecisionLog, ref: str, lang: str = "nl", applicants: Iterable[str] = ()) -> bytes:
    """The letters of a logged decision as one PDF, one letter a page: to ``applicants``, or to every applicant."""
    import json
    from decimal import Decimal

    from .tell.letter import as_letters_pdf
    from .policy.replay import stored_ruleset

    entry = log.checked(log.get(ref))
    if entry.kind in NOT_DECISIONS:
        raise LookupFailure(f"record {entry.seq} is {with_article(entry.kind)}, not a decision")
    record = json.loads(entry.text, parse_float=Decimal)
    wanted = list(applicants) or [d["id"] for d in record["decisions"]]
    within_letters(entry.seq, len(wanted), bool(applicants))
    facts, ruleset = _stored_facts(log, entry), stored_ruleset(log, entry)
    letters = []
    for applicant in wanted:
        check_deadline()  # a service's time limit stops the letters between two (their PDF is one piece of work)
        letters.append(_letter(log, entry, record, applicant, lang, facts, ruleset))
    return as_letters_pdf(letters)


def within_letters(seq: int, count: int, chosen: bool = False) -> None:
    """Refuse a PDF of ``count`` letters over the operator's limit (``RULES_MAX_LETTERS``): those of every
    applicant of decision ``seq``, or (``chosen``) of the applicants asked for."""
    limit = max_letters()
    if count <= limit:
        return
    if chosen:
        raise TooLarge(f"{count:,} letters asked for; one PDF holds at most {limit:,} (RULES_MAX_LETTERS): "
                       "ask for fewer")
    raise TooLarge(f"decision {seq} has {count:,} letters; one PDF holds at most {limit:,} (RULES_MAX_LETTERS): "
                   "ask for them by applicant")


def replay_record(log: DecisionLog, ref: str):
    """Recompute a logged decision from the stored texts and compare it byte for byte (a ``Replay``)."""
    from .policy.replay import replay_checked

    return replay_checked(log, log.get(ref))


def backtest(log: DecisionLog, old: str, new: str | None, rules_dir: str | Path, since: dt.date | None = None,
             until: dt.date | None = None, overrides: Mapping[str, str] | None = None) -> list:
    """``new`` (or ``old`` with ``overrides``) re-run on every official call of ``old`` (an id, or ``id@version``)
    in the log whose as-of date is in [since, until]: per call, what changes (``policy.backtest``)."""
    from .policy.backtest import backtest as run, official_calls

    if named_by_path(old):
        raise InputError.at(Location(old), "with --from-log, OLD is a ruleset id or id@version (the calls it decided "
                            "are re-run), not a file")
    ruleset_id, _, version = old.partition("@")
    calls = official_calls(log, ruleset_id, version or None, since, until)
    return run(log, calls, lambda day: resolve(new or old, rules_dir, day, overrides, log=log))


def realisation_report(log: DecisionLog, ref: str, settlements: str | Path | bytes, base: str | None = None,
                       quarter: str | None = None, through: str | None = None):
    """The realisation of a logged official decision (``tell.report.realisation``): the record is checked
    first (hash, link, stored texts), as ``show`` does; the base quarter defaults to the last quarter before the
    start of the version that decided."""
    import json
    from decimal import Decimal

    from .policy.replay import stored_ruleset
    from .tell.report import realisation

    entry = log.checked(log.get(ref))
    if entry.kind in NOT_DECISIONS:
        raise LookupFailure(f"record {entry.seq} is {with_article(entry.kind)}, not a decision")
    record = json.loads(entry.text, parse_float=Decimal)
    if record.get("kind") not in ("official", None):
        raise GovernanceError(f"record {entry.record_id} is {with_article(str(record.get('kind')))}: the realisation of a "
                              "decision is followed for official decisions only")
    ruleset = stored_ruleset(log, entry, overrides=False)
    return realisation(record, entry.record_id, ruleset.effective_from, settlements, base, quarter, through)
