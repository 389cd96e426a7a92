"""The supervisor: binds the public port, forks the workers, restarts one that dies with the
same index (so the same rooms), and stops them all on SIGTERM or SIGINT.

It holds no event loop and no thread, so forking (again, for a restart) is safe. Workers die
with it (`PR_SET_PDEATHSIG`): a supervisor killed outright is a crash of the whole server, and
the port is free for the next start at once.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from justmaily.server.metrics import exposition
from justmaily.server.workers.channels import Channels, channel_mesh

STARTUP_FAILURE = 3  # uvicorn's exit code for a server that could not start
_QUICK_DEATH_SECONDS = 10.0  # a worker dying this soon after its start counts towards giving up
_QUICK_DEATHS_TO_GIVE_UP = 5
_PR_SET_PDEATHSIG = 1
log = structlog.get_logger(__name__)

# What a worker runs: given its listener, its channels and a callback for "accepting now";
# returns the process's exit code.
RunWorker = Callable[[socket.socket, Channels, Callable[[], None]], int]


def default_workers() -> int:
    """One worker per core this process may run on: the cores it is pinned to, fewer where a
    container's CPU limit (cgroup v2 `cpu.max`) allows less."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    limit = _cgroup_cpu_limit(Path("/sys/fs/cgroup/cpu.max"))
    return max(1, min(cores, limit)) if limit is not None else cores


def _cgroup_cpu_limit(cpu_max: Path) -> int | None:
    """Whole cores allowed by `cpu.max` ("max 100000" or "150000 100000"), rounded up."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def bind(host: str, port: int) -> socket.socket:
    """The shared listening socket; OSError if the address is taken or not ours."""
    family, kind, proto, _name, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            listener.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        # The kernel hands over a connection once its first bytes are there: the request line
        # can be peeked at once (worker.py).
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 5)
        listener.bind(address)
        listener.listen(4096)
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    listener.setblocking(False)
    return listener


@dataclass
class _Child:
    index: int
    pid: int
    started_at: float
    ready: bool = False


@dataclass
class Supervisor:
    workers: int
    listener: socket.socket
    run_worker: RunWorker
    on_all_ready: Callable[[], None]
    _children: dict[int, _Child] = field(default_factory=dict)  # by pid
    _stopping: bool = False
    _announced: bool = False
    _quick_deaths: int = 0

    def run(self) -> int:
        """Until stopped; returns the exit code (STARTUP_FAILURE if no worker ever started)."""
        mesh = channel_mesh(self.workers)
        ready_read, ready_write = os.pipe()
        os.set_blocking(ready_read, False)
        for index in range(self.workers):
            self._fork(index, mesh, ready_write)
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while self._children:
                self._read_ready(ready_read)
                self._reap(mesh, ready_write)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            os.close(ready_read)
            os.close(ready_write)
        return 0 if self._announced else STARTUP_FAILURE

    def _fork(self, index: int, mesh: list[dict[int, socket.socket]], ready_write: int) -> None:
        parent = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                _die_with(parent)
                os.setpgid(0, 0)  # a terminal's Ctrl+C reaches the supervisor, which stops us in order
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                signal.signal(signal.SIGINT, signal.SIG_DFL)
                code = self.run_worker(
                    self.listener, Channels(index, mesh[index]), lambda: _tell(ready_write, index)
                )
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else 1
            except BaseException:
                log.exception("worker_crashed", worker=index)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        self._children[pid] = _Child(index, pid, time.monotonic())
        log.info("worker_started", worker=index, pid=pid)

    def _read_ready(self, ready_read: int) -> None:
        try:
            readable, _, _ = select.select([ready_read], [], [], 0.2)
        except InterruptedError:
            return
        if not readable:
            return
        try:
            indexes = os.read(ready_read, 256)
        except BlockingIOError:
            return
        for child in self._children.values():
            if child.index in indexes:
                child.ready = True
        if not self._announced and len([c for c in self._children.values() if c.ready]) == self.workers:
            self._announced = True
            self.on_all_ready()

    def _reap(self, mesh: list[dict[int, socket.socket]], ready_write: int) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self._children.clear()
                return
            if pid == 0:
                return
            child = self._children.pop(pid, None)
            if child is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            exposition.worker_exited(pid)  # its live gauges (connections) stop counting
            if self._stopping:
                log.info("worker_stopped", worker=child.index, pid=pid, code=code)
                continue
            log.error("worker_died", worker=child.index, pid=pid, code=code)
            if time.monotonic() - child.started_at < _QUICK_DEATH_SECONDS:
                self._quick_deaths += 1
                if self._quick_deaths >= _QUICK_DEATHS_TO_GIVE_UP or not self._announced:
                    log.error("workers_keep_failing", deaths=self._quick_deaths)
                    self._stop()
                    continue
                time.sleep(0.5 * self._quick_deaths)  # crashing at start: do not spin
            self._fork(child.index, mesh, ready_write)

    def _stop(self, *_signal: object) -> None:
        """Ask every worker to finish (uvicorn's graceful shutdown: rooms store what they hold)."""
        self._stopping = True
        for pid in list(self._children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)


def _tell(ready_write: int, index: int) -> None:
    """A worker accepts connections now."""
    os.write(ready_write, bytes([index]))


def _die_with(parent: int) -> None:
    """Have the kernel kill this process when the supervisor dies (Linux)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)
