"""The hostile-input corpus in tests/hostile/: each input pinned to its message, via the CLI."""
from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from rules_cli.cli import main

from conftest import RULES

HOSTILE = Path(__file__).parent / "hostile"
CASES = YAML(typ="safe").load((HOSTILE / "cases.yaml").read_text(encoding="utf-8"))


def test_every_file_has_a_case():
    assert {c["file"] for c in CASES} == {p.name for p in HOSTILE.iterdir() if p.name != "cases.yaml"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["file"])
def test_hostile_input_gets_its_message(runner, case, tmp_path, monkeypatch):
    monkeypatch.chdir(HOSTILE)
    if case["kind"] == "rules":
        args = ["validate", case["file"]]
    else:
        args = ["evaluate", "lde", case["file"], "--as-of", "2018-06-20", "--rules-dir", str(RULES), "--no-log"]
    result = runner.invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output and "internal error" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith(f"{case['file']}:{case['where']}")]
    assert lines, result.stderr
    assert any(all(word in line for word in case["words"]) for line in lines), lines
    assert not Path("/tmp/rules-pwned").exists()
