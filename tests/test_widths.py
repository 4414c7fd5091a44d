"""Every table and text the CLI prints fits the terminal: 80 columns when stdout is not one."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

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


# A table of 100,000 decisions took a minute through rich; one whose cells are all one cell a character is laid
# out directly, and must come out as rich lays it out: texts with wide, combining and invisible characters, tabs,
# newlines, spaces at either end and cells cut with an ellipsis.
_CHARACTERS = st.sampled_from(list("ab Z09-.…") + ["é", "ë", "ĳ", "漢", "\u0301", "\u200b", "\t", "\n", "  ", "😀"])
_TEXTS = st.lists(_CHARACTERS, max_size=12).map("".join)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@example((["n", "r"], [["ab   ", "0 "], ["abcd", " 7"]], {1}, [3, 1]))  # spaces cut before a number, kept in a text
@given(st.integers(1, 5).flatmap(lambda n: st.tuples(
    st.lists(_TEXTS.filter(str.strip), min_size=n, max_size=n),
    st.lists(st.lists(_TEXTS, min_size=n, max_size=n), max_size=4),
    st.sets(st.integers(0, n - 1)),
    st.lists(st.integers(1, 10), min_size=n, max_size=n))))
def test_a_table_is_laid_out_as_rich_lays_it_out(table):
    from rules_engine.tell import render

    headers, rows, right, widths = table
    assert render._render(headers, rows, sorted(right), widths) == render._render_rich(headers, rows, sorted(right), widths)


def test_a_table_of_plain_cells_is_laid_out_without_rich_and_one_with_a_wide_character_with_it(monkeypatch):
    from rules_engine.tell import render

    def refused(*args):
        raise AssertionError("laid out by rich")

    monkeypatch.setattr(render, "_render_rich", refused)
    plain = render._render(["rank", "naam"], [["1", "Atelier Zuid-Oost é"], ["12", "x " * 20]], [0], [4, 12])
    assert plain == "rank  naam\n----- ------------\n   1  Atelier Zui…\n  12  x x x x x x…"
    with pytest.raises(AssertionError, match="laid out by rich"):
        render._render(["rank", "naam"], [["1", "漢字"]], [0], [4, 12])


def test_every_character_a_table_lays_out_directly_takes_one_cell():
    from rich.cells import cell_len

    from rules_engine.tell import render

    direct = [chr(c) for c in range(0x110000) if render._ONE_CELL_EACH.fullmatch(chr(c))]
    assert len(direct) == 95 + 12 + 418 + 2 + 6 + 1 + 1 and "é" in direct and "…" in direct and "漢" not in direct and "\u0301" not in direct
    assert all(c.isprintable() and cell_len(c) == 1 for c in direct)
