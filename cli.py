"""The ``rules`` command: a thin shell over ``engine``.

It parses arguments, calls the library, prints, and maps the engine's errors
to exit codes: 0 success, 1 bad input or a failed check, 2 wrong usage
(click's own), 3 an internal error (a bug: please report it).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gc
import json
import os
import stat
from decimal import Decimal
import sys
from pathlib import Path
from typing import Iterable

import click

from rules_engine import __version__
from rules_engine.errors import InputError, Location, RulesError

LOG_HELP = ("Decision log: an SQLite file or a postgresql:// URL. Default: $RULES_LOG, else "
            "~/.local/share/rules/decisions.sqlite.")


class Rules(click.Group):
    """Maps engine errors to messages and exit codes; never a traceback for bad input."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except InputError as exc:
            from rules_engine.tell.render import problem_lines

            for line in problem_lines(exc.problems):
                click.echo(line, err=True)
            count = len(exc.problems)
            click.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)
            sys.exit(1)
        except RulesError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException, SystemExit):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
            try:
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - so that the interpreter's final flush is silent
            except OSError:
                pass
            sys.exit(141)
        except Exception as exc:  # a bug in the engine: say so plainly
            if os.environ.get("RULES_DEBUG"):
                raise
            click.echo(f"internal error: {type(exc).__name__}: {exc} (set RULES_DEBUG=1 for a traceback; "
                       "please report this)", err=True)
            sys.exit(3)


def parse_date(_ctx, _param, value):
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date (YYYY-MM-DD)") from None


def parse_sets(_ctx, _param, values):
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"'{item}' must be NAME=VALUE")
        out[name.strip()] = value.strip()
    return out


def log_option(f):
    f = click.option("--log", "log_path", type=click.Path(dir_okay=False), envvar="RULES_LOG", help=LOG_HELP)(f)
    return f


def open_log(log_path, create: bool = False):
    from rules_engine.record.audit import DecisionLog, default_path

    _warn_password(str(log_path or default_path()))
    return DecisionLog(log_path or default_path(), create=create)


def _warn_password(target: str) -> None:
    """A password in a postgresql:// URL is seen by every user of the machine (ps, the shell's history)."""
    from urllib.parse import urlsplit

    from rules_engine.record.audit_pg import is_postgres

    if is_postgres(target) and urlsplit(target).password:
        click.echo("warning: the log's URL holds a password, which every user of this machine can read (ps); "
                   "leave it out and use PGPASSWORD, a PGPASSFILE (~/.pgpass) or a service file (PGSERVICE)", err=True)


_LEAVE_AT_ONCE = [False]  # set by ``entry``: this process ends when the command does


def entry() -> None:
    """The installed ``rules`` command: ``main`` in a process of its own, which may end without freeing what a large
    call built once everything is written and logged (about a seventh of the time of 100,000 applicants)."""
    _LEAVE_AT_ONCE[0] = True
    main()


def _short_lived() -> None:
    """No cyclic garbage collection in a process that ends with this one command (``entry``): a call builds millions
    of acyclic objects, which the collector, enabled again after the decision, would walk once more for nothing
    (0.15 to 0.25 s of 100,000 applicants). A library caller or the service keeps its collector."""
    if _LEAVE_AT_ONCE[0]:
        gc.disable()


def _leave(code: int = 0) -> None:
    """End the process now, output flushed, when it is the installed command's own (``entry``); else return."""
    if not _LEAVE_AT_ONCE[0]:
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        return  # let the usual ending report it
    os._exit(code)


@click.group(cls=Rules, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rules")
def main():
    """Policy-as-data rules engine for allocating subsidised jobs (FTE contingents).

    Rule files (YAML) declare eligibility, priority and distribution criteria;
    `rules evaluate` applies them to the applications of a call and logs the
    decision; `rules replay`, `rules explain` and `rules audit verify` serve
    auditors.
    """


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--strict", is_flag=True, help="Also run the publish-gate checks of `rules lint`.")
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path(),
              help="The rules folder to check when no PATH is given.")
def validate(paths, strict, rules_dir):
    """Check rule files (default: the rules folder) without evaluating anything."""
    from rules_engine.api import validate_paths

    result = validate_paths(paths or [rules_dir])
    for problem in result.problems:
        click.echo(str(problem), err=True)
    findings = []
    if strict and not result.problems:
        from rules_engine.policy.lint import lint_rulesets

        findings = lint_rulesets(result.rulesets)
        for finding in findings:
            click.echo(str(finding), err=True)
    if result.problems or findings:
        count = len(result.problems) + len(findings)
        click.echo(f"{count} problem{'s' if count != 1 else ''} in {result.files} rule file(s)", err=True)
        sys.exit(1)
    if result.files == 0:
        click.echo("no rule files found", err=True)
        sys.exit(1)
    ids = sorted({r.id for r in result.rulesets})
    click.echo(f"{result.files} rule file(s) valid: {', '.join(ids)}")


@main.command()
@click.argument("ruleset")
@click.argument("facts", type=click.Path(allow_dash=True))
@click.option("--as-of", callback=parse_date, help="Decision date: picks the version in force (default: today).")
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path(), help="Where ruleset ids are looked up.")
@click.option("--engine", "engine_name", type=click.Choice(["python", "durable"]), default="python", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "csv-excel", "xlsx"]), default="table",
              show_default=True, help="csv: RFC 4180 for tools; csv-excel: ';', decimal commas, BOM, CRLF; "
              "xlsx: a workbook (needs -o).")
@click.option("--output", "-o", type=click.Path(), help="Write the decision here instead of stdout (checked before logging).")
@click.option("--set", "sets", multiple=True, callback=parse_sets, metavar="NAME=VALUE",
              help="Override a declared parameter for this run (repeatable); makes the decision a simulation.")
@click.option("--no-log", is_flag=True, help="Dry run: do not append to the decision log.")
@click.option("--simulate", is_flag=True, help="Log a simulation, not an official decision (drafts need it).")
@click.option("--as", "who", metavar="NAME", help="Who asks for the decision (default: the operating-system user).")
@click.option("--reason", help="Why the decision is asked for; kept in the log.")
@click.option("--require-approvals", type=click.IntRange(0, 100), default=0, envvar="RULES_REQUIRE_APPROVALS",
              show_default=True, help="An official decision needs this many approvals of the exact rule text.")
@click.option("--allowed-signers", "allowed_signers", type=click.Path(), envvar="RULES_ALLOWED_SIGNERS",
              help="The approvers' public keys, one per line: only approvals signed by one of them count.")
@click.option("--idempotency-key", "key", metavar="KEY",
              help="Decide once: run again with the same KEY (and the same request), it prints the record logged "
                   "the first time and logs nothing.")
@click.option("--jobs", type=click.IntRange(0, 64), default=1, envvar="RULES_JOBS", show_default=True,
              help="Processes that write a large call's decisions as JSON at once (each at least 20,000 of them); "
                   "0: as many as this machine has CPUs, at most 4. The bytes are the same; each copy takes memory "
                   "of its own (two: about 1.4 times the memory of one).")
@log_option
def evaluate(ruleset, facts, as_of, rules_dir, engine_name, fmt, output, sets, no_log, simulate, who, reason,
             require_approvals, allowed_signers, key, jobs, log_path):
    """Evaluate RULESET (a rule file, an id, or id@version) on the applications in FACTS (- for stdin)."""
    import decimal
    import json

    from rules_engine.api import Asking, Once, earlier, evaluate as run, record_decision
    from rules_engine.decide.decision import to_json_parts
    from rules_engine.record.audit import pack_parts

    _short_lived()
    as_of = as_of or dt.date.today()
    if fmt == "xlsx" and not output:
        raise click.UsageError("--format xlsx writes a workbook: give it a file with -o decision.xlsx")
    asking = Asking(simulate, not no_log, who or _os_user(), reason, require_approvals, _allowed(allowed_signers))
    with _log_for(log_path, no_log) as log:
        compiled, record, loaded = run(ruleset, facts, as_of, rules_dir, engine_name, sets, asking=asking, log=log)
        for warning in loaded.warnings:
            click.echo(f"warning: {warning}", err=True)
        once = None if no_log else Once.of(asking.who, key, {"spec": ruleset, "facts_sha256": loaded.sha256,
                                                              "as_of": as_of, "engine": engine_name, "sets": sets,
                                                              "simulate": simulate, "reason": reason})
        first = earlier(log, once)
        if first is not None:  # decided and logged before with this key: that record is the answer
            record = json.loads(first.text, parse_float=decimal.Decimal)
        # the text in parts, encoded as they are written; logged, packed as they are encoded, and written out
        # from what the log stores (so never held whole)
        parts = [first.text] if first is not None else to_json_parts(record, end=b"\n", jobs=_jobs(jobs))
        packed = pack_parts(parts) if not no_log and first is None else None
        parts = packed.parts() if packed is not None else parts
        target = _open_output(output)  # before logging: a path that cannot be written must not leave a record behind
        entry = first or (record_decision(log, compiled, record, packed, loaded, asking.who, reason, once)
                          if not no_log else None)
        shown = parts if fmt == "json" else _shown(record, fmt, entry.record_id if entry else None)
    if first:
        click.echo(f"already logged as record {entry.seq} ({record['kind']}) in {_log_name(log_path)} with this "
                   "idempotency key: nothing new was logged", err=True)
    elif entry:
        click.echo(f"logged as record {entry.seq} ({record['kind']}) in {_log_name(log_path)}", err=True)
    click.echo(f"ruleset {compiled.id} {compiled.version} ({compiled.label}), as of {as_of.isoformat()}", err=True)
    if record["kind"] == "dry-run":
        dry = record["dry_run"]
        verdict = "allowed" if dry["allowed"] else f"refused: {dry['because']}"
        click.echo(f"a dry run, not logged; logged, it would be {'an' if dry['would_be'] == 'official' else 'a'} "
                   f"{dry['would_be']} decision ({verdict})", err=True)
    if record["kind"] == "simulation":
        period = "" if compiled.in_force(as_of) else f"; {compiled.version} is not in force on {as_of.isoformat()}"
        because = _simulation_because(compiled, sets, simulate, ruleset)
        click.echo(f"a simulation, not an official decision ({because}{period})", err=True)
    _write_output(target, output, shown, entry, log_path)
    _leave()


def _jobs(asked: int) -> int:
    """The processes to write with: as asked, or (0) this machine's CPUs that this process may use, at most 4."""
    if asked:
        return asked
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    return max(1, min(len(usable), 4))


def _shown(record: dict, fmt: str, record_id: str | None = None) -> bytes:
    """The decision as a table, CSV or a workbook (JSON is written from its parts)."""
    from rules_engine.tell.render import decision_csv, decision_table

    if fmt == "xlsx":
        from rules_engine.rules.xlsx import decision_workbook

        return decision_workbook(record, record_id)
    text = decision_table(record) if fmt == "table" else decision_csv(record, fmt == "csv-excel", record_id)
    return text.encode("utf-8")


def _simulation_because(compiled, sets, simulate, spec: str) -> str:
    from rules_engine.api import named_by_path

    if named_by_path(spec) and not simulate:
        return f"named by its path: only '{compiled.id}' or '{compiled.id}@{compiled.version}' from the rules folder decides"
    if compiled.status == "draft":
        return f"{compiled.version} is a draft"
    return "parameters overridden" if sets else "asked with --simulate"


def _log_for(log_path, no_log):
    """The log to read approvals from and to append to; with --no-log, only an existing one, read-only."""
    from rules_engine.record.audit import default_path
    from rules_engine.record.audit_pg import is_postgres

    target = str(log_path or default_path())
    if no_log and not (is_postgres(target) or Path(target).exists()):
        return contextlib.nullcontext(None)
    if not no_log:
        return open_log(log_path, create=True)
    try:  # a dry run reads the approvals it would rely on, but does not fail on a log it cannot read
        return open_log(log_path, create=False)
    except RulesError as exc:
        click.echo(f"warning: {exc}; approvals are not read for this dry run", err=True)
        return contextlib.nullcontext(None)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid-{os.getuid()}"


def _open_output(output):
    """The --output file, opened for writing but not yet emptied; None for standard output."""
    if not output:
        return None
    try:
        return os.fdopen(os.open(output, os.O_WRONLY | os.O_CREAT, 0o644), "wb")
    except OSError as exc:
        raise RulesError(f"{output}: cannot write the output here: {exc.strerror or exc}; nothing was logged") from None


def _write_output(target, output, data: bytes | Iterable[bytes], entry, log_path) -> None:
    """Write ``data`` (bytes, or parts written one after the other as they come) to the --output file or standard
    output."""
    parts = [data] if isinstance(data, bytes) else data
    try:
        if target is None:
            sys.stdout.flush()  # what was printed as text before comes first
            stream = sys.stdout.buffer
            for part in parts:
                stream.write(part)
            stream.flush()
        else:
            with target:
                if stat.S_ISREG(os.fstat(target.fileno()).st_mode):  # a device or a pipe has nothing to cut
                    target.truncate(0)
                for part in parts:
                    target.write(part)
    except OSError as exc:
        if target is None:  # stdout is gone: do not let Python complain again at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        where = output or "standard output"
        logged = (f"the decision was logged as record {entry.seq} in {_log_name(log_path)}, but " if entry else "")
        hint = f"; print it again with 'rules show {entry.seq}' (do not evaluate again)" if entry else ""
        raise RulesError(f"{logged}writing it to {where} failed: {exc.strerror or exc}{hint}") from None


def _log_name(log_path) -> str:
    from rules_engine.record.audit import default_path
    from rules_engine.record.audit_pg import display, is_postgres

    name = str(log_path or default_path())
    return display(name) if is_postgres(name) else name


@main.command()
@click.argument("ruleset_id")
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path())
@click.option("--log", "log_path", type=click.Path(dir_okay=False), envvar="RULES_LOG",
              help="A decision log with a registry: list its published versions (and those withdrawn) instead.")
def versions(ruleset_id, rules_dir, log_path):
    """List the versions of a ruleset and their effective periods: the rules folder's, or, with --log (or
    RULES_LOG) naming a log that holds a registry, the registry's (which are the ones that decide)."""
    from rules_engine.api import list_versions
    from rules_engine.tell.render import table

    today = dt.date.today()
    found = _registry_versions(ruleset_id, log_path)
    if found is None:
        found = [(r, r.status) for r in list_versions(ruleset_id, rules_dir)]
    rows = [(r.version, status, r.effective_from, r.effective_to or "open-ended",
             "yes" if r.in_force(today) and status == "published" else "", r.label, r.title) for r, status in found]
    click.echo(table(["version", "status", "from", "to", "in force today", "file", "title"], rows,
                     fixed=(0, 1, 2, 3), optional=(5,)))


def _registry_versions(ruleset_id: str, log_path) -> list | None:
    """(ruleset, 'published' or 'withdrawn') of the registry of the log, or None if there is no log or no registry."""
    from rules_engine.policy import registry

    if not log_path or not (Path(log_path).exists() or "://" in str(log_path)):
        return None
    with open_log(log_path) as log:
        if not registry.has_registry(log):
            return None
        held = registry.registry(log).versions
        chosen = [p for (rid, _v), p in held.items() if rid == ruleset_id]
        if not chosen:
            registry.versions(log, ruleset_id)  # says what the registry holds
        return sorted(((registry.compiled(log, p), "withdrawn" if p.withdrawn else "published") for p in chosen),
                      key=lambda pair: (pair[0].effective_from, pair[0].version))


@main.group()
def report():
    """Reports over facts that need no ruleset."""


@report.command("fill")
@click.argument("facts", type=click.Path())
@click.option("--quarter", required=True, help="Quarter such as 2017Q4.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
def report_fill(facts, quarter, fmt):
    """Contingent, filled and vacant FTE and the fill rate for one quarter."""
    from rules_engine.decide.decision import to_json
    from rules_engine.tell.render import percent, table
    from rules_engine.tell.report import fill_report

    result = fill_report(facts, quarter)
    if fmt == "json":
        click.echo(to_json(result.as_dict()))
        return
    click.echo(table(["quarter", "applicants", "reporting", "contingent", "filled", "vacant", "fill rate"],
                     [(result.quarter, result.applicants, result.reporting, result.contingent_fte, result.filled_fte,
                       result.vacant_fte, percent(result.fill_rate))], right=(1, 2, 3, 4, 5, 6)))


@report.command("realisation")
@click.argument("ref")
@click.argument("settlements", type=click.Path(allow_dash=True))
@click.option("--base", help="The quarter the extra FTE are counted from (default: the last before the version's start).")
@click.option("--quarter", help="Only this quarter, such as 2018Q3.")
@click.option("--through", help="The settled quarters up to this one.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv", "csv-excel", "xlsx"]), default="table",
              show_default=True, help="csv: RFC 4180 for tools; csv-excel: ';', decimal commas, BOM, CRLF; "
              "xlsx: a workbook (needs -o).")
@click.option("--output", "-o", type=click.Path(), help="Write the report here instead of stdout.")
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True, help="Headings.")
@log_option
def report_realisation(ref, settlements, base, quarter, through, fmt, output, lang, log_path):
    """How far the growth path of decision REF was realised: per applicant with an allocation and settled quarter
    (SETTLEMENTS: quarterly contingent and filled FTE, as in the call's facts; YAML, JSON or a workbook), the extra
    FTE filled over the base quarter (at most the allocation, never below 0), per region and for the call, exactly.
    An applicant with no figures for a quarter is listed as missing, never as 0; the totals' shares are over those
    that reported. In a workbook the rates are numbers shown as percentages; the JSON has them exactly."""
    from rules_engine.api import realisation_report
    from rules_engine.decide.decision import to_json
    from rules_engine.tell import report as tell

    if quarter and through:
        raise click.UsageError("--quarter or --through, not both")
    if fmt == "xlsx" and not output:
        raise click.UsageError("--format xlsx writes a workbook: give it a file with -o realisatie.xlsx")
    target = _open_output(output)
    with open_log(log_path) as log:
        result = realisation_report(log, ref, settlements, base, quarter, through)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    if fmt == "json":
        shown = to_json(result.as_dict()) + "\n"
    elif fmt == "xlsx":
        shown = tell.realisation_workbook(result, lang)
    elif fmt == "table":
        shown = tell.realisation_table(result, lang) + "\n"
    else:
        shown = tell.realisation_csv(result, lang, excel=fmt == "csv-excel")
    _write_output(target, output, shown.encode("utf-8") if isinstance(shown, str) else shown, None, log_path)


@main.group()
def facts():
    """Facts files: convert between YAML, JSON and XLSX; a workbook template for a ruleset."""


@facts.command("convert")
@click.argument("source", type=click.Path(allow_dash=True))
@click.argument("target", type=click.Path())
def facts_convert(source, target):
    """Convert SOURCE to TARGET; the formats follow the extensions (.yaml, .json, .xlsx)."""
    from rules_engine.tell.convert import convert

    Path(target).write_bytes(convert(source, target))
    click.echo(f"wrote {target}", err=True)


@facts.command("template")
@click.argument("ruleset")
@click.option("--as-of", callback=parse_date, help="Picks the version in force (default: today).")
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path())
@click.option("--output", "-o", type=click.Path(), required=True, help="The workbook to write, e.g. call.xlsx.")
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True,
              help="The language of the columns' names, the example's note and the guide sheet.")
def facts_template(ruleset, as_of, rules_dir, output, lang):
    """Write an empty facts workbook for RULESET: per sheet the columns' names (row 1), an example that is not
    read (row 2), the names the engine reads (row 3); data from row 4; drop-downs for allowed values, number and
    date formats, and a sheet that explains every column."""
    from rules_engine.api import resolve
    from rules_engine.tell.convert import template

    compiled = resolve(ruleset, rules_dir, as_of or dt.date.today())
    Path(output).write_bytes(template(compiled, lang))
    click.echo(f"wrote {output} for {compiled.id} {compiled.version}", err=True)


@main.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path())
@click.option("--coverage", "with_coverage", is_flag=True,
              help="Also report, per rule, whether it was seen holding and not holding; fail on a published "
                   "version without tests, or with a rule not seen both ways.")
@click.option("--min-coverage", type=click.FloatRange(0, 100), default=100, show_default=True,
              help="With --coverage: the share (%) of the published rules that must be seen both ways.")
def test_cmd(paths, rules_dir, with_coverage, min_coverage):
    """Run the test cases in rules/<id>/tests/*.yaml (default: all under --rules-dir)."""
    from rules_engine.tell.explain import show as _show
    from rules_engine.tell.render import wrap
    from rules_engine.policy.testing import find_test_files, run_files

    files = find_test_files([Path(p) for p in paths] or [Path(rules_dir)])
    if not files and not with_coverage:
        click.echo(f"no test files found under {', '.join(paths) or rules_dir}", err=True)
        sys.exit(1)
    results = run_files(files, Path(rules_dir))
    for result in results:
        verdict = "ok" if result.passed else "ERROR" if result.error else "FAILED"
        click.echo(wrap(f"{result.file}: {result.name} [{result.ruleset}] ... {verdict}"))
        for line in result.error.splitlines():
            click.echo(wrap(f"  {line}"))
        for failure in result.failures:
            click.echo(wrap(f"  {failure.location}: {failure.subject}.{failure.key}: expected {_show(failure.expected)}, "
                            f"got {_show(failure.actual)}"))
            for line in failure.trace:
                click.echo(wrap(f"      {line}"))
    short = _coverage_report(results, paths, rules_dir, min_coverage) if with_coverage else False
    failed = sum(1 for r in results if not r.passed)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed or short or not results else 0)


def _coverage_report(results, paths, rules_dir, min_coverage) -> bool:
    """Print the coverage of every version in scope; True if the published ones fall short."""
    from rules_engine.api import validate_paths
    from rules_engine.tell.render import table, wrap
    from rules_engine.policy.testing import coverage, untested

    scope = [Path(p).parent.parent if Path(p).is_file() else Path(p) for p in paths] or [Path(rules_dir)]
    rulesets = validate_paths(scope).rulesets
    rows = coverage(results, rulesets)
    click.echo(table(["ruleset", "version", "status", "rule", "held", "not held"],
                     [(c.ruleset.id, c.ruleset.version, c.ruleset.status, c.rule, "yes" if c.held else "NO",
                       "yes" if c.not_held else "-" if c.kind in ("step", "derived") else "NO") for c in rows]))
    published = [c for c in rows if c.ruleset.status == "published"]
    share = 100 * sum(c.covered for c in published) / len(published) if published else 100.0
    missing = untested(results, rulesets)
    for ruleset in missing:
        click.echo(wrap(f"coverage: {ruleset.id} {ruleset.version} is published and has no test case ({ruleset.label})"))
    for c in published:
        if not c.covered:
            click.echo(wrap(f"coverage: {c.missing()}"))
    click.echo(wrap(f"coverage: {share:.1f}% of the rules, caps, steps and derived values of published versions "
                    f"reached both ways (steps and derived values: once) (at least {min_coverage:g}% required)"))
    return bool(missing) or share < min_coverage


@main.command()
@click.argument("old")
@click.argument("new_or_facts", required=False)
@click.argument("facts", required=False)
@click.option("--as-of", callback=parse_date, help="Decision date (default: today); also picks versions of bare ids.")
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path())
@click.option("--set", "sets", multiple=True, callback=parse_sets, metavar="NAME=VALUE",
              help="Overrides for NEW (or for OLD itself when only OLD and FACTS are given).")
@click.option("--from-log", is_flag=True, help="Backtest: re-run NEW (or OLD with --set) on every official call of "
              "OLD (an id or id@version) in the log, from its stored facts, against the text that decided it.")
@click.option("--since", callback=parse_date, help="With --from-log: calls decided as of this date or later.")
@click.option("--until", callback=parse_date, help="With --from-log: calls decided as of this date or earlier.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@log_option
def diff(old, new_or_facts, facts, as_of, rules_dir, sets, from_log, since, until, fmt, log_path):
    """Impact of a change: OLD NEW FACTS, or OLD FACTS --set NAME=VALUE; with --from-log, OLD [NEW] on the logged
    official calls of OLD.

    OLD and NEW are rule files, ids (the version in force) or id@version.
    """
    from rules_engine.api import resolve
    from rules_engine.decide.decision import to_json
    from rules_engine.policy.diff import as_dict, impact
    from rules_engine.tell.render import diff_table

    if from_log:
        return _backtest(old, new_or_facts, facts, rules_dir, sets, since, until, fmt, log_path)
    as_of = as_of or dt.date.today()
    if new_or_facts is None:
        raise click.UsageError("give OLD NEW FACTS, or OLD FACTS with at least one --set (or OLD [NEW] --from-log)")
    if facts is None:
        if not sets:
            raise click.UsageError("give OLD NEW FACTS, or OLD FACTS with at least one --set")
        new, facts = old, new_or_facts
    else:
        new = new_or_facts
    before = resolve(old, rules_dir, as_of)
    after = resolve(new, rules_dir, as_of, sets)
    result = impact(before, after, facts, as_of)
    if fmt == "json":
        click.echo(to_json(as_dict(result)))
        return
    click.echo(diff_table(result))


def _backtest(old, new, facts, rules_dir, sets, since, until, fmt, log_path):
    from rules_engine.api import backtest
    from rules_engine.decide.decision import to_json
    from rules_engine.tell.render import diff_table

    if facts is not None:
        raise click.UsageError("with --from-log the facts are the logged calls': give OLD [NEW], no FACTS")
    if new is None and not sets:
        raise click.UsageError("with --from-log, give OLD NEW, or OLD with at least one --set")
    with open_log(log_path) as log:
        runs = backtest(log, old, new, rules_dir, since, until, sets)
    if fmt == "json":
        click.echo(to_json({"calls": [run.as_dict() for run in runs]}))
        return
    for run in runs:
        click.echo(f"== record {run.seq} ({run.record_id}), as of {run.as_of.isoformat()}")
        click.echo(diff_table(run.impact) + "\n")
    changed = sum(1 for run in runs if run.impact.changed)
    click.echo(f"{len(runs)} official call{'s' if len(runs) != 1 else ''} re-run; {changed} with a changed outcome")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path(),
              help="The rules folder to check when no PATH is given.")
def lint(paths, rules_dir):
    """Publish-gate checks that need no facts (default: the rules folder)."""
    from rules_engine.api import validate_paths
    from rules_engine.errors import InputError as _InputError
    from rules_engine.policy.lint import lint_rulesets

    result = validate_paths(paths or [rules_dir])
    if result.problems:
        raise _InputError(result.problems)
    findings = lint_rulesets(result.rulesets)
    for finding in findings:
        click.echo(str(finding))
    click.echo(f"{len(findings)} finding(s) in {result.files} rule file(s)")
    sys.exit(1 if findings else 0)


@main.command("log")
@click.option("--ruleset", help="Only records of this ruleset id.")
@click.option("--since", callback=parse_date, help="Recorded on or after this date.")
@click.option("--until", callback=parse_date, help="Recorded before this date.")
@click.option("--all", "everything", is_flag=True, help="Simulations and approvals too, not only official decisions.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@log_option
def log_cmd(ruleset, since, until, everything, fmt, log_path):
    """List the official decisions of the log (--all: simulations and approvals too)."""
    from rules_engine.tell.render import table

    with open_log(log_path) as log:
        entries = [e for e in log.entries(ruleset, since and since.isoformat(), until and until.isoformat())
                   if everything or e.kind == "official"]
    if fmt == "json":
        from rules_engine.decide.decision import to_json
        from rules_engine.policy.replay import stored_format

        click.echo(to_json([{"seq": e.seq, "recorded_at": e.recorded_at, "kind": e.kind, "ruleset": e.ruleset_id,
                             "version": e.ruleset_version, "as_of": e.as_of, "decision_id": e.decision_id,
                             "applicants": e.applicants, "allocated_fte": Decimal(e.allocated_fte),
                             "evaluator": e.evaluator, "requested_by": e.requested_by,
                             "format": stored_format(e.head()) or "rules-decision/1"} for e in entries]))
        return
    rows = [(e.seq, e.recorded_at[:16].replace("T", " "), e.kind, e.ruleset_id, e.ruleset_version, e.as_of,
             e.decision_id[:12], e.applicants, e.allocated_fte, e.evaluator, e.requested_by or "") for e in entries]
    click.echo(table(["seq", "recorded (UTC)", "kind", "ruleset", "version", "as of", "decision", "applicants", "FTE",
                      "engine", "by"], rows, right=(0, 7, 8), fixed=(1, 2, 6, 10), optional=(9, 7, 5, 4)))


@main.command()
@click.argument("spec", metavar="RULESET@VERSION")
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path())
@click.option("--token", "secret", envvar="RULES_TOKEN", metavar="TOKEN",
              help="The approver's token (from 'rules token add NAME --role approver'; or set RULES_TOKEN): the "
                   "approval is made in the token's name.")
@click.option("--as", "who", metavar="NAME", hidden=True)
@click.option("--note", help="A note kept with the approval.")
@click.option("--idempotency-key", "key", metavar="KEY", help="Approve once: the same KEY again logs nothing new.")
@click.option("--sign-with", "sign_with", type=click.Path(), metavar="KEY",
              help="Sign the approval with your own key (from 'rules audit keygen NAME', NAME your token's name), so "
                   "that it counts where approvals must be signed (--allowed-signers).")
@log_option
def approve(spec, rules_dir, secret, who, note, key, sign_with, log_path):
    """Approve the exact text of a version (and its facts schema) as the holder of an approver token."""
    from rules_engine.api import Once, approve as run, approver, earlier, resolve

    if who is not None:
        raise click.UsageError("an approval is made by the holder of an approver token, never by a typed name: "
                               "pass --token (or set RULES_TOKEN); the record takes the token's name")
    if not secret:
        raise click.UsageError("an approval needs the approver's token: --token TOKEN or RULES_TOKEN")
    with open_log(log_path, create=True) as log:
        ruleset = resolve(spec, rules_dir, dt.date.today(), log=log)
        name = approver(log, secret)
        once = Once.of(name, key, {"spec": spec, "ruleset_sha256": ruleset.sha256, "note": note})
        signer = _read_key(sign_with, "signer") if sign_with else None
        entry = earlier(log, once) or run(log, ruleset, name, note, once, signer)
    click.echo(f"approved {ruleset.id} {ruleset.version} (rule text {ruleset.sha256[:16]}...) as {entry.requested_by}: "
               f"record {entry.seq} in {_log_name(log_path)}")


def _publisher(log, secret) -> str:
    from rules_engine.api import token_holder

    if not secret:
        raise click.UsageError("publishing needs a policy owner's token: --token TOKEN or RULES_TOKEN")
    return token_holder(log, secret, ("policy-owner", "admin"), "publishing", "publishes")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--token", "secret", envvar="RULES_TOKEN", help="A policy owner's token (or RULES_TOKEN).")
@click.option("--note", help="Why, kept with the publication.")
@log_option
def publish(paths, secret, note, log_path):
    """Publish rule files into the log's registry: from then on, every server using the log decides with these
    exact texts (ids and id@version are resolved from the registry, not from a rules folder). Only files that
    say 'status: published'; a published version's text never changes."""
    from rules_engine.api import validate_paths
    from rules_engine.policy.registry import publish as run, registry

    result = validate_paths(paths)
    if result.problems:
        raise InputError(result.problems)
    with open_log(log_path, create=True) as log:
        who = _publisher(log, secret)
        for ruleset in result.rulesets:
            before = registry(log).versions.get((ruleset.id, ruleset.version))
            entry = run(log, ruleset, who, ruleset.label, note)
            again = before is not None and not before.withdrawn and before.seq == entry.seq
            click.echo(f"{ruleset.id}@{ruleset.version} ({ruleset.label}): "
                       + (f"published already, as record {entry.seq}" if again else f"published as record {entry.seq}"))


@main.command("import")
@click.argument("folder", type=click.Path())
@click.option("--token", "secret", envvar="RULES_TOKEN", help="A policy owner's token (or RULES_TOKEN).")
@log_option
def import_cmd(folder, secret, log_path):
    """Seed the log's registry from a rules folder: every file that says 'status: published' is published
    (drafts are listed and left out)."""
    from rules_engine.api import validate_paths
    from rules_engine.policy.registry import publish as run

    result = validate_paths([folder])
    if result.problems:
        raise InputError(result.problems)
    with open_log(log_path, create=True) as log:
        who = _publisher(log, secret)
        for ruleset in sorted(result.rulesets, key=lambda r: (r.id, r.effective_from)):
            if ruleset.status != "published":
                click.echo(f"{ruleset.id}@{ruleset.version} ({ruleset.label}): a draft, left out")
                continue
            entry = run(log, ruleset, who, ruleset.label, f"imported from {folder}", figures=False)  # history as it was
            click.echo(f"{ruleset.id}@{ruleset.version} ({ruleset.label}): record {entry.seq}")


@main.command()
@click.argument("spec")
@click.option("--reason", required=True, help="Why the version no longer decides.")
@click.option("--token", "secret", envvar="RULES_TOKEN", help="A policy owner's token (or RULES_TOKEN).")
@log_option
def withdraw(spec, reason, secret, log_path):
    """Withdraw a published version (ID@VERSION) from the registry: it no longer decides; what it decided stays."""
    from rules_engine.policy.registry import withdraw as run

    ruleset_id, _, version = spec.partition("@")
    if not version:
        raise click.UsageError("name the version: ID@VERSION")
    with open_log(log_path, create=True) as log:
        entry = run(log, ruleset_id, version, _publisher(log, secret), reason)
    click.echo(f"{spec} withdrawn: record {entry.seq}")


@main.command()
@click.argument("folder", type=click.Path())
@click.option("--withdrawn", is_flag=True, help="Also the withdrawn versions.")
@log_option
def export(folder, withdrawn, log_path):
    """Write every published text back as files, byte for byte as they were published, in FOLDER/<id>/."""
    from rules_engine.policy.registry import export as run

    with open_log(log_path) as log:
        written = run(log, Path(folder), withdrawn)
    for path in written:
        click.echo(str(path))
    click.echo(f"{len(written)} file(s) written", err=True)


@main.command()
@click.argument("ruleset_id", required=False)
@log_option
def approvals(ruleset_id, log_path):
    """The approvals in the log: which exact text, by whom, when."""
    from rules_engine.tell.render import table

    with open_log(log_path) as log:
        rows = [(e.seq, e.recorded_at[:16].replace("T", " "), e.ruleset_id, e.ruleset_version, e.ruleset_sha256[:12],
                 e.requested_by or "", e.reason or "") for e in log.entries(ruleset_id) if e.kind == "approval"]
    click.echo(table(["seq", "recorded (UTC)", "ruleset", "version", "text sha256", "by", "note"], rows,
                     right=(0,), fixed=(1, 2, 3, 4, 5)))


@main.command()
@click.argument("ref")
@log_option
def show(ref, log_path):
    """Print one stored decision (by sequence number or decision id)."""
    with open_log(log_path) as log:
        entry = log.checked(log.get(ref))
    who = f", requested by {entry.requested_by}" if entry.requested_by else ""
    why = f" ({entry.reason})" if entry.reason else ""
    click.echo(f"record {entry.seq} ({entry.kind}) of {_log_name(log_path)}, recorded {entry.recorded_at}{who}{why}",
               err=True)
    click.echo(entry.text, nl=False)


@main.command()
@click.argument("ref", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every record of the log.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@log_option
def replay(ref, replay_all, fmt, log_path):
    """Recompute a logged decision from the stored texts and compare it byte for byte."""
    from rules_engine.policy.replay import replay_checked as run

    if bool(ref) == replay_all:
        raise click.UsageError("give a decision id or sequence number, or --all")
    with open_log(log_path) as log:
        entries = list(log.entries()) if replay_all else [log.get(ref)]
        results = []
        with click.progressbar(entries, label="replaying", file=sys.stderr,
                               show_pos=True) if replay_all else contextlib.nullcontext(entries) as bar:
            for entry in bar:
                results.append(run(log, entry))
    failed = [r for r in results if r.error]
    different = [r for r in results if not r.identical and not r.error]
    if fmt == "json":
        click.echo(json.dumps([_replay_json(r) for r in results], indent=2, default=str))
    else:
        for result in results if not replay_all else different + failed:
            click.echo(_replay_text(result))
        if replay_all:
            click.echo(f"{len(results) - len(different) - len(failed)} identical, {len(different)} different, "
                       f"{len(failed)} failed, of {len(results)} records")
    sys.exit(1 if different or failed else 0)


def _replay_json(result) -> dict:
    return {"seq": result.entry.seq, "decision_id": result.entry.decision_id, "identical": result.identical,
            "engine_version_then": result.entry.engine_version, "engine_version_now": __version__,
            "changes": [c.__dict__ for c in result.changes], "error": result.error or None}


def _replay_text(result) -> str:
    e = result.entry
    if result.error:
        return f"record {e.seq} ({e.decision_id[:16]}): FAILED: {result.error}"
    if result.identical:
        return f"record {e.seq} ({e.decision_id[:16]}): identical, byte for byte"
    lines = [f"record {e.seq} ({e.decision_id[:16]}): DIFFERENT"
             + (f" (engine {e.engine_version} then, {__version__} now)" if result.engine_changed else
                " (same engine version)")]
    lines += [f"  {c.applicant}: {c.field} {c.before} -> {c.after}" for c in result.changes]
    if not result.changes:
        lines.append("  (outcomes equal; the difference is in the trace or formatting)")
    return "\n".join(lines)


@main.command()
@click.argument("ref")
@click.argument("applicant", required=False)
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--for", "audience", type=click.Choice(["applicant", "auditor"]), default="applicant", show_default=True,
              help="applicant: a letter in plain words; auditor: every condition, value and step, exactly.")
@log_option
def explain(ref, applicant, lang, fmt, audience, log_path):
    """Explain a logged decision in plain language: to one APPLICANT a letter (or, --for auditor, every
    condition, value and step), or the whole call."""
    from rules_engine.api import explain_record
    from rules_engine.decide.decision import to_json
    from rules_engine.tell.explain import as_text
    from rules_engine.tell.letter import as_letter_text
    from rules_engine.tell.render import terminal_width

    with open_log(log_path) as log:
        result = explain_record(log, ref, applicant, lang, audience)
    if fmt == "json":
        click.echo(to_json(result))
    elif result.get("for") == "applicant":
        click.echo(as_letter_text(result, min(terminal_width(), 100)), nl=False)
    else:
        click.echo(as_text(result), nl=False)


@main.command()
@click.argument("ref")
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True, help="The PDF to write.")
@click.option("--applicant", "applicants", multiple=True, metavar="ID", help="Only this applicant (repeatable).")
@click.option("--lang", type=click.Choice(["nl", "en"]), default="nl", show_default=True)
@log_option
def letters(ref, output, applicants, lang, log_path):
    """The letters of a logged decision as one PDF to print or send, one letter from a new page: sender,
    addressee, date, reference, the statement of reasons, the legal basis and the appeal route. One PDF holds at
    most RULES_MAX_LETTERS letters (500 unless set); for a larger decision, ask for them by --applicant."""
    from rules_engine.api import letters_pdf

    with open_log(log_path) as log:
        pdf = letters_pdf(log, ref, lang, applicants)
    target = _open_output(output)
    _write_output(target, output, pdf, None, log_path)
    click.echo(f"wrote {output}", err=True)


@main.group()
def audit():
    """Tamper evidence of the decision log."""


@audit.command("verify")
@click.option("--head", "head", help="COUNT:HASH written down earlier (from `rules audit head`).")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(),
              help="A signed checkpoint (from `rules audit checkpoint`): the log must still hold its tree.")
@click.option("--public-key", help="The checkpoint's public key (its text, or a file holding it).")
@click.option("--allowed-signers", "allowed_signers", type=click.Path(), envvar="RULES_ALLOWED_SIGNERS",
              help="The approvers' public keys: every approval must carry its approver's signature by one of them.")
@log_option
def audit_verify(head, checkpoint_path, public_key, allowed_signers, log_path):
    """Recompute the hash chain and every stored text; exit 1 at the first bad record."""
    from rules_engine.api import unsigned_approvals
    from rules_engine.record.audit import parse_head
    from rules_engine.record.proofs import check_checkpoint

    expected = parse_head(head) if head else None
    note, key = _signed(checkpoint_path, public_key)
    allowed = _allowed(allowed_signers)
    with open_log(log_path) as log:
        count = log.verify(expected)
        current = log.head()
        point = check_checkpoint(log, note, key, checkpoint_path) if note is not None else None
        unsigned = unsigned_approvals(log, allowed) if allowed else []
    if unsigned:
        raise RulesError("approvals without their approver's signature by an allowed key: " + "; ".join(
            f"record {e.seq} (by {e.requested_by})" for e in unsigned) + " - a row anyone with the database can add")
    suffix = f"; it begins with the history of head {head.split(':')[0]}" if expected else ""
    if allowed:
        suffix += "; every approval is signed by its approver's allowed key"
    if point:
        suffix += f"; it holds the tree of {point.size} records signed by {key.name}" + (f" at {point.time}" if point.time else "")
    click.echo(f"ok: {count} records, chain and stored texts verified{suffix}; head {current[0]}:{current[1]}")


@audit.command("copy")
@click.argument("source")
@click.argument("target")
def audit_copy(source, target):
    """Copy a whole log (SQLite file or postgresql:// URL) into a new, empty one; the copy is verified."""
    from rules_engine.record.audit import DecisionLog, copy_log

    with DecisionLog(source, create=False) as src, DecisionLog(target, create=True) as dst:
        count = copy_log(src, dst)
        head = dst.head()
    click.echo(f"copied {count} records to {_log_name(target)}; it verifies; head {head[0]}:{head[1]}")


@audit.command("keygen")
@click.argument("name")
@click.option("-o", "--output", required=True, type=click.Path(), help="File for the signing key (made readable by you only).")
def audit_keygen(name, output):
    """Make an Ed25519 key pair for signing checkpoints of the log: NAME names the key (e.g. the signer's
    domain and the log, such as audit.example.org/rules-log). The signing key goes to a file of its own; the
    public key is printed, to be published. Keep the signing key away from whoever runs the database."""
    from rules_engine.record.checkpoint import BadNote, generate

    try:
        secret, public = generate(name)
    except BadNote as exc:
        raise InputError.at(Location(name), str(exc)) from None
    target = Path(output)
    if target.exists():
        raise InputError.at(Location(output), "exists already: a signing key is never overwritten")
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise InputError.at(Location(output), f"cannot write the signing key here: {exc.strerror or exc}") from None
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    click.echo(public)


@audit.command("sign-approval")
@click.argument("spec", metavar="RULESET@VERSION")
@click.option("--key", "key_path", required=True, type=click.Path(), help="Your signing key (from `rules audit keygen "
              "NAME`, NAME your token's name).")
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path())
@log_option
def audit_sign_approval(spec, key_path, rules_dir, log_path):
    """Print your signed note approving the exact text of RULESET@VERSION, to send with an approval over HTTP
    (`signature`): the server never holds your key."""
    from rules_engine.api import approval_statement, resolve
    from rules_engine.record.audit import DecisionLog, default_path

    key = _read_key(key_path, "signer")
    target = log_path or default_path()
    log = DecisionLog(target, create=False) if Path(str(target)).exists() or "://" in str(target) else None
    try:
        ruleset = resolve(spec, rules_dir, dt.date.today(), log=log)
    finally:
        if log is not None:
            log.close()
    click.echo(key.sign(approval_statement(ruleset, key.name)), nl=False)


def _allowed(path) -> tuple:
    """The allowed signers' public keys from their file, or () when none is given."""
    if not path:
        return ()
    from rules_engine.policy.signing import read_allowed  # cryptography: 20 ms of every evaluation otherwise

    return read_allowed(path)


def _read_key(path: str, kind: str):
    """A signing key from a file, or a public key from a file or given as its text."""
    from rules_engine.record.checkpoint import BadNote, signer, verifier

    text = path
    if kind == "signer" or Path(path).is_file():
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError.at(Location(path), f"cannot read the key: {exc.strerror if isinstance(exc, OSError) else exc}") from None
    try:
        return signer(text) if kind == "signer" else verifier(text)
    except BadNote as exc:
        raise InputError.at(Location(path if Path(path).is_file() or kind == "signer" else "--public-key"), str(exc)) from None


def _signed(checkpoint_path: str | None, public_key: str | None) -> tuple:
    """(the checkpoint's text, the public key to check it with), or (None, None) without --checkpoint."""
    if not checkpoint_path:
        return None, None
    if not public_key:
        raise click.UsageError("--checkpoint needs --public-key: whose signature is to be trusted")
    return _read_text(checkpoint_path), _read_key(public_key, "verifier")


def _read_text(path: str) -> str:
    try:
        return (sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError.at(Location(path), f"cannot read it: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise InputError.at(Location(path), "not UTF-8 text") from None


@audit.command("checkpoint")
@click.option("--key", "key_path", required=True, type=click.Path(), help="The signing key (from `rules audit keygen`).")
@click.option("--origin", help="The log's name in the checkpoint (default: the key's name).")
@log_option
def audit_checkpoint(key_path, origin, log_path):
    """Sign the log's Merkle tree as it is now: a C2SP checkpoint (origin, size, root, time) in a signed note."""
    from rules_engine.record.proofs import sign_checkpoint

    key = _read_key(key_path, "signer")
    with open_log(log_path) as log:
        log.verify()
        click.echo(sign_checkpoint(log, key, origin), nl=False)


@audit.command("prove")
@click.argument("ref")
@click.option("--checkpoint", "checkpoint_path", type=click.Path(), help="A signed checkpoint to prove against.")
@click.option("--public-key", help="The checkpoint's public key (its text, or a file holding it).")
@log_option
def audit_prove(ref, checkpoint_path, public_key, log_path):
    """A proof (JSON) that record REF is in the log's tree, to check without the log (`rules audit check-proof`)."""
    from rules_engine.record.proofs import inclusion_bundle

    note, key = _signed(checkpoint_path, public_key)
    with open_log(log_path) as log:
        entry = log.checked(log.get(ref))
        bundle = inclusion_bundle(log, entry, note, key)
    click.echo(json.dumps(bundle, indent=2, ensure_ascii=False))


@audit.command("check-proof")
@click.argument("proof")
@click.option("--public-key", required=True, help="The public key of the checkpoint's signer (text or file).")
def audit_check_proof(proof, public_key):
    """Check a proof from `rules audit prove` against its signed checkpoint, without the log."""
    from rules_engine.record.proofs import check_bundle

    text = _read_text(proof)
    try:
        bundle = json.loads(text)
    except ValueError as exc:
        raise InputError.at(Location(proof), f"not JSON: {exc}") from None
    shown = check_bundle(bundle, _read_key(public_key, "verifier"), proof)
    click.echo(f"ok: record {shown['record_id']} is record {bundle['leaf_index'] + 1} of the {shown['tree_size']} in "
               f"{shown['origin']}, as signed by {shown['signed_by']}" + (f" at {shown['time']}" if shown["time"] else ""))


@audit.command("consistency")
@click.argument("old_size", type=click.IntRange(0))
@log_option
def audit_consistency(old_size, log_path):
    """A proof (JSON) that the log's tree of OLD_SIZE records is the start of its tree now: for a witness that
    cosigned a checkpoint of OLD_SIZE (`rules audit witness`)."""
    from rules_engine.record.proofs import consistency_bundle

    with open_log(log_path) as log:
        log.verify()
        click.echo(json.dumps(consistency_bundle(log, old_size), indent=2))


@audit.command("witness")
@click.argument("checkpoint")
@click.option("--log-key", required=True, help="The public key the log's checkpoints are signed with (text or file).")
@click.option("--key", "key_path", required=True, type=click.Path(), help="The witness's own signing key.")
@click.option("--state", required=True, type=click.Path(dir_okay=False),
              help="The file where this witness keeps the last checkpoint it cosigned (made on first use).")
@click.option("--proof", "proof_path", type=click.Path(), help="`rules audit consistency N` of the log, N the size of "
              "the checkpoint in --state.")
def audit_witness(checkpoint, log_key, key_path, state, proof_path):
    """Cosign CHECKPOINT as a witness, and print it with the witness's signature: only when the log signed it and
    it extends the last checkpoint this witness cosigned; a log that shows two histories is refused (exit 1)."""
    from rules_engine.record.proofs import witness

    note = _read_text(checkpoint)
    seen = _read_text(state) if Path(state).exists() else None
    proof = None
    if proof_path:
        try:
            proof = json.loads(_read_text(proof_path))
        except ValueError as exc:
            raise InputError.at(Location(proof_path), f"not JSON: {exc}") from None
    cosigned = witness(note, _read_key(log_key, "verifier"), _read_key(key_path, "signer"), seen, proof, checkpoint)
    Path(state).write_text(note, encoding="utf-8")
    click.echo(cosigned, nl=False)


@audit.command("head")
@log_option
def audit_head(log_path):
    """Print COUNT:HASH of the log's last record, for an auditor to write down."""
    with open_log(log_path) as log:
        count, digest = log.head()
    click.echo(f"{count}:{digest}")


LOOPBACK = ("127.0.0.1", "::1", "localhost")
SERVE_SETTINGS = ("host", "port", "rules_dir", "workers", "time_limit", "max_body", "require_approvals",
                  "allowed_signers", "checkpoint_key", "checkpoint_every", "header_timeout", "keep_alive", "max_connections", "heavy_requests", "log")


def _serve_config(ctx, _param, path):
    """Read ``rules serve --config FILE`` into the command's defaults; a setting it does not know is an error
    naming it and the file (no_auth is never read from a file: it is typed, or not at all)."""
    if not path:
        return
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the same parser, as the tomli package
        import tomli as tomllib

    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise InputError.at(Location(path), f"cannot read it: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        import re
        at = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = Location(path, int(at.group(1)), int(at.group(2))) if at else Location(path)
        raise InputError.at(where, f"not TOML: {str(exc).split(' (at line')[0]}") from None
    values = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in SERVE_SETTINGS:
            from rules_engine.errors import did_you_mean
            raise InputError.at(Location(path), f"unknown setting '{key}'{did_you_mean(name, list(SERVE_SETTINGS))}; "
                                f"the settings: {', '.join(SERVE_SETTINGS)}")
        values["log_path" if name == "log" else name] = value
    ctx.default_map = {**(ctx.default_map or {}), **values}


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--rules-dir", default="rules", show_default=True, type=click.Path())
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="Worker processes.")
@click.option("--time-limit", default=30.0, show_default=True, type=click.FloatRange(0.1, 3600),
              help="Seconds a request may compute before it is stopped (503).")
@click.option("--max-body", default=64, show_default=True, type=click.IntRange(1, 512), help="Largest body, in MB.")
@click.option("--no-auth", is_flag=True, help="Every request is an admin: for local experiments on a loopback host only.")
@click.option("--require-approvals", type=click.IntRange(0, 100), default=0, envvar="RULES_REQUIRE_APPROVALS",
              show_default=True, help="An official decision needs this many approvals of the exact rule text.")
@click.option("--allowed-signers", "allowed_signers", type=click.Path(dir_okay=False), envvar="RULES_ALLOWED_SIGNERS",
              help="The approvers' public keys, one per line: only approvals signed by one of them count.")
@click.option("--checkpoint-key", "checkpoint_key", type=click.Path(dir_okay=False), envvar="RULES_CHECKPOINT_KEY",
              help="The log's signing key (from `rules audit keygen`): the server signs checkpoints of the log's tree "
                   "as it grows (GET /v1/audit/checkpoint).")
@click.option("--checkpoint-every", default=60.0, show_default=True, type=click.FloatRange(1, 86400),
              help="Seconds between two checkpoints the server signs (only when the log has grown).")
@click.option("--header-timeout", default=10.0, show_default=True, type=click.FloatRange(0.5, 300),
              help="Seconds a connection has to send a whole request head; then it is closed.")
@click.option("--keep-alive", default=5, show_default=True, type=click.IntRange(1, 300),
              help="Seconds an idle connection is kept open after a response.")
@click.option("--max-connections", default=2000, show_default=True, type=click.IntRange(1, 100_000),
              help="Open connections per worker beyond which requests are answered 503.")
@click.option("--heavy-requests", default=2, show_default=True, type=click.IntRange(1, 64),
              help="Calls of 1 MB or more decided at once per worker, each in a process the time limit stops; "
                   "one more is answered 503 with Retry-After.")
@log_option
@click.option("--config", type=click.Path(dir_okay=False), is_eager=True, expose_value=False, callback=_serve_config,
              help="A TOML file of these settings (host = \"0.0.0.0\", workers = 4, log = \"postgresql://...\", "
                   "...); an option given on the command line wins.")
def serve(host, port, rules_dir, workers, time_limit, max_body, no_auth, require_approvals, allowed_signers,
          checkpoint_key, checkpoint_every, header_timeout, keep_alive, max_connections, heavy_requests, log_path):
    """Serve the engine over HTTP: API v1, docs at /docs, OpenAPI at /openapi.json."""
    import uvicorn

    if no_auth and host not in LOOPBACK:
        raise click.UsageError("--no-auth is only allowed with a loopback --host (127.0.0.1, ::1, localhost)")
    if no_auth:
        click.echo("warning: --no-auth: every request is treated as an admin; never expose this server", err=True)
    from rules_engine.record.audit import default_path

    from rules_engine.record.audit_pg import is_postgres

    target = str(log_path or default_path())
    _warn_password(target)
    from rules_engine.api import list_rulesets

    _allowed(allowed_signers)  # a bad file stops the start, with its line
    if checkpoint_key:
        _read_key(checkpoint_key, "signer")  # likewise a key that cannot sign
    try:
        list_rulesets(rules_dir)
    except RulesError as exc:  # the server starts, and says so in /readyz; that ruleset decides nothing
        click.echo(f"warning: {exc}; /readyz answers 503 until it is fixed", err=True)
    os.environ.update({"RULES_SERVE_RULES_DIR": str(Path(rules_dir).resolve()),
                       "RULES_LOG": target if is_postgres(target) else str(Path(target).resolve()),
                       "RULES_SERVE_TIME_LIMIT": str(time_limit), "RULES_SERVE_MAX_BODY": str(max_body << 20),
                       "RULES_SERVE_NO_AUTH": "1" if no_auth else "0", "RULES_REQUIRE_APPROVALS": str(require_approvals),
                       "RULES_SERVE_HEADER_TIMEOUT": str(header_timeout), "RULES_SERVE_HEAVY": str(heavy_requests),
                       "RULES_ALLOWED_SIGNERS": str(Path(allowed_signers).resolve()) if allowed_signers else "",
                       "RULES_CHECKPOINT_KEY": str(Path(checkpoint_key).resolve()) if checkpoint_key else "",
                       "RULES_CHECKPOINT_EVERY": str(checkpoint_every)})
    _no_delay_on_listening_sockets(uvicorn)
    _more_open_files(max_connections * workers + 256)
    from rules_service.protocol import HeaderDeadline

    uvicorn.run("rules_service.app:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="info", timeout_graceful_shutdown=5, http=HeaderDeadline, timeout_keep_alive=keep_alive,
                limit_concurrency=max_connections, access_log=False, log_config=_log_config())


@main.command("init")
@click.argument("folder", type=click.Path(file_okay=False))
def init(folder):
    """Write a working folder: FOLDER/rules (the shipped rulesets, with their tests) and FOLDER/examples (calls to
    decide, the example policies); then run the commands from FOLDER. Nothing already there is overwritten."""
    import shutil

    shipped = Path(__file__).resolve().parent
    target = Path(folder)
    written = 0
    for part in ("rules", "examples"):
        for source in sorted((shipped / part).rglob("*")):
            if not source.is_file() or source.suffix not in (".yaml", ".md") or "__pycache__" in source.parts:
                continue
            destination = target / source.relative_to(shipped)
            if destination.exists():
                continue
            try:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, destination)
            except OSError as exc:
                raise InputError.at(Location(str(destination)), f"cannot write it: {exc.strerror or exc}") from None
            written += 1
    if not (shipped / "rules").is_dir():
        raise RulesError("this installation holds no shipped rulesets (reinstall the package)")
    click.echo(f"wrote {written} files under {target}; now: cd {target} && rules evaluate sheltered-workshops "
               "examples/sheltered-workshops-2018.yaml --as-of 2018-06-20")


@main.group("config")
def config_group():
    """The service's settings."""


@config_group.command("show")
@click.option("--config", "path", type=click.Path(dir_okay=False), help="The TOML file `rules serve --config` reads.")
def config_show(path):
    """The settings `rules serve --config FILE` would start with, each with where it comes from: the environment,
    then the file, then the default (an option typed on the command line wins over all three). Passwords in the
    log's URL are masked."""
    import json

    from rules_engine.record.audit_pg import display, is_postgres

    from rules_engine.record.audit import default_path

    ctx, plain = click.Context(serve), click.Context(serve)
    _serve_config(ctx, None, path)
    from_file = ctx.default_map or {}
    for param in serve.params:
        setting = "log" if param.name == "log_path" else param.name
        if not isinstance(param, click.Option) or setting not in SERVE_SETTINGS:
            continue
        names = [param.envvar] if isinstance(param.envvar, str) else list(param.envvar or [])
        env = next((name for name in names if os.environ.get(name)), None)
        if env:
            value, source = param.type_cast_value(plain, os.environ[env]), f"from {env}"
        elif param.name in from_file:
            value, source = from_file[param.name], f"from {path}"
        else:
            value, source = param.get_default(plain), "default"
        if not isinstance(value, (str, int, float, bool)):  # no default: click's 'unset'
            value = None
        if setting == "log" and not value:
            value = str(default_path())
        if setting == "log" and value and is_postgres(str(value)):
            value = display(str(value))
        click.echo(f"{setting} = {json.dumps(value)}  # {source}")


def _log_config() -> dict:
    """uvicorn's logging, and the service's own: one JSON line per request (rules.access) on stderr."""
    import copy

    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["formatters"]["plain"] = {"format": "%(message)s"}
    config["handlers"]["rules"] = {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}
    config["loggers"]["rules"] = {"handlers": ["rules"], "level": "INFO", "propagate": False}
    return config


def _more_open_files(wanted: int) -> None:
    """Raise the soft limit of open files towards ``wanted`` (within the hard limit): each connection is one."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def _no_delay_on_listening_sockets(uvicorn) -> None:
    """TCP_NODELAY on the socket that several workers share.

    With --workers > 1 uvicorn binds the socket itself, with protocol 0, and asyncio then leaves
    Nagle's algorithm on for the connections it accepts: every response waited about 40 ms for a
    delayed ACK (measured: 44 ms for /healthz against 1 ms with one worker). Accepted sockets inherit
    TCP_NODELAY from the listening socket on Linux.
    """
    import socket

    bind = uvicorn.Config.bind_socket

    def bind_socket(config):
        sock = bind(config)
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    uvicorn.Config.bind_socket = bind_socket


@main.group()
def token():
    """Bearer tokens of the service (stored as hashes in the decision log's database)."""


@token.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice(["evaluator", "policy-owner", "approver", "auditor", "admin"]))
@log_option
def token_add(name, role, log_path):
    """Make a token: it is printed once, alone on a line; only its hash is kept."""
    from rules_engine.record.audit import TokenStore

    with open_log(log_path, create=True) as log:
        secret = TokenStore(log).add(name, role)
    click.echo(f"token '{name}' ({role}) added to {_log_name(log_path)}; it is shown this once:", err=True)
    click.echo(secret)


@token.command("list")
@log_option
def token_list(log_path):
    """The tokens: name, role, created, revoked."""
    from rules_engine.record.audit import TokenStore
    from rules_engine.tell.render import table

    with open_log(log_path) as log:
        rows = [(t.name, t.role, t.created_at, t.revoked_at or "") for t in TokenStore(log).all()]
    click.echo(table(["name", "role", "created (UTC)", "revoked (UTC)"], rows))


@token.command("revoke")
@click.argument("name")
@log_option
def token_revoke(name, log_path):
    """Revoke a token: requests with it get 401 from now on."""
    from rules_engine.record.audit import TokenStore

    with open_log(log_path, create=True) as log:
        TokenStore(log).revoke(name)
    click.echo(f"token '{name}' revoked")


if __name__ == "__main__":
    main()
