"""The cost of finding a text's approvals as the log grows (issue 24, item 1): ratios in one run.

    .venv/bin/python bench/approvals.py [--records 20000]

Builds a log of N small records (simulations of one text, appended as the service appends them), with two
approvals of another text at its start, and times ``DecisionLog.approvals`` (what every official decision
asks) on the empty log and on the full one: median of 50 lookups each. The ratio is what matters: a lookup
through an index stays about as fast at N records as at none.
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rules_engine.record.audit import DecisionLog, Submission  # noqa: E402


def _sub(i: int, kind: str, rule: bytes, who: str | None = None) -> Submission:
    output = f'{{"n": {i}}}\n'.encode()
    return Submission(decision_id=hashlib.sha256(output).hexdigest(), engine_version="bench",
                      evaluator="-" if kind == "approval" else "python", ruleset_id="bench", ruleset_version="1",
                      rule_text=rule, schema_text=b"{}", facts=b"" if kind == "approval" else b"{}", as_of="2018-06-20",
                      overrides={}, applicants=0 if kind == "approval" else 1, allocated_fte="0", output=output,
                      requested_by=who, kind=kind)


def lookup_ms(log: DecisionLog, rule: bytes, repeat: int = 50) -> float:
    sha, schema = hashlib.sha256(rule).hexdigest(), hashlib.sha256(b"{}").hexdigest()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        found = log.approvals(sha, schema)
        times.append((time.perf_counter() - start) * 1000)
    assert len(found) == 2
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20000)
    args = parser.parse_args()
    approved, other = b"approved: text\n", b"another: text\n"
    with tempfile.TemporaryDirectory() as folder:
        with DecisionLog(Path(folder) / "log.sqlite", create=True) as log:
            log.append(_sub(0, "approval", approved, "alice"))
            log.append(_sub(1, "approval", approved, "bob"))
            empty = lookup_ms(log, approved)
            start = time.perf_counter()
            for i in range(args.records):
                log.append(_sub(i + 2, "simulation", other))
            built = time.perf_counter() - start
            full = lookup_ms(log, approved)
    print(f"log of {args.records:,} records built in {built:.0f} s")
    print(f"| approvals of a text | 2 records | {args.records:,} records | ratio |")
    print("|---|---:|---:|---:|")
    print(f"| median ms | {empty:.3f} | {full:.3f} | {full / empty:.2f} |")


if __name__ == "__main__":
    main()
