"""The mesh's engine: each task goes by its skill (the agent kind) to the least-loaded agent
whose breaker lets it through, with a timeout per try and tenacity's retries with backoff; an
agent that keeps failing has its breaker opened (breaker.py) and the next agent of the kind is
asked; when none answers, a reduced check runs in this process (`degraded`), and when even that
fails the verdict says `unavailable`. Nothing here ever raises into the caller: an agent's fault
is its verdict.

An agent is anything with an id, a kind and an async `run` answering an `AgentReport`'s shape
(checked here: an agent answering garbage fails like one that crashed). On SQLite the agents are
`InProcessAgent`s in every server process (docs/mesh.md).
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import anyio
import msgspec
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from justmaily.server.mesh.agents import process
from justmaily.server.mesh.agents.catalogue import KINDS, Analysis
from justmaily.server.mesh.agents.email import MAX_CHARACTERS, Email
from justmaily.server.mesh.breaker import Breaker, BreakerPolicy
from justmaily.server.metrics.instruments import MESH_AGENTS, MESH_IN_FLIGHT, MESH_TASK_SECONDS, MESH_TASKS
from justmaily.shared.mesh import (
    AgentKind,
    AgentReport,
    AgentStatus,
    BreakerState,
    Finding,
    Severity,
    Verdict,
    VerdictStatus,
)

log = structlog.get_logger(__name__)

TRUNCATED_MESSAGE = (
    f"the document is longer than {MAX_CHARACTERS:,} characters a text: only its beginning was checked"
)
DEGRADED_CHARACTERS = 20_000  # the reduced check reads only the beginning of each text
_LATENCIES = 50  # recent tasks kept per agent for its median


class Worker(Protocol):
    id: uuid.UUID
    kind: AgentKind

    async def run(self, email: Email) -> object:
        """The agent's answer: something shaped like an `AgentReport` (checked by the engine)."""
        ...


class InProcessAgent:
    """An agent of the server (no process of its own to start): one task at a time (more tasks
    queue, and count as its load), so the event loop never waits on it. With `processes`, the
    analysis runs in anyio's pool of worker processes, at most that limiter's worth at once:
    analyses are pure Python, and in a thread they would hold the GIL the rooms' event loop needs
    (docs/mesh.md, "Measured"); a timed-out task's worker process is killed, not left running.
    Without, in a worker thread."""

    def __init__(self, kind: AgentKind, processes: anyio.CapacityLimiter | None = None) -> None:
        self.id = uuid.uuid4()
        self.kind = kind
        self._processes = processes
        self._turn = anyio.Lock()

    async def run(self, email: Email) -> object:
        async with self._turn:
            if self._processes is not None:
                return await anyio.to_process.run_sync(
                    process.analyse, self.kind, email, cancellable=True, limiter=self._processes
                )
            report = await anyio.to_thread.run_sync(KINDS[self.kind].analyse, email, abandon_on_cancel=True)
            return msgspec.to_builtins(report)


@dataclass(frozen=True, slots=True)
class EnginePolicy:
    timeout: float = 10.0
    attempts: int = 2
    backoff_min: float = 0.05
    backoff_max: float = 1.0
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)


@dataclass(slots=True)
class AgentState:
    """What the engine knows of one agent; the registry writes it at every heartbeat."""

    worker: Worker
    breaker: Breaker
    load: int = 0
    completed: int = 0
    failed: int = 0
    started_at: float = field(default_factory=time.time)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=_LATENCIES))

    @property
    def latency_ms(self) -> float | None:
        return round(statistics.median(self.latencies) * 1000, 2) if self.latencies else None

    @property
    def status(self) -> AgentStatus:
        state = self.breaker.state
        if state is BreakerState.OPEN:
            return AgentStatus.DOWN
        if state is BreakerState.HALF_OPEN or self.breaker.failures:
            return AgentStatus.DEGRADED
        return AgentStatus.HEALTHY


def show_agents(engine: Engine) -> None:
    """The agents' count per kind and status, for metrics (at each heartbeat)."""
    counts = {(str(kind), str(status)): 0 for kind in KINDS for status in AgentStatus}
    for state in engine.agents.values():
        key = (str(state.worker.kind), str(state.status))
        counts[key] = counts.get(key, 0) + 1
    for (kind_name, status_name), count in counts.items():
        MESH_AGENTS.labels(kind_name, status_name).set(count)


class AgentError(Exception):
    """One try of one agent failed (timeout, crash, garbage): retried, then the next agent."""


class _BreakerOpenError(Exception):
    """The agent's breaker opened meanwhile: no more tries of it."""


class Engine:
    def __init__(
        self, policy: EnginePolicy | None = None, checks: Mapping[AgentKind, Analysis] | None = None
    ) -> None:
        """`checks`: the reduced in-process check of each kind (default: the kinds' analyses)."""
        self.policy = policy or EnginePolicy()
        self.checks = checks if checks is not None else {kind: spec.analyse for kind, spec in KINDS.items()}
        self.agents: dict[uuid.UUID, AgentState] = {}
        # The degraded checks take one thread at a time: they run when agents fail, often
        # because the machine is busy, and must not add to that without bound.
        self._degraded_turn = anyio.CapacityLimiter(1)

    def add(self, worker: Worker) -> AgentState:
        state = AgentState(worker, Breaker(self.policy.breaker))
        self.agents[worker.id] = state
        return state

    def remove(self, agent_id: uuid.UUID) -> None:
        self.agents.pop(agent_id, None)

    def candidates(self, kind: AgentKind) -> list[AgentState]:
        """The agents of `kind` a task may go to now, least loaded (then fastest) first."""
        allowed = [s for s in self.agents.values() if s.worker.kind == kind and s.breaker.allows()]
        return sorted(allowed, key=lambda s: (s.load, s.latency_ms or 0.0))

    async def analyse(self, kind: AgentKind, email: Email, revision: str) -> Verdict:
        verdict = await self._analyse(kind, email, revision)
        if email.truncated and verdict.status is not VerdictStatus.UNAVAILABLE:
            # Bounded work on a huge document: say what was left out, never pass it silently.
            note = Finding(rule="TRUNCATED", severity=Severity.WARNING, message=TRUNCATED_MESSAGE)
            verdict = msgspec.structs.replace(verdict, findings=[note, *verdict.findings])
        return verdict

    async def _analyse(self, kind: AgentKind, email: Email, revision: str) -> Verdict:
        reasons: list[str] = []
        for state in self.candidates(kind):
            try:
                report = await self._ask(state, email)
            except (AgentError, _BreakerOpenError) as exc:
                reasons.append(f"agent {state.worker.id}: {exc}")
                continue
            return Verdict(
                kind=kind,
                status=VerdictStatus.OK,
                revision=revision,
                findings=report.findings,
                metrics=report.metrics,
                agent=str(state.worker.id),
            )
        reason = "; ".join(reasons) if reasons else "no agent of this kind is up"
        return await self._degraded(kind, email, revision, reason)

    async def _ask(self, state: AgentState, email: Email) -> AgentReport:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts),
            wait=wait_exponential(min=self.policy.backoff_min, max=self.policy.backoff_max),
            retry=retry_if_exception_type(AgentError),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._try(state, email)
        raise AssertionError("tenacity returns or raises")  # pragma: no cover

    async def _try(self, state: AgentState, email: Email) -> AgentReport:
        if not state.breaker.allows():
            raise _BreakerOpenError("its breaker is open")
        state.breaker.started()
        state.load += 1
        kind = str(state.worker.kind)
        MESH_IN_FLIGHT.labels(kind).inc()
        started = time.monotonic()
        try:
            with anyio.fail_after(self.policy.timeout):
                answer = await state.worker.run(email)
            report = msgspec.convert(answer, AgentReport)
        except TimeoutError:
            self._failed(state)
            raise AgentError(f"no answer within {self.policy.timeout} s") from None
        except msgspec.ValidationError as exc:
            self._failed(state)
            raise AgentError(f"answered garbage ({exc})") from None
        except Exception as exc:  # whatever an agent does wrong is its failure, not the caller's
            self._failed(state)
            log.warning(
                "mesh_agent_failed", agent=str(state.worker.id), kind=str(state.worker.kind), error=repr(exc)
            )
            raise AgentError(f"failed ({type(exc).__name__})") from None
        finally:
            state.load -= 1
            MESH_IN_FLIGHT.labels(kind).dec()
        state.breaker.succeeded()
        state.completed += 1
        took = time.monotonic() - started
        state.latencies.append(took)
        MESH_TASKS.labels(kind, "ok").inc()
        MESH_TASK_SECONDS.labels(kind).observe(took)
        return report

    @staticmethod
    def _failed(state: AgentState) -> None:
        state.breaker.failed()
        state.failed += 1
        MESH_TASKS.labels(str(state.worker.kind), "failed").inc()

    async def _degraded(self, kind: AgentKind, email: Email, revision: str, reason: str) -> Verdict:
        """No agent answered: the kind's check on the beginning of the texts, in this process."""
        reduced = Email.of(
            {
                "subject": email.subject,
                "preheader": email.preheader,
                "sender": email.sender,
                "body": email.body[:DEGRADED_CHARACTERS],
            },
            email.known_fields,
        )
        try:
            with anyio.fail_after(self.policy.timeout):
                report = await anyio.to_thread.run_sync(
                    self.checks[kind], reduced, abandon_on_cancel=True, limiter=self._degraded_turn
                )
        except Exception as exc:  # the last resort failed too: say so
            log.warning("mesh_unavailable", kind=str(kind), reason=reason, error=repr(exc))
            MESH_TASKS.labels(str(kind), "unavailable").inc()
            return Verdict(kind=kind, status=VerdictStatus.UNAVAILABLE, revision=revision, error=reason)
        MESH_TASKS.labels(str(kind), "degraded").inc()
        return Verdict(
            kind=kind,
            status=VerdictStatus.DEGRADED,
            revision=revision,
            findings=report.findings,
            metrics=report.metrics,
            error=reason,
        )
