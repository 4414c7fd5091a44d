"""Keep a random sample of a cosmic-ray session's mutants (after ``cosmic-ray init``, before ``exec``).

    python mutation/sample.py SESSION.sqlite COUNT [--seed N]

A module's full run can take hours on a 2-core machine; a sample of COUNT mutants, drawn with a fixed seed
(the same sample every time), estimates its score, and its survivors name tests to write all the same.
docs/mutation.md says of each score whether it is of a sample.
"""
from __future__ import annotations

import argparse
import random
import sqlite3


def sample(path: str, count: int, seed: int) -> tuple[int, int]:
    """Drop every mutant of the session but ``count`` drawn at random; (how many there were, how many are kept)."""
    db = sqlite3.connect(path)
    jobs = sorted(row[0] for row in db.execute("SELECT job_id FROM work_items"))
    done = {row[0] for row in db.execute("SELECT job_id FROM work_results")}
    if done:
        raise SystemExit(f"{path}: {len(done)} mutants were run already; sample a session before 'exec'")
    keep = set(random.Random(seed).sample(jobs, min(count, len(jobs))))
    dropped = [(job,) for job in jobs if job not in keep]
    with db:
        db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", dropped)
        db.executemany("DELETE FROM work_items WHERE job_id = ?", dropped)
    db.close()
    return len(jobs), len(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session")
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    total, kept = sample(args.session, args.count, args.seed)
    print(f"{args.session}: kept {kept} of {total} mutants (seed {args.seed})")


if __name__ == "__main__":
    main()
