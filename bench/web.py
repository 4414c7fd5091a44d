"""Benchmark of the web pages: how long the two heaviest pages take to render, in one run.

- the decision page of the 226-applicant LDE example (the ranked table and a motivation);
- the log list of a log of 10,000 records (the first page, a page deep in the log, a filtered page).
Each is measured over 20 requests through the ASGI app (the HTTP layer is measured in service.py),
against the hand-written baseline of a page of the same size: a string join of the same rows.
The target of the web pages issue: each page in under 300 ms. Run: .venv/bin/python bench/web.py
"""
from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
from rules_engine import api  # noqa: E402
from rules_engine.record.audit import DecisionLog  # noqa: E402
from rules_engine.decide.decision import to_json_bytes  # noqa: E402
from rules_service.app import Settings, create_app  # noqa: E402

RULES = ROOT / "rules"
RECORDS = 10_000


def build_log(path: Path) -> int:
    """A log with the LDE decision first, then small decisions up to RECORDS records."""
    day = dt.date(2018, 6, 20)
    small = b"applicants:\n  - {id: A, name: Een, province: Antwerpen, contingent_fte: 3, requested_fte: 2, " \
            b"realisation_rate: 0.95, merged_on: null, assessment: {guidance_actions: 2, transition_vision: 2, " \
            b"realised_transition: 2, regular_cooperation: 2}}\n"
    with DecisionLog(path) as log:
        for index in range(RECORDS):
            facts = (ROOT / "examples" / "lde-2018.yaml").read_bytes() if index == 0 else small + f"# {index}\n".encode()
            ruleset, record, loaded = api.evaluate("lde", facts, day, RULES, label="call.yaml", log=log,
                                                   asking=api.Asking(who="bench"))
            api.record_decision(log, ruleset, record, to_json_bytes(record) + b"\n", loaded, "bench")
    return RECORDS


def timed(client: TestClient, path: str, runs: int = 20) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(path)
        out.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code)
    return out


def baseline(rows: int) -> float:
    """A hand-written page of ``rows`` table rows: the floor any template pays."""
    started = time.perf_counter()
    "".join(f"<tr><td>{i}</td><td>LDE-{i:03d}</td><td>naam {i}</td><td>3</td><td>2</td></tr>" for i in range(rows))
    return (time.perf_counter() - started) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        log = Path(folder) / "log.sqlite"
        started = time.perf_counter()
        build_log(log)
        print(f"log of {RECORDS:,} records built in {time.perf_counter() - started:.0f} s")
        client = TestClient(create_app(Settings(rules_dir=str(RULES), log=str(log), no_auth=True)))
        pages = {"decision page, LDE example (226 applicants)": "/decisions/1",
                 "... with one applicant's letter": "/decisions/1?applicant=LDE-003",
                 "log list, first page": "/decisions",
                 f"log list, after record {RECORDS - 60:,}": f"/decisions?after={RECORDS - 60}",
                 "log list, filtered by ruleset and period": "/decisions?ruleset=lde&since=2000-01-01&until=2100-01-01"}
        print("| page | median ms | p95 ms | hand-written baseline ms |\n|---|---|---|---|")
        for name, path in pages.items():
            times = sorted(timed(client, path))
            rows = 226 if "decision" in name else 50
            print(f"| {name} | {statistics.median(times):.1f} | {times[int(len(times) * 0.95) - 1]:.1f} | "
                  f"{baseline(rows):.2f} |")


if __name__ == "__main__":
    main()
