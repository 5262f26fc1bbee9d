"""Is the worker that claimed a task still there?

Two questions, answered differently:

* A worker on this machine is alive exactly when its process is: same host
  name, boot and PID namespace (containers sharing a host name do not share
  PIDs), a process with its PID, started at the same instant (so a PID reused
  after the worker died is not taken for it). Its heartbeat age does not
  matter — a live process with a slow heartbeat is slow, not dead.
* A worker elsewhere can only be judged by its heartbeat. Comparing the
  heartbeat's timestamp with this machine's wall clock would recover live
  tasks whenever either clock jumps or the two disagree, so the age is
  measured here, on a monotonic clock, from the moment this process saw the
  heartbeat change (:class:`HeartbeatWatch`).
"""

from __future__ import annotations

import os
import socket
import time
from functools import lru_cache


@lru_cache(maxsize=1)
def boot_id() -> str:
    """An id of this boot of this machine ('' where the system does not say)."""
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


@lru_cache(maxsize=1)
def pid_namespace() -> str:
    """The PID namespace of this process ('' where the system does not say)."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


def process_start(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (None if unknown)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def this_process() -> dict[str, object]:
    """What a task record keeps of the worker process that claimed it."""
    pid = os.getpid()
    return {
        "host": socket.gethostname(),
        "boot": boot_id(),
        "pidns": pid_namespace(),
        "pid": pid,
        "started": process_start(pid),
    }


def same_machine(worker: dict, node: str | None = None) -> bool:
    """Whether ``worker``'s PID can be checked here (same host, boot and PID namespace).

    ``node`` is this host's configured identity (MEDIACRAFT_NODE_ID): two
    nodes are two hosts even when they share a machine.
    """
    if worker.get("host") != (node or socket.gethostname()):
        return False
    for key, here in (("boot", boot_id()), ("pidns", pid_namespace())):
        theirs = worker.get(key)
        if theirs and here and theirs != here:
            return False
    return True


def process_alive(pid: int, started: str | None = None) -> bool:
    """True if process ``pid`` exists (and, when ``started`` is known, is that same process)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if started:
        now = process_start(pid)
        if now is not None and now != started:
            return False  # the PID was reused by another process
    return True


class HeartbeatWatch:
    """Ages of other machines' heartbeats, measured on this process's monotonic clock."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[object, float]] = {}

    def age(self, task_id: str, beat: object, now: float | None = None) -> float:
        """Seconds since this process first saw ``beat`` as the task's heartbeat."""
        now = time.monotonic() if now is None else now
        seen = self._seen.get(task_id)
        if seen is None or seen[0] != beat:
            self._seen[task_id] = (beat, now)
            return 0.0
        return now - seen[1]

    def forget_except(self, task_ids: set[str]) -> None:
        for task_id in list(self._seen):
            if task_id not in task_ids:
                del self._seen[task_id]


__all__ = ["HeartbeatWatch", "boot_id", "process_alive", "process_start", "same_machine"]
