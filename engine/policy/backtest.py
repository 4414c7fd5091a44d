"""Backtesting: a changed rule re-run on the official calls the log decided, from their stored facts.

Each call is checked first (as ``show`` does), then decided twice on its stored facts and as-of date: with
the text that decided it (as stored, with its overrides) and with the new version. What changed is told
as ``rules diff OLD NEW FACTS`` tells it, one call at a time.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Callable, Iterable

from ..record.audit import DecisionLog, Entry
from ..rules.compile import Ruleset
from .diff import Impact, as_dict, impact_of
from .replay import _as_of, legacy_format, stored_ruleset


@dataclass(frozen=True)
class Backtest:
    """One logged official call, decided by the text that decided it and by the new one."""

    seq: int
    record_id: str
    as_of: dt.date
    impact: Impact

    def as_dict(self) -> dict:
        return {"record": self.seq, "record_id": self.record_id, "as_of": self.as_of.isoformat(),
                **as_dict(self.impact)}


def official_calls(log: DecisionLog, ruleset_id: str, version: str | None = None, since: dt.date | None = None,
                   until: dt.date | None = None) -> list[Entry]:
    """The official decisions of ``ruleset_id`` (of one ``version``) whose as-of date is in [since, until]."""
    out = []
    for entry in log.entries(ruleset=ruleset_id):
        if entry.kind != "official" or (version and entry.ruleset_version != version):
            continue
        day = _as_of(entry)
        if (since is None or day >= since) and (until is None or day <= until):
            out.append(entry)
    return out


def backtest(log: DecisionLog, entries: Iterable[Entry], new_for: Callable[[dt.date], Ruleset]) -> list[Backtest]:
    """Each call re-run: the stored text against ``new_for(as_of)``, on the stored facts. A record that does not
    check out stops the run (AuditFailure naming it): a changed record is no ground for a comparison."""
    out = []
    for entry in entries:
        log.checked(entry)
        day = _as_of(entry)
        raw = log.blob(entry.facts_sha256)
        label = f"log#{entry.seq}:facts"
        result = impact_of(stored_ruleset(log, entry), new_for(day), raw, label,
                           entry.facts_format or legacy_format(raw), day)
        out.append(Backtest(entry.seq, entry.record_id, day, result))
    return out
