"""Keep a random sample of a cosmic-ray session's mutants (after ``cosmic-ray init``, before ``exec``).

    python mutation/sample.py SESSION.sqlite COUNT [--seed N] [--lines 24-33,80-95]

``--lines`` first keeps only the mutants that start on those lines (the code a change touched), so that a
change is judged in minutes; COUNT then samples among them (a large COUNT keeps them all).

A module's full run can take hours on a 2-core machine; a sample of COUNT mutants, drawn with a fixed seed
(the same sample every time), estimates its score, and its survivors name tests to write all the same.
docs/mutation.md says of each score whether it is of a sample.
"""
from __future__ import annotations

import argparse
import random
import sqlite3


def sample(path: str, count: int, seed: int, lines: set[int] | None = None) -> tuple[int, int]:
    """Drop every mutant of the session but ``count`` drawn at random (among those starting on ``lines``, if
    given); (how many there were, how many are kept)."""
    db = sqlite3.connect(path)
    rows = db.execute("SELECT job_id, start_pos_row FROM mutation_specs").fetchall()
    jobs = sorted(job for job, row in rows if lines is None or row in lines)
    everything = sorted(row[0] for row in db.execute("SELECT job_id FROM work_items"))
    done = {row[0] for row in db.execute("SELECT job_id FROM work_results")}
    if done:
        raise SystemExit(f"{path}: {len(done)} mutants were run already; sample a session before 'exec'")
    keep = set(random.Random(seed).sample(jobs, min(count, len(jobs))))
    dropped = [(job,) for job in everything if job not in keep]
    with db:
        db.executemany("DELETE FROM mutation_specs WHERE job_id = ?", dropped)
        db.executemany("DELETE FROM work_items WHERE job_id = ?", dropped)
    db.close()
    return len(everything), len(keep)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("session")
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--lines", help="only mutants starting on these lines: 24-33,80-95")
    args = parser.parse_args()
    lines = {n for part in args.lines.split(",") for a, _, b in [part.partition("-")]
             for n in range(int(a), int(b or a) + 1)} if args.lines else None
    total, kept = sample(args.session, args.count, args.seed, lines)
    print(f"{args.session}: kept {kept} of {total} mutants (seed {args.seed})")


if __name__ == "__main__":
    main()
