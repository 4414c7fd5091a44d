"""The registry: rule texts published into the decision log, so that every server decides with one text.

A publication is a record in the hash chain (kind ``publication``), holding the exact rule text and its
facts schema (stored texts, as every decision's are), the file name it came from, who published it and
why; a withdrawal (kind ``withdrawal``) ends a version's use. A published text never changes: a change
is a new version. When the log holds any publication, ids and ``id@version`` are resolved from it, on
every server that uses the log, and no longer from each server's rules folder.

The registry is read from the chain's kinds (without the records' outputs), once, and then only the
records after the last one read; each publication record is checked (hash, link, texts) before use.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import GovernanceError, InputError, LookupFailure, Problem
from ..record.audit import DecisionLog, Entry, Submission
from ..rules.compile import Ruleset, compile_text
from ..rules.folder import overlaps
from ..rules.validate import schema_dir
from .figures import stale_figures

PUBLICATION, WITHDRAWAL = "publication", "withdrawal"


@dataclass(frozen=True)
class Published:
    """One published version, as its publication record holds it."""

    ruleset_id: str
    version: str
    file: str
    seq: int
    rule_sha256: str
    schema_sha256: str
    schema_file: str | None
    by: str
    withdrawn: bool = False


@dataclass
class Registry:
    """What one log says is published, read up to record ``seen``."""

    seen: int = 0
    versions: dict = field(default_factory=dict)  # (id, version) -> Published

    def refresh(self, log: DecisionLog) -> "Registry":
        for seq, kind in log.kinds_after(self.seen):
            if kind in (PUBLICATION, WITHDRAWAL):
                self._apply(log.checked(log.get(str(seq))), kind)
            self.seen = seq
        return self

    def _apply(self, entry: Entry, kind: str) -> None:
        body = json.loads(entry.text)[kind]
        key = (body["ruleset"], body["version"])
        if kind == WITHDRAWAL:
            if key in self.versions:
                self.versions[key] = dataclasses.replace(self.versions[key], withdrawn=True)
            return
        self.versions[key] = Published(body["ruleset"], body["version"], body["file"], entry.seq, entry.ruleset_sha256,
                                       entry.schema_sha256, body.get("schema_file"), body["by"])

    def of(self, ruleset_id: str) -> list[Published]:
        return [p for (rid, _v), p in self.versions.items() if rid == ruleset_id]


_REGISTRIES: dict = {}
_LOCK = threading.Lock()


def registry(log: DecisionLog) -> Registry:
    """The registry of ``log``, brought up to date (kept per log between calls)."""
    with _LOCK:
        current = _REGISTRIES.setdefault(str(log.path), Registry())
        if current.seen > log.head()[0]:  # another log at this path (a test, a restore): read it afresh
            current = _REGISTRIES[str(log.path)] = Registry()
        return current.refresh(log)


def has_registry(log: DecisionLog | None) -> bool:
    return log is not None and bool(registry(log).versions)


def compiled(log: DecisionLog, published: Published, overrides: dict | None = None,
             as_of: dt.date | None = None) -> Ruleset:
    """The ruleset of a published text, compiled from the stored texts (kept by their hash)."""
    text = log.blob(published.rule_sha256).decode("utf-8")
    schema = log.blob(published.schema_sha256).decode("utf-8")
    label = f"registry:{published.ruleset_id}@{published.version}"
    return compile_text(text, label, None, overrides or {}, schema_text=schema, as_of=as_of)


def versions(log: DecisionLog, ruleset_id: str, withdrawn: bool = False) -> list[Ruleset]:
    """The published versions of a ruleset in the registry (not those withdrawn), oldest first."""
    chosen = [p for p in registry(log).of(ruleset_id) if withdrawn or not p.withdrawn]
    if not chosen:
        known = sorted({rid for rid, _v in registry(log).versions})
        raise LookupFailure(f"no published version of '{ruleset_id}' in the registry of {log.path}"
                            + (f"; it holds: {', '.join(known)}" if known else "")
                            + " (a draft is evaluated by the path of its file, as a simulation)")
    return sorted((compiled(log, p) for p in chosen), key=lambda r: (r.effective_from, r.version))


def publish(log: DecisionLog, ruleset: Ruleset, who: str, file_name: str, note: str | None = None,
            figures: bool = True) -> Entry:
    """Publish the exact text of ``ruleset`` (it must say ``status: published``); the same text again returns its
    publication, a different text under a published ``id@version`` is refused, as is a period that overlaps
    another published version's, and (``figures``) a text that states a figure its parameters no longer have
    against the version before it (``policy.figures``: a letter would quote it)."""
    if ruleset.status != "published":
        raise GovernanceError(f"{ruleset.id} {ruleset.version} says 'status: {ruleset.status}': only a text that says "
                              "'status: published' is published")
    rule_text, schema_text = ruleset.text.encode("utf-8"), ruleset.facts_schema_text.encode("utf-8")
    current = registry(log).versions.get((ruleset.id, ruleset.version))
    if current is not None and not current.withdrawn:
        if current.rule_sha256 == _sha(rule_text) and current.schema_sha256 == _sha(schema_text):
            return log.get(str(current.seq))
        raise GovernanceError(f"{ruleset.id}@{ruleset.version} is published (record {current.seq}) with another text: "
                              "a published text never changes; publish the change as a new version")
    _check_periods(log, ruleset)
    if figures:
        earlier = [r for r in _quiet_versions(log, ruleset.id) if r.effective_from < ruleset.effective_from]
        check_figures(ruleset, earlier[-1] if earlier else None)
    body = {"ruleset": ruleset.id, "version": ruleset.version, "file": Path(file_name).name, "by": who, "note": note,
            "schema_file": ruleset.facts_schema_file or None,
            "ruleset_sha256": _sha(rule_text), "facts_schema_sha256": _sha(schema_text)}
    return _append(log, ruleset.id, ruleset.version, rule_text, schema_text, PUBLICATION, body, who, note)


def withdraw(log: DecisionLog, ruleset_id: str, version: str, who: str, reason: str) -> Entry:
    """End the use of a published version: it no longer decides (its records stay, and replay)."""
    current = registry(log).versions.get((ruleset_id, version))
    if current is None or current.withdrawn:
        raise LookupFailure(f"{ruleset_id}@{version} is not a published version in the registry")
    if not reason:
        raise GovernanceError("a withdrawal needs its reason")
    body = {"ruleset": ruleset_id, "version": version, "by": who, "note": reason}
    rule_text, schema_text = log.blob(current.rule_sha256), log.blob(current.schema_sha256)
    return _append(log, ruleset_id, version, rule_text, schema_text, WITHDRAWAL, body, who, reason)


def _check_periods(log: DecisionLog, ruleset: Ruleset) -> None:
    others = [r for r in _quiet_versions(log, ruleset.id) if r.version != ruleset.version]
    problems = overlaps(others + [ruleset])
    if problems:
        raise GovernanceError(f"{ruleset.id} {ruleset.version} cannot be published: {problems[0].message}")


def check_figures(ruleset: Ruleset, previous: Ruleset | None) -> None:
    """Refuse a text that states a figure its parameters do not have, against ``previous`` (the version it
    follows): InputError naming each text at its line; a rule file may ignore ``stale-figure`` as lint's."""
    stale = [f for f in stale_figures(previous, ruleset)
             if not f.ignored_by(ruleset.lint_ignore)]
    if stale:
        raise InputError([Problem(f.location, f.message, code=f.code) for f in stale])


def _quiet_versions(log: DecisionLog, ruleset_id: str) -> list[Ruleset]:
    try:
        return versions(log, ruleset_id)
    except LookupFailure:
        return []


def _append(log: DecisionLog, ruleset_id: str, version: str, rule_text: bytes, schema_text: bytes, kind: str,
            body: dict, who: str, note: str | None) -> Entry:
    output = json.dumps({kind: body}, sort_keys=True, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
    entry = log.append(Submission(
        decision_id=hashlib.sha256(output).hexdigest(), engine_version=__version__, evaluator="-",
        ruleset_id=ruleset_id, ruleset_version=version, rule_text=rule_text, schema_text=schema_text, facts=b"",
        as_of=dt.date.today().isoformat(), overrides={}, applicants=0, allocated_fte="0", output=output,
        requested_by=who, kind=kind, reason=note))
    registry(log)
    return entry


def export(log: DecisionLog, folder: Path, withdrawn: bool = False) -> list[Path]:
    """Every published version's text, written back as the file it was published from, byte for byte, in
    ``folder/<id>/``; a facts schema that is not one of the shipped ones beside it (as stored: canonical JSON)."""
    written = []
    for published in sorted(registry(log).versions.values(), key=lambda p: (p.ruleset_id, p.seq)):
        if published.withdrawn and not withdrawn:
            continue
        target = folder / published.ruleset_id / published.file
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(log.blob(published.rule_sha256))
        written.append(target)
        if published.schema_file and not (schema_dir() / published.schema_file).is_file():
            schema = target.parent / published.schema_file
            schema.write_bytes(log.blob(published.schema_sha256))
            written.append(schema)
    return written


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
