"""Run a command; write its wall time, peak memory and processor time to a file. From a small process, so that the peak is the
command's own.

    python bench/peak.py REPORT COMMAND [ARG ...]

Linux counts into a child's peak resident set the pages of the process it was forked from, up to its exec: a
command started by the benchmark itself, which holds the calls it generated, would report the benchmark's size
(a plain-Python script of 144 MB read as 303 MB). Started from here, it is forked from a process of a few MB. The
peak is that of the largest process of the command (a copy it forks counts apart, not added); the processor
time is the command's and its copies', added (on a shared machine, it drifts less than the wall time).
"""
import os
import sys
import time

report, command = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
elapsed = time.perf_counter() - start
with open(report, "w") as out:
    out.write(f"{elapsed} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime}\n")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
