"""Deployment (issue 23, item 1): the unit, the image and the compose file, read as their tools read them, and
the service started exactly as the systemd unit starts it (its ExecStart, its environment file)."""
from __future__ import annotations

import configparser
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from ruamel.yaml import YAML

from conftest import EXAMPLES, RULES
from service_process import free_port

DEPLOY = RULES.parent / "deploy"
ROOT = RULES.parent


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string((DEPLOY / "rules.service").read_text(encoding="utf-8"))
    return parser


def env_file(path: Path) -> dict:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def test_the_service_starts_as_the_unit_starts_it(tmp_path):
    service = unit()["Service"]
    command = shlex.split(service["ExecStart"])
    assert command[:4] == ["/opt/rules/bin/rules", "serve", "--config", "/etc/rules/serve.toml"]
    # the machine's paths for the unit's: the installed 'rules', the config and environment files as shipped
    port = free_port()
    config = (DEPLOY / "serve.toml").read_text(encoding="utf-8")
    config = config.replace('host = "0.0.0.0"', 'host = "127.0.0.1"').replace("port = 8080", f"port = {port}")
    config = config.replace('rules_dir = "/srv/rules/rules"', f'rules_dir = "{RULES}"')
    (tmp_path / "serve.toml").write_text(config, encoding="utf-8")
    environment = env_file(DEPLOY / "rules.env.example")
    assert service["EnvironmentFile"] == "/etc/rules/rules.env" and "RULES_LOG" in environment
    log = tmp_path / "decisions.sqlite"
    environment["RULES_LOG"] = str(log)  # an SQLite log in the state directory instead of PostgreSQL
    rules = Path(sys.executable).with_name("rules")
    runner = [str(rules), *command[1:3], str(tmp_path / "serve.toml")]
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **environment}
    tokens = {}
    for name, role in (("clerk", "evaluator"), ("alice", "approver")):
        made = subprocess.run([str(rules), "token", "add", name, "--role", role], env=env, capture_output=True,
                              text=True, check=True)
        tokens[name] = made.stdout.strip().splitlines()[-1].split()[-1]
    approved = subprocess.run([str(rules), "approve", "sheltered-workshops@2018.1", "--rules-dir", str(RULES),
                               "--token", tokens["alice"]], env=env, capture_output=True, text=True)
    assert approved.returncode == 0, approved.stderr  # serve.toml: require_approvals = 1
    process = subprocess.Popen(runner, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _attempt in range(300):  # 30 s at most
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert process.poll() is None, process.stdout.read().decode()
            time.sleep(0.1)
        decided = httpx.post(base + "/v1/rulesets/sheltered-workshops/evaluate?as_of=2018-06-20",
                             content=(EXAMPLES / "sheltered-workshops-2018.yaml").read_bytes(), timeout=60,
                             headers={"Authorization": f"Bearer {tokens['clerk']}", "content-type": "application/yaml"})
        assert decided.status_code == 201, decided.text
        assert decided.json()["kind"] == "official" and [a["by"] for a in decided.json()["approvals"]] == ["alice"]
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def test_the_unit_is_one_systemd_reads_without_a_complaint(tmp_path):
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed here")
    text = (DEPLOY / "rules.service").read_text(encoding="utf-8")
    copy = tmp_path / "rules.service"
    copy.write_text(text.replace("/opt/rules/bin/rules", str(Path(sys.executable).with_name("rules"))), encoding="utf-8")
    checked = subprocess.run(["systemd-analyze", "verify", str(copy)], capture_output=True, text=True)
    complaints = [line for line in (checked.stdout + checked.stderr).splitlines() if "rules.service" in line]
    assert checked.returncode == 0 and complaints == [], complaints
    service = unit()["Service"]
    for hardening in ("NoNewPrivileges", "ProtectSystem", "ProtectHome", "PrivateTmp", "CapabilityBoundingSet"):
        assert hardening in service
    assert service["User"] == "rules" and service["ReadWritePaths"] == "/var/lib/rules"


def test_the_image_builds_from_what_the_repository_holds():
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines()]
    steps = [line for line in lines if line and not line.startswith("#")]
    assert sum(1 for line in steps if line.startswith("FROM ")) == 2  # two stages
    assert "USER rules" in steps and not any(line == "USER root" for line in steps)
    health = next(line for line in steps if line.startswith("HEALTHCHECK"))
    assert "/readyz" in " ".join(steps[steps.index(health):steps.index(health) + 2])
    assert 'ENTRYPOINT ["rules", "serve", "--config", "/etc/rules/serve.toml"]' in steps
    for line in steps:
        if line.startswith("COPY") and "--from=" not in line:
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), f"the build context has no {source}"


def test_the_compose_file_keeps_the_password_out_and_waits_for_the_database():
    compose = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    db, rules = compose["services"]["db"], compose["services"]["rules"]
    assert "POSTGRES_PASSWORD" not in db["environment"] and db["environment"]["POSTGRES_PASSWORD_FILE"]
    assert "pg_isready" in " ".join(db["healthcheck"]["test"]) and compose["volumes"] == {"db": None}
    assert rules["depends_on"]["db"]["condition"] == "service_healthy"
    assert (DEPLOY / rules["build"]["context"] / rules["build"]["dockerfile"]).resolve() == (DEPLOY / "Dockerfile")
    assert rules["ports"] == ["127.0.0.1:8080:8080"]  # behind the reverse proxy, never on every address
    assert set(env_file(DEPLOY / "rules.env.example")) >= {"RULES_LOG", "RULES_REQUIRE_APPROVALS", "FORWARDED_ALLOW_IPS"}


def test_config_show_tells_each_setting_and_where_it_comes_from(tmp_path):
    # Issue 23, item 2: the effective settings, the environment before the file before the defaults, no password.
    from click.testing import CliRunner

    from rules_cli.cli import main

    config = tmp_path / "serve.toml"
    config.write_text('workers = 4\nrequire_approvals = 1\nrules_dir = "/srv/rules/rules"\n', encoding="utf-8")
    env = {"RULES_LOG": "postgresql://rules:s3cret@db:5432/rules", "RULES_REQUIRE_APPROVALS": "2"}
    shown = CliRunner().invoke(main, ["config", "show", "--config", str(config)], env=env)
    assert shown.exit_code == 0, shown.output
    lines = dict(line.split(" = ", 1) for line in shown.stdout.splitlines())
    assert lines["workers"] == f"4  # from {config}" and lines["require_approvals"] == "2  # from RULES_REQUIRE_APPROVALS"
    assert lines["port"] == "8080  # default" and "s3cret" not in shown.stdout
    assert lines["log"] == '"postgresql://rules:***@db:5432/rules"  # from RULES_LOG'
    config.write_text("wokers = 4\n", encoding="utf-8")
    wrong = CliRunner().invoke(main, ["config", "show", "--config", str(config)])
    assert wrong.exit_code == 1 and "unknown setting 'wokers'" in wrong.output and "workers" in wrong.output


def test_init_writes_a_working_folder_from_the_installed_package(tmp_path):
    # Issue 23, item 6: installed, it works anywhere: `rules init DIR` writes rules/ and examples/ (from the
    # package itself: CI installs it from a wheel, not from this folder), and deciding there works.
    from click.testing import CliRunner

    from rules_cli.cli import main

    runner = CliRunner()
    made = runner.invoke(main, ["init", str(tmp_path / "work")])
    assert made.exit_code == 0, made.output
    work = tmp_path / "work"
    assert (work / "rules" / "sheltered-workshops" / "sheltered-workshops-2018.yaml").read_bytes() == \
        (RULES / "sheltered-workshops" / "sheltered-workshops-2018.yaml").read_bytes()
    assert (work / "examples" / "policies" / "mergers" / "tests" / "mergers-2018.yaml").is_file()
    decided = runner.invoke(main, ["evaluate", "sheltered-workshops", str(work / "examples" / "sheltered-workshops-2018.yaml"),
                                   "--as-of", "2018-06-20", "--rules-dir", str(work / "rules"), "--no-log"])
    assert decided.exit_code == 0 and "351" in decided.stdout
    (work / "rules" / "lde" / "lde-2018.yaml").write_text("changed", encoding="utf-8")
    again = runner.invoke(main, ["init", str(work)])
    assert again.exit_code == 0 and (work / "rules" / "lde" / "lde-2018.yaml").read_text() == "changed"  # kept
    outside = runner.invoke(main, ["evaluate", "lde", "x.yaml", "--rules-dir", str(tmp_path / "nothing")])
    assert outside.exit_code == 1 and "rules init DIR" in outside.output
