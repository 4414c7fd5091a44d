"""Re-judge the survivors of a cosmic-ray run against the tests as they are now.

Each surviving mutant's diff is applied to this checkout (which must be clean: run it in a scratch clone),
the tests are run, and the file is restored. What still survives is printed, with its place and change.

    python mutation/rejudge.py SESSION.sqlite MODULE_PATH TEST [TEST ...] [--jobs FILE] [--was OLD_PATH]

``--jobs`` limits it to the job ids listed in FILE (one per line); ``--was`` gives the module's path when the
run was made before it moved (the diffs name that path).
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("session")
    parser.add_argument("module")
    parser.add_argument("tests", nargs="+")
    parser.add_argument("--jobs")
    parser.add_argument("--was")
    parser.add_argument("--timeout", type=float, default=180, help="seconds before a mutant counts as caught")
    args = parser.parse_args()
    wanted = set(open(args.jobs).read().split()) if args.jobs else None
    rows = [(job, diff) for job, diff in sqlite3.connect(args.session).execute(
        "SELECT job_id, diff FROM work_results WHERE test_outcome = 'SURVIVED'") if wanted is None or job in wanted]
    env = dict(os.environ, RULES_MUTATION="1")
    alive = []
    for job, diff in rows:
        diff = diff.replace("--- mutation diff ---\n", "")
        if args.was:
            diff = diff.replace(f"a/{args.was}", f"a/{args.module}").replace(f"b/{args.was}", f"b/{args.module}")
        applied = subprocess.run(["patch", "-p1", "--no-backup-if-mismatch", "-r", "-", "-s", "-F", "3"], input=diff, text=True,
                                 capture_output=True)
        if applied.returncode != 0:
            print(f"{job[:8]}: does not apply any more", file=sys.stderr)
        else:
            try:
                tested = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                                         *args.tests], env=env, capture_output=True, timeout=args.timeout)
                if tested.returncode == 0:
                    alive.append((job, diff))
            except subprocess.TimeoutExpired:  # the tests never finish with this mutant: caught, as cosmic-ray counts it
                print(f"{job[:8]}: timed out (caught)", file=sys.stderr)
        subprocess.run(["git", "checkout", "-q", "--", args.module], check=True)
    print(f"{len(rows)} re-judged, {len(alive)} still alive")
    for job, diff in alive:
        lines = diff.splitlines()
        place = next((line for line in lines if line.startswith("@@")), "")
        before = next((line for line in lines if line.startswith("-") and not line.startswith("---")), "")
        after = next((line for line in lines if line.startswith("+") and not line.startswith("+++")), "")
        print(f"{job[:8]} {place}\n   {before.strip()}\n   -> {after.strip()}")


if __name__ == "__main__":
    main()
