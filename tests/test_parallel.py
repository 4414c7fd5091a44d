"""A large record's decisions written by several processes at once (decide/parallel.py): the same bytes, whatever
happens to the processes."""
from __future__ import annotations

import os
import threading
import time

import pytest

from rules_engine.decide import decision as D
from rules_engine.decide import parallel
from rules_engine.decide.parallel import spans, written

from conftest import example


@pytest.fixture
def alone(monkeypatch):
    """As if no other thread ran: earlier tests of the suite leave servers' threads behind, which the forked
    copies of these tests never touch."""
    monkeypatch.setattr(parallel.threading, "active_count", lambda: 1)


@pytest.mark.parametrize("n, jobs, least, expected", [
    (100, 2, 10, [(0, 50), (50, 100)]),
    (100, 3, 10, [(0, 33), (33, 66), (66, 100)]),
    (100, 4, 30, [(0, 33), (33, 66), (66, 100)]),  # at most n // least spans
    (59, 4, 20, [(0, 29), (29, 59)]),  # two spans of 20 and more, not three
    (39, 4, 20, [(0, 39)]),  # too few for two spans of 20: written here
    (60, 4, 20, [(0, 20), (20, 40), (40, 60)]),
    (0, 2, 10, [(0, 0)]),
    (5, 1, 1, [(0, 5)]),
    (5, 4, 1, [(0, 1), (1, 2), (2, 3), (3, 5)]),
])
def test_spans_cut_a_list_in_order(n, jobs, least, expected):
    assert spans(n, jobs, least) == expected


def lines(start: int, stop: int):
    """Parts as a writer gives them: a part per three items, each item's text depends on it alone."""
    for at in range(start, stop, 3):
        yield "".join(f"<{i}:{'x' * (i % 5)}>" for i in range(at, min(at + 3, stop))).encode()


EXPECTED = b"".join(f"<{i}:{'x' * (i % 5)}>".encode() for i in range(40))


@pytest.mark.parametrize("jobs", [1, 2, 3, 4, 7])
def test_the_same_bytes_with_any_number_of_processes(jobs, alone):
    assert b"".join(written(lines, 40, jobs, 5)) == EXPECTED


def test_this_process_writes_the_first_span_only(alone, monkeypatch):
    """The copies' spans are read from what they wrote, not written again here (nor is any copy signalled once
    it has finished)."""
    parent, here, signalled = os.getpid(), [], []

    def recording(start: int, stop: int):
        if os.getpid() == parent:
            here.append((start, stop))
        yield from lines(start, stop)
    monkeypatch.setattr(parallel.os, "kill", lambda *args: signalled.append(args))
    assert b"".join(written(recording, 40, 4, 5)) == EXPECTED
    assert here == [(0, 10)] and signalled == []


def test_a_copy_killed_midway_is_replaced_here(alone):
    """A copy stopped by a signal (the kernel's out-of-memory killer) leaves half a span behind: not read."""
    parent = os.getpid()

    def killed(start: int, stop: int):
        for index, part in enumerate(lines(start, stop)):
            if os.getpid() != parent and start >= 20 and index == 1:
                os.kill(os.getpid(), 9)
            yield part
    assert b"".join(written(killed, 40, 4, 5)) == EXPECTED


def test_a_process_that_fails_is_replaced_here(alone):
    parent = os.getpid()

    def failing(start: int, stop: int):
        if os.getpid() != parent and start >= 20:
            raise MemoryError("the copy ran out")
        yield from lines(start, stop)
    assert b"".join(written(failing, 40, 4, 5)) == EXPECTED


@pytest.mark.parametrize("broken", ["fork", "file"])
def test_no_process_or_no_file_to_spare_writes_it_here(monkeypatch, broken):
    def refuse(*args, **kwargs):
        raise OSError(11, "Resource temporarily unavailable")
    monkeypatch.setattr(parallel.os, "fork", refuse) if broken == "fork" else \
        monkeypatch.setattr(parallel.tempfile, "TemporaryFile", refuse)
    assert b"".join(written(lines, 40, 4, 5)) == EXPECTED


def test_a_reader_that_stops_early_leaves_no_process_behind(monkeypatch, alone):
    pids = []
    fork = os.fork

    def recording_fork():
        pid = fork()
        if pid:
            pids.append(pid)
        return pid
    monkeypatch.setattr(parallel.os, "fork", recording_fork)
    parent = os.getpid()

    def slow(start: int, stop: int):
        if os.getpid() != parent:
            time.sleep(20)  # a copy still at work when the reader stops: stopped, not waited for
        yield from lines(start, stop)
    began = time.monotonic()
    parts = written(slow, 40, 4, 5)
    next(parts)
    parts.close()
    assert time.monotonic() - began < 10
    assert len(pids) == 3
    for pid in pids:
        with pytest.raises(ChildProcessError):  # reaped: no longer a child of ours
            os.waitpid(pid, os.WNOHANG)


def test_no_fork_while_another_thread_runs(monkeypatch):
    def no_fork():
        raise AssertionError("forked beside a thread")
    monkeypatch.setattr(parallel.os, "fork", no_fork)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert b"".join(written(lines, 40, 4, 5)) == EXPECTED
    finally:
        stop.set()
        other.join()


def test_a_record_is_the_same_bytes_written_by_several_processes(runner, tmp_path, monkeypatch, alone):
    """The command line's JSON, with its decisions written by three processes, is the record one process writes
    (spans of at least 7 decisions, so that 55 workshops make several, each written in several parts)."""
    from rules_cli.cli import main

    monkeypatch.setattr(D, "SPAN", 7)
    monkeypatch.setattr(D, "FIRST", 3)
    monkeypatch.setattr(D, "PART", 1)
    forks = []
    fork = os.fork
    monkeypatch.setattr(parallel.os, "fork", lambda: forks.append(1) or fork())
    outputs = []
    for jobs in (None, "1", "2", "3"):
        out = tmp_path / f"jobs-{jobs}.json"
        result = runner.invoke(main, ["evaluate", "sheltered-workshops", str(example("sheltered-workshops")),
                                      "--as-of", "2018-06-20", "--format", "json", "--no-log", "-o", str(out)]
                               + (["--jobs", jobs] if jobs else []))
        assert result.exit_code == 0, result.output
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2] == outputs[3]
    assert len(forks) == 3  # one copy wrote with --jobs 2, two with --jobs 3; by default, and with 1, none
    assert outputs[0].count(b'\n    {"id":') == 55
