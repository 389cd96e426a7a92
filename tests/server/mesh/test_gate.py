"""The send gate's judgement of verdicts (mesh/gate.py): what blocks, and what a check that
could not run does; the routes and the send itself are in tests/server/delivery/test_content_gate.py."""

from __future__ import annotations

import uuid

from justmaily.server.mesh.gate import findings_against, on_record
from justmaily.server.mesh.registry import card_etag, encoded_card
from justmaily.shared.mesh import AgentKind, Finding, GateMode, SendGate, Severity, Verdict, VerdictStatus


def verdicts(**by_kind: Verdict) -> dict[AgentKind, Verdict]:
    every = {kind: Verdict(kind=kind, status=VerdictStatus.OK, revision="r") for kind in AgentKind}
    return every | {AgentKind(kind.replace("_", "-")): verdict for kind, verdict in by_kind.items()}


def spam(score: float, status: VerdictStatus = VerdictStatus.OK) -> Verdict:
    found = [Finding(rule="DEAR_FRIEND", severity=Severity.WARNING, message="Dear Friend", score=2.683)]
    return Verdict(kind=AgentKind.SPAM, status=status, revision="r", findings=found, metrics={"score": score})


def test_a_score_at_the_threshold_blocks_and_below_it_does_not() -> None:
    gate = SendGate(mode=GateMode.BLOCK, spam_threshold=5.0)
    assert findings_against(verdicts(spam=spam(4.999)), gate) == []
    assert findings_against(verdicts(spam=spam(5.0)), gate) == [
        "spam score 5 is at or above the threshold 5 (DEAR_FRIEND)"
    ]
    assert findings_against(verdicts(spam=spam(9.0)), SendGate(spam_threshold=10.0)) == []


def test_a_degraded_verdict_counts_and_an_unavailable_one_is_not_passed() -> None:
    gate = SendGate(mode=GateMode.BLOCK)
    assert findings_against(verdicts(spam=spam(6.0, VerdictStatus.DEGRADED)), gate)[0].startswith(
        "spam score 6"
    )
    down = Verdict(kind=AgentKind.LINKS, status=VerdictStatus.UNAVAILABLE, revision="r", error="no agent")
    assert findings_against(verdicts(links=down), gate) == ["the links check could not run (no agent)"]


def test_only_malformed_links_count_as_broken() -> None:
    found = [
        Finding(rule="NO_UNSUBSCRIBE_LINK", severity=Severity.ERROR, message="sending adds it"),
        Finding(rule="LINK_INSECURE", severity=Severity.WARNING, message="http"),
        Finding(rule="LINK_MALFORMED", severity=Severity.ERROR, message="a link does not parse"),
    ]
    links = Verdict(kind=AgentKind.LINKS, status=VerdictStatus.OK, revision="r", findings=found)
    assert findings_against(verdicts(links=links), SendGate()) == ["broken link: a link does not parse"]


def test_the_record_names_the_agent_by_its_cards_digest_and_keeps_no_content() -> None:
    agent = uuid.uuid4()
    verdict = Verdict(
        kind=AgentKind.SPAM,
        status=VerdictStatus.OK,
        revision="r",
        agent=str(agent),
        findings=[Finding(rule="DEAR_FRIEND", severity=Severity.WARNING, message="m", where="Dear Friend,")],
        metrics={"score": 2.683},
    )
    assert on_record(verdict) == {
        "kind": "spam",
        "status": "ok",
        "agent": str(agent),
        "card_sha256": card_etag(encoded_card(AgentKind.SPAM, agent)),
        "score": 2.683,
        "findings": [{"rule": "DEAR_FRIEND", "severity": "warning"}],
    }
