"""Shared fixtures: paths of the checkout, a CLI runner, a private decision log."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import os

import pytest
from click.testing import CliRunner
from hypothesis import Phase, settings

# A mutation run (mutation/README.md) only needs to know that a test fails, not its smallest example:
# no shrinking, no example database.
settings.register_profile("mutation", phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None)
if os.environ.get("RULES_MUTATION"):
    settings.load_profile("mutation")

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
EXAMPLES = ROOT / "examples"
AS_OF = dt.date(2018, 6, 20)
RULESETS = ("lde", "sheltered-workshops", "social-workshops")


def rule_file(ruleset_id: str) -> Path:
    return RULES / ruleset_id / f"{ruleset_id}-2018.yaml"


def example(ruleset_id: str) -> Path:
    return EXAMPLES / f"{ruleset_id}-2018.yaml"


@pytest.fixture
def runner(tmp_path, monkeypatch) -> CliRunner:
    monkeypatch.setenv("RULES_LOG", str(tmp_path / "log.sqlite"))
    return CliRunner()


@pytest.fixture
def log_path(tmp_path) -> Path:
    return tmp_path / "log.sqlite"


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server for the whole session (tests/pg_server.py)."""
    from pg_server import PostgresServer

    server = PostgresServer()
    yield server
    server.stop()
