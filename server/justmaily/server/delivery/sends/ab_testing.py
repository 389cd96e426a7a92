"""A/B tests of subject lines: who is in the sample, which subject each gets, and the winner.

The sample is drawn while a send's recipients are queued, by selection sampling (Knuth's
Algorithm S) over the audience in contact-id order: exactly `sample_size` contacts, each with
the same chance, and the chance decided by a hash of send and contact, so a restart half-way
through queueing draws the same sample. The sample is split evenly between the subjects (round
robin); the rest of the audience waits as `held` until the winner is picked, then gets the
winner's subject. Sample rows keep `ab_sample`, so the results always compare the sample only.

The winner is the subject whose posterior probability of being the best (`ab_posterior.py`)
reaches the test's confidence; when none does, the evidence does not separate them and the
original subject is kept, as a tie always went to the earlier subject.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.delivery.models import Send
from justmaily.server.delivery.outbox import queue
from justmaily.server.delivery.sends.ab_posterior import probability_best
from justmaily.shared import delivery as wire
from justmaily.shared.delivery import AbMetric

DECIDED_BY_PERSON = "a person"


class AbState(msgspec.Struct, kw_only=True):
    """What a send stores of its test (`Send.ab_test`, as JSON)."""

    metric: AbMetric
    sample_percent: int
    window_seconds: int
    subjects: list[str]  # approved: the subject, then its variants
    audience: int | None = None  # counted when queueing began
    sample_size: int | None = None
    decide_at: datetime | None = None  # queueing finished + the window
    decided_at: datetime | None = None
    winner: int | None = None
    decided_by: str = ""
    confidence: float = 0.95  # tests from before the setting had the default
    conclusive: bool | None = None  # decided by the metric: did a subject reach `confidence`

    @classmethod
    def of(cls, send: Send) -> AbState | None:
        return None if send.ab_test is None else msgspec.convert(send.ab_test, cls, strict=False)

    def store(self, send: Send) -> None:
        send.ab_test = msgspec.to_builtins(self)

    def due(self, now: datetime) -> bool:
        return self.winner is None and self.decide_at is not None and self.decide_at <= now


def sample_size(audience: int, percent: int, variants: int) -> int:
    """`percent` of the audience, but at least one contact per subject (and at most everyone)."""
    return min(audience, max(variants, round(audience * percent / 100)))


def _uniform(send_id: uuid.UUID, contact_id: uuid.UUID) -> float:
    """A number in [0, 1) fixed for this contact in this send."""
    digest = hashlib.sha256(send_id.bytes + contact_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass
class Sampler:
    """Decides, contact by contact in audience order, who is in the sample and with which subject.

    `seen` and `taken` resume a draw that stopped half-way (the rows queued so far, and those of
    them in the sample)."""

    send_id: uuid.UUID
    audience: int
    size: int
    variants: int
    seen: int = 0
    taken: int = 0

    def take(self, contact_id: uuid.UUID) -> int | None:
        """The subject index for this contact if it is in the sample, else None (held)."""
        remaining = max(self.audience - self.seen, 1)  # the audience may have grown meanwhile
        self.seen += 1
        if self.taken < self.size and _uniform(self.send_id, contact_id) * remaining < self.size - self.taken:
            variant = self.taken % self.variants
            self.taken += 1
            return variant
        return None


@dataclass(frozen=True)
class VariantCounts:
    recipients: int = 0
    sent: int = 0
    opened: int = 0  # opened by a person or clicked: a click proves an open, a proxy's does not
    clicked: int = 0

    def hits(self, metric: AbMetric) -> int:
        return self.opened if metric is AbMetric.OPENS else self.clicked

    def rate(self, metric: AbMetric) -> float:
        return self.hits(metric) / self.sent if self.sent else 0.0


async def variant_counts(session: AsyncSession, send_id: uuid.UUID) -> dict[int, VariantCounts]:
    """How each subject of the sample did so far."""
    engaged = await queue.engaged_by_variant(session, send_id)
    return {
        variant: VariantCounts(total, sent, *engaged.get(variant, (0, 0)))
        for variant, total, sent in await queue.sample_by_variant(session, send_id)
    }


def chances(counts: dict[int, VariantCounts], metric: AbMetric, variants: int) -> list[float]:
    """Each subject's posterior probability of having the best rate (per message sent)."""
    found = [counts.get(index, VariantCounts()) for index in range(variants)]
    return probability_best([(c.hits(metric), c.sent) for c in found])


@dataclass(frozen=True)
class Verdict:
    winner: int
    conclusive: bool  # False: no subject reached the confidence, the original is kept


def pick_winner(
    counts: dict[int, VariantCounts], metric: AbMetric, variants: int, confidence: float
) -> Verdict:
    """The subject at least `confidence` likely to be the best wins; if none is, the original
    (the first) is kept: the evidence does not tell them apart, which a tie always meant."""
    probabilities = chances(counts, metric, variants)
    best = max(range(variants), key=lambda index: (probabilities[index], -index))
    if probabilities[best] >= confidence:
        return Verdict(best, conclusive=True)
    return Verdict(0, conclusive=False)


async def decide(
    session: AsyncSession, send_id: uuid.UUID, now: datetime, *, choice: int | None = None
) -> AbState | None:
    """Pick the winner (by the metric, or `choice`) and release the held rest of the audience
    with its subject. Idempotent: a test already decided stays as it was."""
    send = await session.get(Send, send_id, with_for_update=True)
    state = None if send is None else AbState.of(send)
    if send is None or state is None or state.winner is not None:
        return state
    if choice is None:
        counts = await variant_counts(session, send_id)
        verdict = pick_winner(counts, state.metric, len(state.subjects), state.confidence)
        state.winner, state.conclusive, state.decided_by = verdict.winner, verdict.conclusive, state.metric
    else:
        state.winner, state.decided_by = choice, DECIDED_BY_PERSON
    state.decided_at = now
    state.store(send)
    await queue.release_held(session, send_id, state.winner, now)
    return state


def started(state: AbState, now: datetime) -> None:
    """Queueing is done: the window runs from now."""
    state.decide_at = now + timedelta(seconds=state.window_seconds)


async def progress(session: AsyncSession, send: Send) -> wire.AbTest | None:
    """The test's subjects, what each has done so far, and its decision (None: not an A/B test)."""
    state = AbState.of(send)
    if state is None:
        return None
    counts = await variant_counts(session, send.id)
    probabilities = chances(counts, state.metric, len(state.subjects))
    variants = []
    for index, subject in enumerate(state.subjects):
        found = counts.get(index, VariantCounts())
        variants.append(
            wire.AbVariant(
                subject=subject,
                recipients=found.recipients,
                sent=found.sent,
                opened=found.opened,
                clicked=found.clicked,
                rate=round(found.rate(state.metric), 4),
                probability_best=round(probabilities[index], 4),
            )
        )
    return wire.AbTest(
        metric=state.metric,
        sample_percent=state.sample_percent,
        window_seconds=state.window_seconds,
        variants=variants,
        sample_size=state.sample_size,
        decide_at=state.decide_at,
        decided_at=state.decided_at,
        winner=state.winner,
        decided_by=state.decided_by,
        confidence=state.confidence,
        conclusive=state.conclusive,
    )


def new_state(settings: wire.AbTestCreate, subjects: list[str], confidence: float) -> dict[str, Any]:
    """`confidence`: the server's setting when the send is created, kept with the test."""
    state = AbState(
        metric=settings.metric,
        sample_percent=settings.sample_percent,
        window_seconds=settings.window_seconds,
        subjects=subjects,
        confidence=confidence,
    )
    return msgspec.to_builtins(state)  # type: ignore[no-any-return]
