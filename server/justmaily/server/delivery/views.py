"""`to_wire`: the delivery domain's rows as the API answers them (shared/delivery.py)."""

from __future__ import annotations

from typing import overload

from justmaily.server.delivery.models import Relay, Send, SendingDomain
from justmaily.shared import delivery as wire


@overload
def to_wire(row: SendingDomain, *, records: list[wire.DnsRecord]) -> wire.SendingDomain: ...
@overload
def to_wire(row: Relay) -> wire.Relay: ...
@overload
def to_wire(row: Send, *, counts: wire.SendCounts, ab_test: wire.AbTest | None) -> wire.Send: ...
def to_wire(
    row: SendingDomain | Relay | Send,
    *,
    records: list[wire.DnsRecord] | None = None,
    counts: wire.SendCounts | None = None,
    ab_test: wire.AbTest | None = None,
) -> wire.SendingDomain | wire.Relay | wire.Send:
    """`records`: the DNS records the domain asks for; `counts`, `ab_test`: the send's progress."""
    if isinstance(row, SendingDomain):
        return wire.SendingDomain(
            id=row.id, domain=row.domain, dns_records=records or [], created_at=row.created_at
        )
    if isinstance(row, Relay):
        return wire.Relay(
            id=row.id,
            name=row.name,
            url=row.url,
            username=row.username,
            priority=row.priority,
            max_per_second=row.max_per_second,
        )
    assert counts is not None
    return wire.Send(
        id=row.id,
        campaign_id=row.campaign_id,
        status=row.status,
        list_id=row.list_id,
        segment_id=row.segment_id,
        send_at=row.send_at,
        recipients=row.recipients,
        counts=counts,
        content_hash=row.content_hash,
        alert=row.alert,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        ab_test=ab_test,
    )
