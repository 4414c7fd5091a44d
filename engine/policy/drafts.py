"""The life of a rule text in the registry: draft, submitted, approved, published.

A draft is written and saved as often as its author likes (``record.drafts``: beside the chain, each save
checked against the revision it was made on). Submitting it fixes its text as it will be published (``status:
published``), checks it whole, and puts a ``submission`` record in the chain (who, when, why, the exact text).
Approvals are the chain's approval records of that exact text, by others than its author. Publishing it, once
it has the approvals the registry requires, is the registry's publication; the draft is then gone, and the
text can only change as a new version. Every step that changes what can decide is a record of the chain.
"""
from __future__ import annotations

import re

from ..errors import GovernanceError, InputError, Location, Problem
from ..record.audit import DecisionLog, Entry, person
from ..record.drafts import Conflict, Draft, DraftStore
from ..rules.compile import Ruleset, compile_text
from . import registry

DRAFT, SUBMITTED = "draft", "submitted"
SUBMISSION = "submission"
_TOP = {"version": re.compile(r"^version:[^\n]*$", re.M), "status": re.compile(r"^status:[^\n]*$", re.M)}


def name_of(ruleset_id: str, version: str) -> str:
    return f"{ruleset_id}@{version}"


def with_top(text: str, key: str, value: str) -> str:
    """``text`` with its top-level ``key:`` line set to ``value`` (added after ``ruleset:`` when missing); every
    other byte, comments included, as it was."""
    line = f'{key}: "{value}"' if key == "version" else f"{key}: {value}"
    if _TOP[key].search(text):
        return _TOP[key].sub(line, text, count=1)
    return re.sub(r"^(ruleset:[^\n]*\n)", lambda m: m.group(1) + line + "\n", text, count=1, flags=re.M)


def start(log: DecisionLog, ruleset_id: str, text: str, who: str) -> Draft:
    """A new draft of ``ruleset_id`` from ``text`` (its version is the text's; its status is made ``draft``)."""
    text = with_top(text, "status", DRAFT)
    ruleset = _compiled(text, f"draft:{ruleset_id}")
    if ruleset.id != ruleset_id:
        raise InputError.at(Location("ruleset"), f"the text is of '{ruleset.id}', not of '{ruleset_id}'")
    if (ruleset.id, ruleset.version) in registry.registry(log).versions:
        raise Conflict(f"{ruleset.id}@{ruleset.version} is published already: a change is a new version")
    return DraftStore(log).create(name_of(ruleset.id, ruleset.version), ruleset.id, text, who)


def save(log: DecisionLog, name: str, text: str, etag: str, who: str) -> tuple[Draft, list[Problem]]:
    """The draft with its new text, if ``etag`` is the draft's own (Conflict if not); with the text's problems,
    each at its line and column (a draft may be saved with problems; it is submitted without)."""
    store = DraftStore(log)
    current = store.get(name)
    _editable(current)
    problems = _problems(text, name)
    found = _identity(text)
    if found is not None and name_of(*found) != name:
        raise InputError.at(Location(name), f"the text says {name_of(*found)}: a draft keeps its id and version "
                            "(start a new draft for another version)")
    return store.save(name, text, etag), problems


def submit(log: DecisionLog, name: str, etag: str, who: str, reason: str,
           replaces: Ruleset | None = None) -> tuple[Draft, Entry]:
    """Fix the draft's text as it will be published and record the submission in the chain. A text that states
    a figure its parameters no longer have (against ``replaces``, the version in force) is refused: a letter would
    quote it as the reason."""
    if not reason:
        raise GovernanceError("a submission needs its reason")
    store = DraftStore(log)
    current = store.get(name)
    _editable(current)
    text = with_top(current.text, "status", "published")
    ruleset = _compiled(text, f"draft:{name}")
    registry.check_figures(ruleset, replaces)
    draft = store.save(name, text, etag, SUBMITTED)
    body = {"ruleset": ruleset.id, "version": ruleset.version, "by": who, "note": reason,
            "ruleset_sha256": ruleset.sha256}
    entry = registry._append(log, ruleset.id, ruleset.version, text.encode("utf-8"),
                             ruleset.facts_schema_text.encode("utf-8"), SUBMISSION, body, who, reason)
    return draft, entry


def send_back(log: DecisionLog, name: str, etag: str, who: str) -> Draft:
    """A submitted draft back to its author, to edit (its approvals were of the text submitted, and stay so)."""
    store = DraftStore(log)
    current = store.get(name)
    if current.state != SUBMITTED:
        raise GovernanceError(f"draft {name} is not submitted")
    return store.save(name, with_top(current.text, "status", DRAFT), etag, DRAFT)


def submitted(log: DecisionLog, name: str) -> tuple[Draft, Ruleset]:
    """A submitted draft and its text compiled: what approvers approve and what is published."""
    draft = DraftStore(log).get(name)
    if draft.state != SUBMITTED:
        raise GovernanceError(f"draft {name} is not submitted: only a submitted text is approved or published")
    return draft, _compiled(draft.text, f"draft:{name}")


def check_approver(draft: Draft, who: str) -> None:
    if person(draft.author) == person(who):
        raise GovernanceError(f"{who} wrote draft {draft.name}: an author never approves their own text")


def publish(log: DecisionLog, name: str, who: str, approvals: list, required: int, note: str | None) -> Entry:
    """Publish a submitted draft that has ``required`` approvals (at least one) by others than its author."""
    draft, ruleset = submitted(log, name)
    needed = max(1, required)
    if len(approvals) < needed:
        raise GovernanceError(f"draft {name} has {len(approvals)} approval(s) of its submitted text by others than "
                              f"its author ({draft.author}); publishing needs {needed}")
    entry = registry.publish(log, ruleset, who, f"{ruleset.id}-{ruleset.version}.yaml", note)
    DraftStore(log).delete(name)
    return entry


def _editable(draft: Draft) -> None:
    """Any policy owner may edit a draft (its author stays who started it); a submitted one is not edited."""
    if draft.state != DRAFT:
        raise GovernanceError(f"draft {draft.name} is submitted: it is approved or sent back, not edited")


def _compiled(text: str, label: str) -> Ruleset:
    return compile_text(text, label, None, {})


def _problems(text: str, label: str) -> list[Problem]:
    try:
        _compiled(text, f"draft:{label}")
    except InputError as exc:
        return exc.problems
    return []


def _identity(text: str) -> tuple[str, str] | None:
    ruleset = re.search(r"^ruleset:\s*\"?([^\s\"#]+)", text, re.M)
    version = re.search(r"^version:\s*[\"']?([^\s\"'#]+)", text, re.M)
    return (ruleset.group(1), version.group(1)) if ruleset and version else None

