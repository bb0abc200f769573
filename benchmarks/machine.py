"""CPU accounting from Linux's /proc, to tell the experiment's cost from other processes' noise.

On a two-core machine a test suite running next to the benchmark halves its requests/s
for a while; CPU time per request, and the share of the machine used by processes outside
the benchmark, show when that happened. Where /proc is missing these figures are skipped.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass
from pathlib import Path

from django.db import connection

PROC = Path("/proc")


@dataclass(frozen=True)
class CpuSnapshot:
    # CPU seconds all cores have spent busy (not idle, not waiting, not stolen) since boot.
    machine_busy: float
    # {pid: CPU seconds it has used} of the processes being watched.
    processes: dict

    @classmethod
    def take(cls, pids):
        """A snapshot of the machine and of ``pids``; None where /proc is not Linux's."""
        if not (PROC / "stat").exists():
            return None
        processes = {}
        for pid in pids:
            with contextlib.suppress(FileNotFoundError):  # a process that just exited
                processes[pid] = process_cpu_seconds(pid)
        return cls(machine_busy=_machine_busy_seconds(), processes=processes)

    def used_since(self, earlier, pids=None):
        """CPU seconds ``pids`` (default: every watched process) used since ``earlier``.

        Counted per pid, so a process started meanwhile counts from zero."""
        pids = self.processes if pids is None else pids
        return sum(
            self.processes[pid] - earlier.processes.get(pid, 0.0)
            for pid in pids
            if pid in self.processes
        )


def process_cpu_seconds(pid):
    # Fields after the command name, which may itself hold spaces and parentheses;
    # utime and stime are the 14th and 15th fields of the whole line. A process's line
    # adds up all of its threads.
    fields = (PROC / str(pid) / "stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid):
    children = PROC / str(pid) / "task" / str(pid) / "children"
    return [int(child) for child in children.read_text().split()] if children.exists() else []


def postgres_backend_pids():
    """Pids of the PostgreSQL backends connected to the benchmark's database, where the
    server runs on this machine (a pid that is not a local postgres process is left out)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        pids = [pid for (pid,) in cursor.fetchall()]
    return [pid for pid in pids if _command_name(pid) == "postgres"]


def _command_name(pid):
    try:
        return (PROC / str(pid) / "comm").read_text().strip()
    except OSError:
        return None


def _machine_busy_seconds():
    # First line: "cpu  user nice system idle iowait irq softirq steal ...", in clock ticks.
    user, nice, system, _idle, _iowait, irq, softirq = (
        int(value) for value in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:8]
    )
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds each group of processes used while an action ran, and everyone else's."""

    wall_seconds: float
    groups: dict
    others: float

    def per(self, count):
        """Milliseconds of CPU per ``count`` (requests, say), by group."""
        return {name: seconds * 1000 / count for name, seconds in self.groups.items()}

    def others_share(self):
        return self.others / (self.wall_seconds * os.cpu_count())


def cpu_use_during(groups, action):
    """``(action(), CpuUse)``, ``groups`` being {name: pids}; the CpuUse is None where /proc
    cannot be read."""
    pids = [pid for group in groups.values() for pid in group]
    before = CpuSnapshot.take(pids)
    started = time.monotonic()
    result = action()
    wall_seconds = time.monotonic() - started
    after = CpuSnapshot.take(pids)
    if before is None or after is None:
        return result, None
    used = {name: after.used_since(before, group) for name, group in groups.items()}
    others = max(0.0, after.machine_busy - before.machine_busy - sum(used.values()))
    return result, CpuUse(wall_seconds=wall_seconds, groups=used, others=others)
