"""The wire contract: encodings, evolution rules and the campaign state machine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest

from justmaily.shared.campaigns import (
    TRANSITIONS,
    Campaign,
    CampaignAction,
    CampaignCreate,
    CampaignStatus,
    CampaignUpdate,
)
from justmaily.shared.problems import Problem
from justmaily.shared.roles import ROLE_PERMISSIONS, Permission, Role


def test_problem_encodes_only_what_is_set() -> None:
    encoded = msgspec.json.decode(
        msgspec.json.encode(Problem(title="Not Found", status=404, code="not_found"))
    )
    assert encoded == {"title": "Not Found", "status": 404, "code": "not_found"}


def test_an_older_client_reads_a_newer_servers_campaign() -> None:
    now = datetime.now(UTC).isoformat()
    newer = {
        "id": str(uuid.uuid4()),
        "name": "n",
        "subject": "",
        "preheader": "",
        "sender": "",
        "status": "draft",
        "owner_id": str(uuid.uuid4()),
        "revision": 1,
        "created_at": now,
        "updated_at": now,
        "field_from_the_future": {"x": 1},
    }
    campaign = msgspec.json.decode(msgspec.json.encode(newer), type=Campaign)
    assert campaign.status is CampaignStatus.DRAFT


def test_requests_refuse_unknown_fields_and_updates_distinguish_unset() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown field `colour`"):
        msgspec.json.decode(b'{"name": "x", "colour": 1}', type=CampaignCreate)
    update = msgspec.json.decode(b'{"subject": ""}', type=CampaignUpdate)
    assert update.subject == ""
    assert update.name is msgspec.UNSET


def test_every_status_but_sent_is_reachable_from_draft() -> None:
    reachable, frontier = {CampaignStatus.DRAFT}, [CampaignStatus.DRAFT]
    while frontier:
        status = frontier.pop()
        for rule in TRANSITIONS.values():
            if status in rule.sources and rule.target not in reachable:
                reachable.add(rule.target)
                frontier.append(rule.target)
    assert set(CampaignStatus) - reachable == {CampaignStatus.SENT}, "sent is the delivery system's to set"


def test_only_review_approves_and_every_role_can_read() -> None:
    into_approved = [
        a
        for a, rule in TRANSITIONS.items()
        if rule.target is CampaignStatus.APPROVED and CampaignStatus.IN_REVIEW in rule.sources
    ]
    assert into_approved == [CampaignAction.APPROVE]
    assert TRANSITIONS[CampaignAction.APPROVE].permission is Permission.CAMPAIGNS_REVIEW
    assert all(Permission.CAMPAIGNS_READ in ROLE_PERMISSIONS[role] for role in Role)
    assert Permission.CAMPAIGNS_REVIEW not in ROLE_PERMISSIONS[Role.EDITOR]
