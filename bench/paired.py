"""Paired rounds at 100,000 applicants: the floor, LDE and the two rulesets of steps, one command after the other.

    python bench/paired.py --rounds 5
    python bench/paired.py --rounds 5 --before /path/to/other/venv/bin/rules   # beside another version

On a shared machine, times drift by a third from minute to minute; a ratio of two commands run one after the
other in the same round drifts far less. Each round runs every command once, in a fresh process; the table gives
each round's times, the medians, and the median of each round's ratio. The floor is ``bench/handwritten.py lde
--no-trace``: the 2018 LDE decision written by hand for its outcome alone; the social and maatwerk floors the same
for the two rulesets of steps (``social-workshops-2019`` and ``maatwerk-2020 --no-trace``). Each floor must decide as
the engine does (eligibility, rank, FTE given and taken, of every applicant), or the run stops. Every command is
``rules evaluate ... --format json --engine python --no-log -o FILE``, once with one process and once with ``--jobs
2``; the outputs of both are compared byte for byte. This is never a test: CI does not run it.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import statistics
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from generate import generate  # noqa: E402

N = 100_000
CALLS = {"lde": ("lde", "2018-06-20"), "social": ("social-workshops@2019.1", "2019-06-20"),
         "maatwerk": ("maatwerk-redistribution@2020.1", "2020-06-20")}
KIND = {"lde": "lde", "social": "social-workshops", "maatwerk": "maatwerk-redistribution"}


def commands(folder: Path, rules: str, before: str | None) -> dict[str, list[str]]:
    facts = {name: str(generate(KIND[name], N, folder)) for name in CALLS}
    out = {"floor": [sys.executable, str(HERE / "handwritten.py"), "lde", facts["lde"], str(folder / "floor.json"),
                     "--no-trace"],
           "social floor": [sys.executable, str(HERE / "handwritten.py"), "social-workshops-2019", facts["social"],
                            str(folder / "social-floor.json"), "--no-trace"],
           "maatwerk floor": [sys.executable, str(HERE / "handwritten.py"), "maatwerk-2020", facts["maatwerk"],
                              str(folder / "maatwerk-floor.json"), "--no-trace"]}
    for name, (spec, as_of) in CALLS.items():
        def run(exe: str, label: str, *extra: str) -> list[str]:
            return [exe, "evaluate", spec, facts[name], "--as-of", as_of, "--format", "json", "--engine", "python",
                    "--no-log", "-o", str(folder / f"{label}.json"), *extra]
        out[name] = run(rules, name)
        out[f"{name} --jobs 2"] = run(rules, f"{name}-jobs", "--jobs", "2")
        if before:
            out[f"{name} before"] = run(before, f"{name}-before")
    return out


def measure(cmd: list[str]) -> tuple[float, int, float]:
    """Wall time, peak memory (MB) and processor time, measured by bench/peak.py from a small process: forked from this one, which
    holds the calls it generated, the command's peak would count this process's pages."""
    with tempfile.NamedTemporaryFile("r", suffix=".peak") as report:
        proc = subprocess.run([sys.executable, "-S", str(HERE / "peak.py"), report.name, *cmd], cwd=HERE.parent,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if proc.returncode:
            raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode()[-500:]}")
        seconds, peak_kb, cpu = report.read().split()
    return float(seconds), int(peak_kb) // 1024, float(cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rules", default=str(Path(sys.executable).parent / "rules"))
    parser.add_argument("--before", help="the rules command of another version, run beside this one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rules-paired-") as tmp:
        folder = Path(tmp)
        cmds = commands(folder, args.rules, args.before)
        times: dict[str, list[float]] = {name: [] for name in cmds}
        cpu: dict[str, list[float]] = {name: [] for name in cmds}
        peaks = dict.fromkeys(cmds, 0)
        for _ in range(args.rounds):
            for name, cmd in cmds.items():
                seconds, peak, processor = measure(cmd)
                times[name].append(seconds)
                cpu[name].append(processor)
                peaks[name] = max(peaks[name], peak)
            print(" ".join(f"{name} {t[-1]:.2f}" for name, t in times.items()), file=sys.stderr, flush=True)
        for name in CALLS:
            if not filecmp.cmp(folder / f"{name}.json", folder / f"{name}-jobs.json", shallow=False):
                raise SystemExit(f"{name}: --jobs 2 wrote other bytes than one process")
        for floor, name in (("floor", "lde"), ("social-floor", "social"), ("maatwerk-floor", "maatwerk")):
            agree(folder / f"{floor}.json", folder / f"{name}.json")
        print("Wall time:\n\n" + table(times, peaks) + "\n\nProcessor time (the command's and its copies'):\n\n"
              + table(cpu, peaks))


def agree(floor: Path, engine: Path) -> None:
    """Stop unless the floor and the engine decided alike: eligibility, rank, FTE given (and taken) of every
    applicant."""
    def outcomes(path: Path) -> dict:
        return {d["id"]: (d["eligible"], d["rank"], Decimal(d["allocated_fte"]), Decimal(d.get("reduced_fte", 0)))
                for d in json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)["decisions"]}
    if outcomes(floor) != outcomes(engine):
        raise SystemExit(f"{floor.name} and {engine.name} decided differently")


def table(times: dict[str, list[float]], peaks: dict[str, int]) -> str:
    names = list(times)
    rows = [f"| round | {' | '.join(names)} |", "|---:|" + "---:|" * len(names)]
    rounds = len(times[names[0]])
    rows += [f"| {r + 1} | " + " | ".join(f"{times[n][r]:.2f} s" for n in names) + " |" for r in range(rounds)]
    rows.append("| median | " + " | ".join(f"{statistics.median(times[n]):.2f} s" for n in names) + " |")
    rows.append("| peak memory | " + " | ".join(f"{peaks[n]} MB" for n in names) + " |")

    def ratio(a: str, b: str) -> str:
        return f"{statistics.median(x / y for x, y in zip(times[a], times[b])):.2f}"
    pairs = [("lde", "floor"), ("lde --jobs 2", "floor"), ("social", "social floor"), ("maatwerk", "maatwerk floor"),
             ("social floor", "floor"), ("maatwerk floor", "floor"), ("social", "lde"), ("maatwerk", "lde"),
             ("social --jobs 2", "lde --jobs 2"), ("maatwerk --jobs 2", "lde --jobs 2")]
    pairs += [(f"{n} before", "floor" if n == "lde" else "lde before") for n in CALLS if f"{n} before" in times]
    rows += ["", "Medians of the rounds' ratios: " + ", ".join(f"{a} / {b} **{ratio(a, b)}**" for a, b in pairs)]
    return "\n".join(rows)


if __name__ == "__main__":
    main()
