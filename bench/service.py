"""Benchmark of the service: the same decision in process and over HTTP, in one run, as ratios.

For the shipped sheltered-workshops example (55 workshops, 351 FTE) and each log (SQLite, and a
PostgreSQL server this script starts), it measures:
- the in-process loop: ``engine.api.evaluate`` + ``record_decision``, one call after another;
- ``rules serve --workers 2`` on 127.0.0.1 with 1, 8 and 32 concurrent clients (threads with
  keep-alive connections): throughput, p50 and p99 latency.
The targets of the service issues: at 8 clients, the service's throughput is at least 70% of the
in-process loop's; with ``--records N`` the same is measured again after the log has grown by N records
(a small call of the same ruleset, appended in process), and at 8 clients it must keep at least 90% of
the empty log's throughput. The empty log and the grown one (a second log) are measured in turns, ``--rounds``
times, so that both see the machine alike; the table gives the median round. Every request must be answered 201
with a record of its own: the number of new records is compared with the 201s, and each log is verified at the end.
Run from the repository:  .venv/bin/python bench/service.py [--records 100000] [--rounds 3]
"""
from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the tests' own helpers start the servers

from pg_server import PostgresServer  # noqa: E402
from service_process import Server  # noqa: E402

from rules_engine import api  # noqa: E402
from rules_engine.record.audit import DecisionLog, TokenStore  # noqa: E402
from rules_engine.decide.decision import to_json_bytes  # noqa: E402

BODY = (ROOT / "examples" / "sheltered-workshops-2018.yaml").read_bytes()
URL = "/v1/rulesets/sheltered-workshops/evaluate?as_of=2018-06-20"
RULES = ROOT / "rules"
AS_OF = dt.date(2018, 6, 20)
CLIENTS = (1, 8, 32)
REQUESTS = {1: 40, 8: 160, 32: 320}


def in_process(log_target: str, count: int = 60) -> dict:
    latencies = []
    with DecisionLog(log_target) as log:
        for _ in range(count):
            started = time.perf_counter()
            ruleset, record, facts = api.evaluate("sheltered-workshops", BODY, AS_OF, RULES, label="<body>", fmt="yaml")
            api.record_decision(log, ruleset, record, to_json_bytes(record) + b"\n", facts, "bench")
            latencies.append(time.perf_counter() - started)
    return summary(latencies, sum(latencies))


ANSWERED = [0]  # every 201 of the run, warm-ups included: each must be a new record


def over_http(base: str, secret: str, clients: int) -> dict:
    each = REQUESTS[clients] // clients
    latencies: list = []
    failures: list = []

    def client():
        headers = {"Authorization": f"Bearer {secret}", "content-type": "application/yaml"}
        with httpx.Client(base_url=base, timeout=120) as session:
            for _ in range(each):
                started = time.perf_counter()
                response = session.post(URL, content=BODY, headers=headers)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 201:
                    failures.append(response.status_code)
                else:
                    ANSWERED[0] += 1
    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {sorted(set(failures))}")
    return summary(latencies, time.perf_counter() - started)


def summary(latencies: list, elapsed: float) -> dict:
    ordered = sorted(latencies)
    return {"n": len(ordered), "per_s": len(ordered) / elapsed, "latencies": ordered}


def fill(log_target: str, records: int) -> float:
    """Grow the log by ``records`` decisions of a one-applicant call of the same ruleset; the seconds it took."""
    small = b"regions: {Antwerpen: {work_disabled: 1}}\napplicants:\n" + BODY.split(b"applicants:\n", 1)[1].split(b"\n  - ", 2)[0] + b"\n"
    ruleset, record, facts = api.evaluate("sheltered-workshops", small, AS_OF, RULES, label="<fill>", fmt="yaml")
    output = to_json_bytes(record) + b"\n"
    started = time.perf_counter()
    with DecisionLog(log_target) as log:
        for _ in range(records):
            api.record_decision(log, ruleset, record, output, facts, "bench-fill")
    return time.perf_counter() - started


def measure(log_target: str, secret: str) -> dict:
    """One round on one log: the in-process loop, then a fresh ``rules serve`` at 1, 8 and 32 clients."""
    results = {"in process": in_process(log_target)}
    with Server(log_target, workers=2) as server:
        over_http(server.url, secret, 1)  # warm up both workers' caches
        for clients in CLIENTS:
            results[f"HTTP, {clients} client{'s' if clients > 1 else ''}"] = over_http(server.url, secret, clients)
    return results


def count(log_target: str) -> int:
    with DecisionLog(log_target, create=False) as log:
        return log.head()[0]


def prepare(log_target: str, records: int) -> tuple[str, int]:
    """A token in a new log, which is then grown by ``records``: (the token, the records before measuring)."""
    with DecisionLog(log_target) as log:
        secret = TokenStore(log).add(f"bench-{int(time.time())}", "evaluator")
    if records:
        took = fill(log_target, records)
        print(f"{records:,} records appended in {took:.0f} s", file=sys.stderr)
    return secret, count(log_target)


def run(name: str, targets: dict, records: int, rounds: int) -> list:
    """``rounds`` rounds, each measuring the empty log and then the grown one, so that both see the machine alike;
    the median throughput of the rounds, and p50/p99 of all their requests."""
    logs = {state: (target,) + prepare(target, records if state == "grown" else 0) for state, target in targets.items()}
    made, seen = {state: 0 for state in logs}, {}
    for _ in range(rounds):
        for state, (target, secret, _before) in logs.items():
            ANSWERED[0] = 0
            for how, result in measure(target, secret).items():
                seen.setdefault((state, how), []).append(result)
                made[state] += result["n"] if how == "in process" else 0
            made[state] += ANSWERED[0]
    for state, (target, _secret, before) in logs.items():
        with DecisionLog(target, create=False) as log:
            verified = log.verify()
        after = count(target)
        if after - before != made[state] or verified != after:
            raise SystemExit(f"{name} ({state}): {made[state]} answered, {after - before} new records, {verified} verified")
        print(f"{name} ({state}): {after - before:,} new records, one per 201 and per decision in process; "
              f"verify: {verified:,} ok", file=sys.stderr)
    return [(name, state, how, _pooled(results)) for (state, how), results in seen.items()]


def _pooled(results: list) -> dict:
    latencies = sorted(value for result in results for value in result["latencies"])
    return {"n": len(latencies), "per_s": statistics.median(r["per_s"] for r in results),
            "p50_ms": statistics.median(latencies) * 1000,
            "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            "rounds": [r["per_s"] for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=0, help="also measure a log grown by this many records")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of measurement, each on every log")
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rules-bench-service-"))
    states = ("empty", "grown") if args.records else ("empty",)
    rows = [] if args.only == "postgresql" else run(
        "SQLite", {state: str(folder / f"{state}.sqlite") for state in states}, args.records, args.rounds)
    if args.only != "sqlite":
        postgres = PostgresServer()
        try:
            rows += run("PostgreSQL", {state: postgres.database() for state in states}, args.records, args.rounds)
        finally:
            postgres.stop()
    report(rows, args.records)


def report(rows: list, records: int) -> None:
    print(f"{'log':<11} {'how':<18} {'log length':>10} {'requests':>8} {'per s':>7} {'rounds, per s':<20} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'vs in process':>13} {'vs empty':>8}")
    by = {(name, state, how): result for name, state, how, result in rows}
    for name, state, how, result in rows:
        ratio = result["per_s"] / by[(name, state, "in process")]["per_s"]
        kept = result["per_s"] / by[(name, "empty", how)]["per_s"]
        length = f"{records:,}" if state == "grown" else "empty"
        rounds = " ".join(f"{value:.1f}" for value in result["rounds"])
        print(f"{name:<11} {how:<18} {length:>10} {result['n']:>8} {result['per_s']:>7.1f} {rounds:<20} "
              f"{result['p50_ms']:>7.1f} {result['p99_ms']:>7.1f} {ratio:>12.0%} {kept:>8.0%}")


if __name__ == "__main__":
    main()
