"""The A/B sample's draw and the winner's pick, as plain functions."""

from __future__ import annotations

import math
import random
import uuid
from collections import Counter

import pytest

from justmaily.server.delivery.sends.ab_posterior import probability_best
from justmaily.server.delivery.sends.ab_testing import (
    Sampler,
    VariantCounts,
    Verdict,
    chances,
    pick_winner,
    sample_size,
)
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


def test_probability_of_being_best_matches_a_monte_carlo_draw() -> None:
    outcomes = [(12, 100), (18, 100), (15, 90), (0, 0)]
    exact = probability_best(outcomes)
    draws, rng = 100_000, random.Random(7)
    wins = Counter(
        max(range(4), key=lambda i: rng.betavariate(1 + outcomes[i][0], 1 + outcomes[i][1] - outcomes[i][0]))
        for _ in range(draws)
    )
    for index, chance in enumerate(exact):
        assert chance == pytest.approx(wins[index] / draws, abs=0.006)
    assert sum(exact) == pytest.approx(1.0)
    # Two subjects: P(A > B) for Beta(6, 1) and Beta(1, 6) is 1 - 6 B(6, 7), exactly.
    assert probability_best([(5, 5), (0, 5)])[0] == pytest.approx(
        1 - 6 * math.factorial(5) * math.factorial(6) / math.factorial(12), abs=1e-4
    )
    # Identical evidence: an even split; large sends: the posteriors are narrow, still exact.
    assert probability_best([(3, 10), (3, 10), (3, 10)]) == pytest.approx([1 / 3] * 3, abs=1e-6)
    assert probability_best([(21_000, 100_000), (20_000, 100_000)])[0] > 0.9999


def test_the_raw_maximum_does_not_win_without_enough_evidence() -> None:
    # 4 of 8 is the higher rate, but barely better evidence than 5 of 10: the original stays.
    counts = {0: VariantCounts(10, 10, 5, 1), 1: VariantCounts(10, 8, 4, 0)}
    assert pick_winner(counts, AbMetric.OPENS, 2, 0.95) == Verdict(0, conclusive=False)
    # A clearly better subject wins; a lower confidence lets a weaker lead win.
    clear = {0: VariantCounts(200, 200, 40, 4), 1: VariantCounts(200, 200, 70, 9)}
    assert chances(clear, AbMetric.OPENS, 2)[1] > 0.99
    assert pick_winner(clear, AbMetric.OPENS, 2, 0.95) == Verdict(1, conclusive=True)
    assert pick_winner(clear, AbMetric.CLICKS, 2, 0.95) == Verdict(0, conclusive=False)  # 9 vs 4 of 200
    assert pick_winner(clear, AbMetric.CLICKS, 2, 0.85) == Verdict(1, conclusive=True)
    # Nothing sent yet, or the same counts: no subject is likelier than the others.
    assert pick_winner({}, AbMetric.OPENS, 3, 0.95) == Verdict(0, conclusive=False)
    same = {index: VariantCounts(50, 50, 10, 0) for index in range(3)}
    assert pick_winner(same, AbMetric.OPENS, 3, 0.5) == Verdict(0, conclusive=False)
    # A subject nobody has seen yet is not ruled out: its rate could still be anything.
    assert chances({1: VariantCounts(50, 50, 10, 0)}, AbMetric.OPENS, 2)[0] > 0.7
