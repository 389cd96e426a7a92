"""What a server uses, read from /proc: CPU time and memory of a process and of its children
(a supervisor's workers, the sender's signing process), so several processes count as one server."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def _children(pid: int) -> list[int]:
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads, proc(5): fields 14 and 15) and
    of its live child processes."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    for child in _children(pid):
        with contextlib.suppress(FileNotFoundError):  # it may have ended since
            total += cpu_seconds(child)
    return total


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


def rss_kib(pid: int, *, children: bool = True) -> int:
    """Resident memory of a process and (unless not wanted) its live child processes."""
    total = _status_kib(pid, "VmRSS")
    for child in _children(pid) if children else []:
        with contextlib.suppress(FileNotFoundError):
            total += rss_kib(child)
    return total


def peak_rss_kib(pid: int) -> int:
    """The process's own peak resident memory (children not included: the kernel keeps no sum)."""
    return _status_kib(pid, "VmHWM")
