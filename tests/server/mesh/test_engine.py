"""The engine with real agents and misbehaving ones: routing, breakers, fallback, degraded."""

from __future__ import annotations

import uuid

import anyio
import pytest

from justmaily.server.mesh.agents.email import Email
from justmaily.server.mesh.breaker import Breaker, BreakerPolicy
from justmaily.server.mesh.engine import Engine, EnginePolicy, InProcessAgent
from justmaily.shared.mesh import AgentKind, AgentReport, AgentStatus, BreakerState, VerdictStatus

EMAIL = Email.of(
    {
        "subject": "BUY NOW",
        "preheader": "",
        "sender": "",
        "body": "Dear Friend, a money back guarantee. [here](http://example.com/)",
    }
)
POLICY = EnginePolicy(
    timeout=0.5,
    attempts=2,
    backoff_min=0.01,
    backoff_max=0.02,
    breaker=BreakerPolicy(minimum=2, open_seconds=60),
)


class HangingAgent:
    """An agent that takes the task and never answers."""

    def __init__(self, kind: AgentKind) -> None:
        self.id, self.kind, self.tasks = uuid.uuid4(), kind, 0

    async def run(self, email: Email) -> object:
        self.tasks += 1
        await anyio.sleep_forever()
        raise AssertionError("unreachable")


class GarbageAgent:
    """An agent that answers, but nothing shaped like a report."""

    def __init__(self, kind: AgentKind) -> None:
        self.id, self.kind, self.tasks = uuid.uuid4(), kind, 0

    async def run(self, email: Email) -> object:
        self.tasks += 1
        return {"findings": "lol", "metrics": [1, 2]}


class CrashingAgent(GarbageAgent):
    async def run(self, email: Email) -> object:
        self.tasks += 1
        raise RuntimeError("segfault-ish")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def state(breaker: Breaker) -> BreakerState:
    """Read afresh each time (mypy would hold the property to its first answer)."""
    return breaker.state


def test_breaker_opens_on_the_windows_failure_rate_and_probes_once() -> None:
    clock = Clock()
    breaker = Breaker(BreakerPolicy(window=4, minimum=4, failure_rate=0.5, open_seconds=10), clock)
    for outcome in (True, True, False):
        breaker.started()
        (breaker.succeeded if outcome else breaker.failed)()
    assert state(breaker) is BreakerState.CLOSED  # 1 of 3: below the minimum of outcomes
    breaker.failed()
    assert state(breaker) is BreakerState.OPEN  # 2 of 4 failed
    assert not breaker.allows()
    clock.now = 10.0
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.allows()
    breaker.started()
    assert not breaker.allows()  # one probe at a time
    breaker.failed()
    assert state(breaker) is BreakerState.OPEN  # the probe failed: open again
    clock.now = 20.0
    breaker.started()
    breaker.succeeded()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.failures == 0  # a fresh window


def test_the_window_slides() -> None:
    breaker = Breaker(BreakerPolicy(window=4, minimum=4, failure_rate=0.75))
    for outcome in (False, False, True, True, True, False, False):
        (breaker.succeeded if outcome else breaker.failed)()
    assert breaker.state is BreakerState.CLOSED  # the window holds T T F F: half, not three in four


async def test_a_task_goes_to_the_least_loaded_healthy_agent() -> None:
    engine = Engine(POLICY)
    busy, idle = engine.add(InProcessAgent(AgentKind.SPAM)), engine.add(InProcessAgent(AgentKind.SPAM))
    busy.load = 3
    engine.add(InProcessAgent(AgentKind.TONE))
    verdict = await engine.analyse(AgentKind.SPAM, EMAIL, "rev-1")
    assert verdict.status is VerdictStatus.OK
    assert verdict.agent == str(idle.worker.id)
    assert verdict.revision == "rev-1"
    assert "DEAR_FRIEND" in [f.rule for f in verdict.findings]
    assert (idle.completed, busy.completed) == (1, 0)
    assert idle.latency_ms is not None


@pytest.mark.parametrize("bad", [HangingAgent, GarbageAgent, CrashingAgent])
async def test_a_failing_agent_opens_its_breaker_and_another_answers(bad: type[GarbageAgent]) -> None:
    engine = Engine(POLICY)
    faulty = bad(AgentKind.SPAM)
    broken = engine.add(faulty)
    good = engine.add(InProcessAgent(AgentKind.SPAM))
    good.load = 1  # the faulty one looks better: it is asked first
    with anyio.fail_after(10):
        verdict = await engine.analyse(AgentKind.SPAM, EMAIL, "rev-1")
    assert verdict.status is VerdictStatus.OK
    assert verdict.agent == str(good.worker.id)
    assert faulty.tasks == 2  # tried, retried with backoff, then the breaker opened
    assert broken.breaker.state is BreakerState.OPEN
    assert broken.status is AgentStatus.DOWN
    assert broken.failed == 2
    assert broken.load == 0
    # While it is open, tasks skip it altogether.
    verdict = await engine.analyse(AgentKind.SPAM, EMAIL, "rev-2")
    assert verdict.agent == str(good.worker.id)
    assert faulty.tasks == 2


async def test_with_no_agent_left_a_degraded_check_answers() -> None:
    engine = Engine(POLICY)
    engine.add(GarbageAgent(AgentKind.LINKS))
    verdict = await engine.analyse(AgentKind.LINKS, EMAIL, "rev-1")
    assert verdict.status is VerdictStatus.DEGRADED
    assert verdict.agent is None
    assert verdict.error is not None
    assert "garbage" in verdict.error
    assert "LINK_INSECURE" in [f.rule for f in verdict.findings]
    no_agents = await Engine(POLICY).analyse(AgentKind.TONE, EMAIL, "rev-1")
    assert no_agents.status is VerdictStatus.DEGRADED
    assert no_agents.error == "no agent of this kind is up"


async def test_when_even_the_degraded_check_fails_the_verdict_is_unavailable() -> None:
    def broken(email: Email) -> AgentReport:
        raise MemoryError("no room")

    verdict = await Engine(POLICY, checks={AgentKind.TONE: broken}).analyse(AgentKind.TONE, EMAIL, "rev-1")
    assert verdict.status is VerdictStatus.UNAVAILABLE
    assert verdict.findings == []
    assert verdict.error == "no agent of this kind is up"


async def test_a_huge_document_is_checked_by_its_beginning_and_says_so() -> None:
    huge = Email.of(
        {"subject": "Hi", "preheader": "", "sender": "", "body": "Dear Friend, read on. " * 20_000}
    )
    engine = Engine(POLICY)
    engine.add(InProcessAgent(AgentKind.SPAM))
    with anyio.fail_after(20):
        verdict = await engine.analyse(AgentKind.SPAM, huge, "rev-1")
    assert verdict.status is VerdictStatus.OK
    assert [f.rule for f in verdict.findings][:2] == ["TRUNCATED", "DEAR_FRIEND"]
    assert "only its beginning" in verdict.findings[0].message
    small = await engine.analyse(AgentKind.SPAM, EMAIL, "rev-2")
    assert "TRUNCATED" not in [f.rule for f in small.findings]


async def test_an_agent_in_a_worker_process_answers_as_in_a_thread() -> None:
    by_process_engine = Engine(EnginePolicy(timeout=60))  # the first task starts the worker process
    by_process_engine.add(InProcessAgent(AgentKind.SPAM, anyio.CapacityLimiter(1)))
    by_thread_engine = Engine(EnginePolicy(timeout=60))
    by_thread_engine.add(InProcessAgent(AgentKind.SPAM))
    with anyio.fail_after(60):
        by_process = await by_process_engine.analyse(AgentKind.SPAM, EMAIL, "rev-1")
        by_thread = await by_thread_engine.analyse(AgentKind.SPAM, EMAIL, "rev-1")
    assert by_process.status is VerdictStatus.OK
    assert by_process.agent == str(next(iter(by_process_engine.agents)))
    assert by_process.findings == by_thread.findings
    assert by_process.metrics == by_thread.metrics


async def test_the_engine_counts_its_tasks_and_agents_for_metrics() -> None:
    from justmaily.server.mesh.engine import show_agents
    from justmaily.server.metrics import exposition
    from tests.server.ops.test_metrics_and_slo_routes import sample_value

    def value(name: str, **labels: str) -> float:
        return sample_value(exposition.render().decode(), name, **labels)

    engine = Engine(POLICY)
    engine.add(GarbageAgent(AgentKind.LINKS))
    engine.add(InProcessAgent(AgentKind.LINKS))
    before = {o: value("justmaily_mesh_tasks_total", kind="links", outcome=o) for o in ("ok", "failed")}
    for _ in range(3):
        await engine.analyse(AgentKind.LINKS, EMAIL, "r1")
    assert value("justmaily_mesh_tasks_total", kind="links", outcome="ok") - before["ok"] == 3
    assert value("justmaily_mesh_tasks_total", kind="links", outcome="failed") - before["failed"] >= 2
    assert value("justmaily_mesh_task_seconds_count", kind="links") >= 3
    assert value("justmaily_mesh_tasks_in_flight", kind="links") == 0
    show_agents(engine)
    assert value("justmaily_mesh_agents", kind="links", status="healthy") == 1
    assert value("justmaily_mesh_agents", kind="links", status="down") == 1  # the garbage one's breaker
