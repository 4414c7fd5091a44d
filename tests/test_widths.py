"""Every table and text the CLI prints fits the terminal: 80 columns when stdout is not one."""
from __future__ import annotations

import pytest

from rules_cli.cli import main

from conftest import RULES

ROOT = RULES.parent
EX = ROOT / "examples"


@pytest.fixture
def log(runner, tmp_path):
    path = tmp_path / "log.sqlite"
    for args in (["sheltered-workshops", EX / "sheltered-workshops-2018.yaml", "--as-of", "2018-06-20"],
                 ["maatwerk-redistribution", EX / "maatwerk-2020.yaml", "--as-of", "2020-03-01"],
                 ["lde", EX / "lde-2018.yaml", "--as-of", "2019-06-20", "--simulate", "--reason", "ontwerp"]):
        assert run(runner, "evaluate", *args, "--rules-dir", RULES, "--log", path).exit_code == 0
    from helpers import approver

    assert run(runner, "approve", "social-workshops@2019.1", "--rules-dir", RULES, "--token", approver(path, "alice"), "--note",
               "nagekeken met de provincies en de adviescommissie", "--log", path).exit_code == 0
    return path


def run(runner, *args, columns="80"):
    return runner.invoke(main, [str(a) for a in args], env={"COLUMNS": columns})


COMMANDS = [
    ["evaluate", "lde", EX / "lde-2018.yaml", "--as-of", "2018-06-20", "--no-log"],
    ["evaluate", "sheltered-workshops", EX / "sheltered-workshops-2018.yaml", "--as-of", "2018-06-20", "--no-log"],
    ["evaluate", "social-workshops", EX / "social-workshops-2018.yaml", "--as-of", "2019-06-20", "--no-log"],
    ["evaluate", "maatwerk-redistribution", EX / "maatwerk-2020.yaml", "--as-of", "2020-03-01", "--no-log"],
    ["versions", "lde"], ["versions", "sheltered-workshops"],
    ["test"], ["test", "--coverage"],
    ["diff", "sheltered-workshops@2018.1", "sheltered-workshops@2019.1", EX / "sheltered-workshops-2018.yaml",
     "--as-of", "2019-04-01"],
    ["diff", "maatwerk-redistribution", EX / "maatwerk-2020.yaml", "--set", "reduction_threshold=0.85",
     "--as-of", "2020-03-01"],
    ["report", "fill", EX / "sheltered-workshops-2018.yaml", "--quarter", "2017Q4"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(str(x) for x in a[:2]))
def test_no_line_is_longer_than_80(runner, args, monkeypatch):
    monkeypatch.chdir(ROOT)  # as a policy owner runs it, from the checkout: paths are relative
    extra = ["--rules-dir", "rules"] if args[0] in ("evaluate", "versions", "test", "diff") else []
    result = run(runner, *args, *extra)
    assert result.exit_code in (0, 1), result.output
    lines = result.stdout.splitlines()
    assert lines and max(len(line) for line in lines) <= 80, max(lines, key=len)


@pytest.mark.parametrize("args", [["log", "--all"], ["approvals"], ["explain", "1"], ["explain", "1", "BW-008"],
                                  ["explain", "1", "BW-008", "--for", "auditor"], ["explain", "2", "MB-029", "--lang", "en"],
                                  ["explain", "3", "LDE-001", "--for", "auditor"]], ids=" ".join)
def test_log_tables_and_explanations_fit_80(runner, log, args):
    result = run(runner, *args, "--log", log)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)


def test_a_wide_terminal_gets_the_whole_table(runner):
    args = ["evaluate", "lde", EX / "lde-2018.yaml", "--as-of", "2018-06-20", "--no-log", "--rules-dir", RULES]
    narrow, wide = run(runner, *args).stdout, run(runner, *args, columns="200").stdout
    assert "LDE-initiatief Sint-Niklaas 124" in wide and "LDE-initiatief Sint-Niklaas 124" not in narrow
    assert "…" in narrow and max(len(line) for line in wide.splitlines()) > 80
