"""The A/B sample's draw and the winner's pick, as plain functions."""

from __future__ import annotations

import uuid
from collections import Counter

from justmaily.server.delivery.sends.ab_testing import Sampler, VariantCounts, pick_winner, sample_size
from justmaily.shared.delivery import AbMetric


def draw(sampler: Sampler, contacts: list[uuid.UUID]) -> list[int | None]:
    return [sampler.take(contact) for contact in contacts]


def test_the_sample_has_exactly_its_size_split_evenly() -> None:
    contacts = sorted(uuid.uuid4() for _ in range(1000))
    for size, variants in ((200, 3), (7, 2), (1000, 4), (3, 3)):
        drawn = draw(Sampler(uuid.uuid4(), 1000, size, variants), contacts)
        counts = Counter(v for v in drawn if v is not None)
        assert sum(counts.values()) == size
        assert max(counts.values()) - min(counts.values()) <= 1
        assert len(counts) == variants


def test_a_draw_resumed_half_way_draws_the_same_sample() -> None:
    send_id, contacts = uuid.uuid4(), sorted(uuid.uuid4() for _ in range(500))
    whole = draw(Sampler(send_id, 500, 100, 2), contacts)
    first = draw(Sampler(send_id, 500, 100, 2), contacts[:217])
    taken = sum(v is not None for v in first)
    rest = draw(Sampler(send_id, 500, 100, 2, seen=217, taken=taken), contacts[217:])
    assert first + rest == whole


def test_every_contact_has_the_same_chance() -> None:
    contacts = sorted(uuid.uuid4() for _ in range(50))
    chosen = Counter[int]()
    for _ in range(2000):
        drawn = draw(Sampler(uuid.uuid4(), 50, 10, 2), contacts)
        chosen.update(index for index, v in enumerate(drawn) if v is not None)
    # Each of the 50 is in 20% of 2,000 draws: 400, with a standard deviation of about 18.
    assert all(320 < chosen[index] < 480 for index in range(50)), chosen
    assert chosen[0] + chosen[1] + chosen[2] < chosen[47] + chosen[48] + chosen[49] + 150  # no bias by order


def test_a_grown_audience_still_fills_the_sample_and_no_more() -> None:
    contacts = sorted(uuid.uuid4() for _ in range(300))
    drawn = draw(Sampler(uuid.uuid4(), 100, 30, 3), contacts)  # counted 100, then 300 queued
    assert sum(v is not None for v in drawn) == 30


def test_sample_size_keeps_one_per_subject_and_never_exceeds_the_audience() -> None:
    assert sample_size(1000, 20, 2) == 200
    assert sample_size(5, 20, 3) == 3
    assert sample_size(2, 50, 3) == 2
    assert sample_size(0, 20, 2) == 0


def test_the_best_rate_wins_and_a_tie_goes_to_the_earlier_subject() -> None:
    counts = {0: VariantCounts(10, 10, 2, 1), 1: VariantCounts(10, 8, 4, 0), 2: VariantCounts(10, 10, 5, 2)}
    assert pick_winner(counts, AbMetric.OPENS, 3) == 1  # 4 of 8 beats 5 of 10
    assert pick_winner(counts, AbMetric.CLICKS, 3) == 2
    assert pick_winner({}, AbMetric.OPENS, 3) == 0
    assert pick_winner({1: VariantCounts(5, 5, 1, 0), 2: VariantCounts(5, 5, 1, 0)}, AbMetric.OPENS, 3) == 1
