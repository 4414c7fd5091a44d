"""The rules folder: rule files under paths, and every version of one ruleset (``rules/<id>/``)."""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Iterable

from .compile import Ruleset, compile_file
from ..errors import GovernanceError, InputError, Location, LookupFailure, Problem, did_you_mean

RULE_SUFFIXES = (".yaml", ".yml")


def find_rule_files(paths: Iterable[str | Path]) -> list[Path]:
    """Rule files under the given files or folders (``tests/`` folders excluded)."""
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(p for p in sorted(path.rglob("*")) if p.suffix in RULE_SUFFIXES and p.is_file()
                         and "tests" not in p.relative_to(path).parts)
        elif path.exists():
            found.append(path)
        else:
            raise InputError.at(Location(str(path)), "no such file or folder", code="not-found")
    return found


def list_versions(ruleset_id: str, rules_dir: str | Path) -> list[Ruleset]:
    """All versions of a ruleset in ``rules_dir/<id>/``, oldest first."""
    folder = Path(rules_dir) / ruleset_id
    if not Path(rules_dir).is_dir():
        raise LookupFailure(f"no rules folder '{rules_dir}' here: run from the folder that holds rules/, "
                            "pass --rules-dir, give the path of a rule file, or write one with the shipped rulesets: "
                            "'rules init DIR'")
    if not folder.is_dir():
        known = sorted(p.name for p in Path(rules_dir).iterdir() if p.is_dir()) if Path(rules_dir).is_dir() else []
        raise LookupFailure(f"no ruleset '{ruleset_id}' in {rules_dir}{did_you_mean(ruleset_id, known)}"
                            + (f"; known: {', '.join(known)}" if known else ""))
    versions = [compile_file(p) for p in find_rule_files([folder])]
    _refuse_twins(versions)
    return sorted(versions, key=lambda r: (r.effective_from, r.version))


def _refuse_twins(versions: Iterable[Ruleset]) -> None:
    """Two files that claim the same id@version: neither decides, whichever a server would find first."""
    seen: dict[tuple, Ruleset] = {}
    for r in versions:
        twin = seen.setdefault((r.id, r.version), r)
        if twin is not r:
            raise GovernanceError(f"{r.id}@{r.version} is claimed by two files, {twin.label} and {r.label}: "
                                  "neither decides until one is removed or renumbered")


def overlaps(rulesets: Iterable[Ruleset]) -> list[Problem]:
    """Versions of one ruleset whose effective periods overlap, or that repeat a version."""
    by_id: dict[str, list[Ruleset]] = defaultdict(list)
    for r in rulesets:
        by_id[r.id].append(r)
    problems = []
    for versions in by_id.values():
        versions.sort(key=lambda r: (r.effective_from, r.version))
        published = [r for r in versions if r.status != "draft"]
        for before, after in zip(published, published[1:]):
            problems += _clash(before, after)
        # drafts are alternatives: they may share a version and a period with each other, never with a
        # published version (whichever of them is published must fit between the published ones)
        for draft in (r for r in versions if r.status == "draft"):
            for other in published:
                first, second = sorted((other, draft), key=lambda r: (r.effective_from, r.status != "draft"))
                problems += _clash(first, second)[:1]
    return problems


def _clash(before: Ruleset, after: Ruleset) -> list[Problem]:
    """The repeated version, or the overlap, of two versions of one ruleset (``before`` starts first)."""
    if before.version == after.version:
        return [Problem(_loc(after), f"version {after.version} of '{after.id}' also in {before.label}")]
    if before.effective_to is None or before.effective_to >= after.effective_from:
        end = before.effective_to.isoformat() if before.effective_to else "open-ended"
        return [Problem(_loc(after), f"effective period of {after.id} {after.version} (from "
                        f"{after.effective_from}) overlaps {before.version} in {before.label} "
                        f"(from {before.effective_from}, to {end})", "effective.from", "overlap")]
    return []


def _loc(r: Ruleset) -> Location:
    for number, line in enumerate(r.text.splitlines(), start=1):
        if line.startswith("effective:"):
            return Location(r.label, number + 1, 3)
    return Location(r.label, 1, 1)
