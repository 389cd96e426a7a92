"""The mesh before and during a send: the workspace's send gate checks the approved content (warn
by default, or block on a spam score or broken links) and puts the verdicts on the transparency
log beside the approval; a send whose complaints pass 0.3 % pauses (docs/mesh.md)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar
from sqlalchemy import select

from justmaily.server.services import services_of
from justmaily.server.settings import Settings
from justmaily.server.trust.models import LogEntry
from justmaily.shared.roles import Role
from justmaily.shared.trust import EntryKind
from tests.plugins.api import Team
from tests.plugins.smtp import SmtpSink
from tests.server.delivery.conftest import FAST_DELIVERY
from tests.server.delivery.steps import (
    add_contacts,
    approved_campaign,
    campaign_messages,
    set_up_sending,
    start_send,
    wait_for_send,
)
from tests.support.polling import eventually

SPAMMY_SUBJECT = "BUY NOW: AS SEEN ON TV"
SPAMMY_BODY = (
    "Dear Friend,\n\nThis offer comes with a money back guarantee and it is 100% GUARANTEED. "
    "Act Now! To be removed, please reply.\n"
)
BROKEN_LINK_BODY = "Our [spring shop](https://shop.acme.example:99999/) is open."
CREDENTIALS = "postmark:s3cret-Xk2"


async def content_checks(app: Litestar) -> list[dict[str, Any]]:
    async with services_of(app).database.session(read_only=True) as session:
        leaves = await session.scalars(
            select(LogEntry.leaf).where(LogEntry.kind == EntryKind.CONTENT_CHECK).order_by(LogEntry.index)
        )
        return [msgspec.json.decode(leaf) for leaf in leaves]


async def set_gate(client: httpx.AsyncClient, team: Team, **gate: Any) -> None:
    saved = await client.put("/api/mesh/gate", json=gate, headers=team[Role.ADMIN].headers)
    assert saved.status_code == 200, saved.text


async def test_the_gate_is_warn_by_default_and_only_who_manages_delivery_sets_it(
    client: httpx.AsyncClient, team: Team
) -> None:
    shown = await client.get("/api/mesh/gate", headers=team[Role.EDITOR].headers)
    assert shown.json() == {"mode": "warn", "spam_threshold": 5.0}
    refused = await client.put("/api/mesh/gate", json={"mode": "block"}, headers=team[Role.EDITOR].headers)
    assert refused.status_code == 403
    for bad in ({"mode": "stop"}, {"mode": "block", "spam_threshold": 0}, {"mode": "block", "extra": 1}):
        answer = await client.put("/api/mesh/gate", json=bad, headers=team[Role.ADMIN].headers)
        assert answer.status_code in (400, 422), answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
    await set_gate(client, team, mode="block", spam_threshold=7.5)
    shown = await client.get("/api/mesh/gate", headers=team[Role.VIEWER].headers)
    assert shown.json() == {"mode": "block", "spam_threshold": 7.5}


async def test_a_blocking_gate_refuses_spam_naming_the_findings_and_logs_the_verdicts(
    app: Litestar, client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "ada@example.com"}])
    campaign_id = await approved_campaign(client, team, subject=SPAMMY_SUBJECT, body=SPAMMY_BODY)
    await set_gate(client, team, mode="block")
    refused = await client.post(
        f"/api/campaigns/{campaign_id}/sends", json={"list_id": list_id}, headers=team[Role.ADMIN].headers
    )
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["code"] == "content_blocked"
    assert "spam score 14.596 is at or above the threshold 5" in problem["detail"]
    assert "DEAR_FRIEND" in problem["errors"][0]["message"]
    sends = await client.get(f"/api/campaigns/{campaign_id}/sends", headers=team[Role.VIEWER].headers)
    assert sends.json() == []
    campaign = await client.get(f"/api/campaigns/{campaign_id}", headers=team[Role.VIEWER].headers)
    assert campaign.json()["status"] == "approved"  # nothing moved

    (entry,) = await content_checks(app)
    assert (entry["gate"], entry["blocked"], entry["campaign_id"]) == ("block", True, campaign_id)
    assert f"entry {entry_index(problem)}" in problem["detail"]
    by_kind = {verdict["kind"]: verdict for verdict in entry["verdicts"]}
    assert set(by_kind) == {
        "spam",
        "readability",
        "tone",
        "language",
        "links",
        "accessibility",
        "merge-fields",
    }
    spam = by_kind["spam"]
    assert (spam["status"], spam["score"]) == ("ok", 14.596)
    assert {"rule": "DEAR_FRIEND", "severity": "warning"} in spam["findings"]
    agents = (await client.get("/api/mesh/agents", headers=team[Role.ADMIN].headers)).json()
    detail = await client.get(f"/api/mesh/agents/{spam['agent']}", headers=team[Role.ADMIN].headers)
    assert detail.headers["etag"] == f'"{spam["card_sha256"]}"'  # the card that answered, by digest
    assert spam["agent"] in {agent["id"] for agent in agents}
    # The approval it stands beside: the entry the campaign's certificate names.
    certificates = await client.get("/api/transparency/certificates", headers=team[Role.ADMIN].headers)
    assert entry["approval"] in {
        c["log_index"] for c in certificates.json() if c["campaign_id"] == campaign_id
    }
    assert smtp_sink.received == []

    # Warn mode: the same content goes, and its check is on record with the send.
    await set_gate(client, team, mode="warn")
    send = await start_send(client, team, campaign_id, list_id=list_id)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])
    assert [r.recipient for r in campaign_messages(smtp_sink)] == ["ada@example.com"]
    _, passed = await content_checks(app)
    assert (passed["gate"], passed["blocked"], passed["approval"]) == ("warn", False, entry["approval"])


def entry_index(problem: dict[str, Any]) -> int:
    return int(str(problem["detail"]).rsplit("entry ", 1)[1].rstrip(")"))


async def test_a_blocking_gate_refuses_a_broken_link_but_passes_clean_content(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    list_id = await add_contacts(client, team, [{"email": "ada@example.com"}])
    await set_gate(client, team, mode="block")
    broken = await approved_campaign(client, team, subject="Spring news", body=BROKEN_LINK_BODY)
    refused = await client.post(
        f"/api/campaigns/{broken}/sends", json={"list_id": list_id}, headers=team[Role.ADMIN].headers
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "content_blocked")
    assert refused.json()["errors"] == [
        {"field": "content", "message": "broken link: a link does not parse (Port out of range 0-65535)"}
    ]
    clean = await approved_campaign(
        client, team, subject="Spring news", body="Our spring shop opens on Monday with new colours."
    )
    send = await start_send(client, team, clean, list_id=list_id)
    await wait_for_send(client, team[Role.VIEWER].headers, send["id"])


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Sending slowly (10 a second to one domain), so complaints arrive while it goes on; the
    complaint rate is judged from 10 delivered messages."""
    fast = {**FAST_DELIVERY, "send_rate_per_domain": 10.0}
    return Settings.of(
        database_url=database_url, data_dir=str(tmp_path / "data"), complaint_min_delivered=10, **fast
    )


def complaint(message_id: str, address: str) -> bytes:
    record = {
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "TypeCode": 512,
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The subscriber explicitly marked this message as spam.",
        "Details": "Test spam complaint details",
        "Email": address,
        "BouncedAt": "2026-12-07T16:33:54.9070259Z",
        "Metadata": {"justmaily_message_id": message_id},
    }
    return json.dumps(record).encode()


async def test_complaints_past_the_bulk_sender_limit_pause_the_send_with_an_alert(
    client: httpx.AsyncClient, team: Team, smtp_sink: SmtpSink
) -> None:
    await set_up_sending(client, team, smtp_sink.url)
    people = [{"email": f"reader{n:02}@example.com"} for n in range(40)]
    list_id = await add_contacts(client, team, people)
    campaign_id = await approved_campaign(
        client, team, subject="Spring news", body="Our shop opens on Monday."
    )
    saved = await client.put(
        "/api/delivery/webhooks", json={"postmark_credentials": CREDENTIALS}, headers=team[Role.OWNER].headers
    )
    assert saved.status_code == 200, saved.text
    hook = f"/hooks/{team.workspace_id}/postmark"
    auth = {"Authorization": "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()}
    viewer = team[Role.VIEWER].headers
    send = await start_send(client, team, campaign_id, list_id=list_id)

    async def complain(nth: int) -> None:
        received = campaign_messages(smtp_sink)[nth]
        posted = await client.post(
            hook, content=complaint(received.message["Message-ID"], received.recipient), headers=auth
        )
        assert posted.json() == {"recorded": 1}, posted.text

    # One complaint among the first few: too few delivered to judge, the send goes on.
    await eventually(lambda: len(campaign_messages(smtp_sink)) >= 3)
    await complain(0)
    assert (await client.get(f"/api/sends/{send['id']}", headers=viewer)).json()["status"] == "sending"
    # Past ten delivered, two complaints are far past 0.3 %: paused, and the alert says why.
    await eventually(lambda: len(campaign_messages(smtp_sink)) >= 12)
    await complain(1)
    paused = await wait_for_send(client, viewer, send["id"], ("paused",), within=5)
    assert "2 complaints in" in paused["alert"], paused["alert"]
    assert "0.3% limit" in paused["alert"]
    assert paused["counts"]["complained"] == 2
    assert paused["counts"]["queued"] > 0  # the rest waits for a person: resume or cancel
    stopped = len(campaign_messages(smtp_sink))
    resumed = await client.post(f"/api/sends/{send['id']}/resume", headers=team[Role.ADMIN].headers)
    assert resumed.json()["status"] == "sending"
    await wait_for_send(client, viewer, send["id"])
    assert len(campaign_messages(smtp_sink)) == 40 > stopped
