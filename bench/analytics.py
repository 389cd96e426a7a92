"""Forecast calibration on synthetic workspace histories: coverage, width, Brier score, log loss.

`python3 bootstrap.py bench analytics` replays WORKSPACES synthetic workspaces of SENDS sends each.
Before each send, the forecaster (`server/…/analytics/model.py`, the code the server runs) and the
naive baseline forecast its opens, clicks and unsubscribes; then the send's outcome is revealed
and both learn it. The table gives, per campaign index (the workspace's 1st, 2nd, … send), the
share of sends whose realised rate fell inside the 90 % interval, the intervals' mean width,
and the Brier score and log loss of the point estimate per recipient.

The generative model (every number below is a parameter of `generate`):

- A workspace's base logit rate per metric is logit(industry rate) + N(0, 0.35²); the industry
  rates are the anchors the forecaster starts from (priors.py: Mailchimp 2019).
- It has 2-5 audiences (lists or segments), each with a fixed size, log-uniform in
  500-20,000 recipients, and a logit offset N(0, 0.4²) for opens, N(0, 0.5²) for clicks and
  N(0, 0.3²) for unsubscribes (segment heterogeneity).
- Drift: the workspace's logit level walks, N(0, 0.03²) per send (opens and clicks together).
- Each send goes to one audience picked uniformly. Its subject line moves opens by N(0, 0.10²)
  and clicks by half as much; its content moves clicks by N(0, 0.15²); a residual campaign
  effect adds N(0, 0.08²) to every metric, and N(0, 0.2²) more to unsubscribes.
- Each recipient opens with the send's human open rate, clicks and unsubscribes independently.
- Machine opens: a share of the audience, uniform in 30-60 % per workspace, reads through a
  privacy proxy (Apple MPP) that fetches every message; 95 % of those fetches are flagged as
  machine opens and left out, 5 % slip through and count as opens: noise the model must absorb.
  Opens counted = human opens plus unflagged machine opens.
- Coverage is checked on the counted (realised) rate of the send, the thing a user can verify.

The naive baseline is what a dashboard does without a model: the workspace's pooled rate of all
past sends (Σ events / Σ recipients; the industry rate before any) with a Wilson 90 % interval
for the new send's size around it.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from statistics import NormalDist

from bench.report import save
from justmaily.server.analytics.model import Forecaster, Interval, Outcome, logit
from justmaily.server.analytics.priors import ANCHORS
from justmaily.shared.analytics import Metric

WORKSPACES = int(os.environ.get("BENCH_ANALYTICS_WORKSPACES", "400"))
SENDS = int(os.environ.get("BENCH_ANALYTICS_SENDS", "30"))
SEED = int(os.environ.get("BENCH_ANALYTICS_SEED", "17"))
LEVEL = 0.9
_Z = NormalDist().inv_cdf(0.5 + LEVEL / 2)
_SEGMENT_SPREAD = {Metric.OPENS: 0.4, Metric.CLICKS: 0.5, Metric.UNSUBSCRIBES: 0.3}


@dataclass(frozen=True)
class Send:
    audience: str
    recipients: int
    counts: dict[Metric, int]
    true_rates: dict[Metric, float]


def _binomial(rng: random.Random, n: int, p: float) -> int:
    # Normal approximation above a few hundred expected events; exact Bernoulli sum below it.
    if n * p * (1 - p) > 50:
        return min(n, max(0, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))
    return sum(rng.random() < p for _ in range(n))


def _expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def generate(rng: random.Random, sends: int) -> list[Send]:
    """One workspace's history under the generative model in the module's docstring."""
    base = {m: logit(ANCHORS[m].rate) + rng.gauss(0, 0.35) for m in Metric}
    audiences = [
        (
            f"segment:{i}",
            round(math.exp(rng.uniform(math.log(500), math.log(20_000)))),
            {m: rng.gauss(0, _SEGMENT_SPREAD[m]) for m in Metric},
        )
        for i in range(rng.randint(2, 5))
    ]
    proxy_share = rng.uniform(0.3, 0.6)
    drift = 0.0
    history = []
    for _ in range(sends):
        drift += rng.gauss(0, 0.03)
        name, size, offsets = rng.choice(audiences)
        subject = rng.gauss(0, 0.10)
        residual = rng.gauss(0, 0.08)
        logits = {
            Metric.OPENS: base[Metric.OPENS] + offsets[Metric.OPENS] + drift + subject + residual,
            Metric.CLICKS: base[Metric.CLICKS]
            + offsets[Metric.CLICKS]
            + drift
            + subject / 2
            + rng.gauss(0, 0.15)
            + residual,
            Metric.UNSUBSCRIBES: base[Metric.UNSUBSCRIBES]
            + offsets[Metric.UNSUBSCRIBES]
            + residual
            + rng.gauss(0, 0.2),
        }
        rates = {m: _expit(x) for m, x in logits.items()}
        human_opens = _binomial(rng, size, rates[Metric.OPENS])
        proxied = _binomial(rng, size, proxy_share)
        # Proxied recipients who did not open themselves but whose fetch was not flagged.
        slipped = _binomial(rng, round(proxied * (1 - rates[Metric.OPENS])), 0.05)
        counts = {
            Metric.OPENS: min(size, human_opens + slipped),
            Metric.CLICKS: _binomial(rng, size, rates[Metric.CLICKS]),
            Metric.UNSUBSCRIBES: _binomial(rng, size, rates[Metric.UNSUBSCRIBES]),
        }
        history.append(Send(name, size, counts, rates))
    return history


def wilson(events: int, trials: int, new: int) -> Interval:
    """The naive interval: the pooled rate, Wilson for the new send's size."""
    p = events / trials if trials else 0.0
    n = new
    centre = (p + _Z * _Z / (2 * n)) / (1 + _Z * _Z / n)
    half = _Z * math.sqrt(p * (1 - p) / n + _Z * _Z / (4 * n * n)) / (1 + _Z * _Z / n)
    return Interval(estimate=p, low=max(0.0, centre - half), high=min(1.0, centre + half), level=LEVEL)


@dataclass
class Tally:
    sends: int = 0
    covered: int = 0
    covered_true: int = 0
    width: float = 0.0
    brier: float = 0.0
    log_loss: float = 0.0

    def add(self, interval: Interval, send: Send, metric: Metric) -> None:
        rate = send.counts[metric] / send.recipients
        self.sends += 1
        self.covered += interval.low <= rate <= interval.high
        self.covered_true += interval.low <= send.true_rates[metric] <= interval.high
        self.width += interval.high - interval.low
        p = min(max(interval.estimate, 1e-6), 1 - 1e-6)
        self.brier += rate * (1 - p) ** 2 + (1 - rate) * p * p
        self.log_loss -= rate * math.log(p) + (1 - rate) * math.log(1 - p)

    def row(self) -> dict[str, float]:
        n = max(self.sends, 1)
        return {
            "coverage": round(self.covered / n, 3),
            "coverage_of_true_rate": round(self.covered_true / n, 3),
            "width_pp": round(100 * self.width / n, 2),
            "brier": round(self.brier / n, 5),
            "log_loss": round(self.log_loss / n, 4),
        }


def _indices(sends: int) -> Iterator[tuple[str, range]]:
    for start, stop in ((0, 1), (1, 2), (2, 3), (3, 5), (5, 10), (10, 20), (20, sends)):
        if start < sends:
            yield (
                (f"{start + 1}" if stop == start + 1 else f"{start + 1}-{min(stop, sends)}"),
                range(start, min(stop, sends)),
            )
    yield f"3-{sends}", range(2, sends)


def run(workspaces: int = WORKSPACES, sends: int = SENDS, seed: int = SEED) -> dict[str, object]:
    rng = random.Random(seed)
    methods = ("model", "recalibrated", "naive")
    tallies = {(method, m, i): Tally() for method in methods for m in Metric for i in range(sends)}
    widths_5000: list[float] = []
    for _ in range(workspaces):
        forecaster = Forecaster()
        pooled = {m: [0, 0] for m in Metric}
        for index, send in enumerate(generate(rng, sends)):
            for metric in Metric:
                events, trials = pooled[metric]
                naive = (
                    wilson(events, trials, send.recipients)
                    if trials
                    else wilson(round(ANCHORS[metric].rate * 1_000_000), 1_000_000, send.recipients)
                )
                tallies["naive", metric, index].add(naive, send, metric)
                tallies["model", metric, index].add(
                    forecaster.model_interval(metric, send.audience, send.recipients), send, metric
                )
                tallies["recalibrated", metric, index].add(
                    forecaster.forecast(metric, send.audience, send.recipients), send, metric
                )
                pooled[metric][0] += send.counts[metric]
                pooled[metric][1] += send.recipients
            if index >= 2:
                at_5000 = forecaster.forecast(Metric.OPENS, send.audience, 5000)
                widths_5000.append(at_5000.high - at_5000.low)
            forecaster.observe(Outcome(send.audience, send.recipients, send.counts))
    table: dict[str, object] = {}
    for metric in Metric:
        for label, indices in _indices(sends):
            for method in methods:
                merged = Tally()
                for i in indices:
                    t = tallies[method, metric, i]
                    merged.sends += t.sends
                    merged.covered += t.covered
                    merged.covered_true += t.covered_true
                    merged.width += t.width
                    merged.brier += t.brier
                    merged.log_loss += t.log_loss
                table[f"{metric}/{label}/{method}"] = merged.row()
    widths_5000.sort()
    return {
        "workspaces": workspaces,
        "sends": sends,
        "seed": seed,
        "level": LEVEL,
        "table": table,
        "open_width_at_5000_pp": {
            "mean": round(100 * sum(widths_5000) / len(widths_5000), 2),
            "p90": round(100 * widths_5000[int(0.9 * len(widths_5000))], 2),
            "max": round(100 * widths_5000[-1], 2),
        },
    }


def latency(sizes: tuple[int, ...] = (30, 100, 200), repeats: int = 20) -> dict[str, dict[str, float]]:
    """Model time of one forecast request: replay a workspace's finished sends, forecast 3 metrics
    (what the server does per request after its two queries; HTTP and SQL not included)."""
    rng = random.Random(SEED)
    found: dict[str, dict[str, float]] = {}
    for size in sizes:
        outcomes = [Outcome(s.audience, s.recipients, s.counts) for s in generate(rng, size)]
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            forecaster = Forecaster()
            forecaster.observe_all(outcomes)
            for metric in Metric:
                forecaster.forecast(metric, outcomes[-1].audience, 5000)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        found[f"{size} sends"] = {"p50_ms": round(times[len(times) // 2], 1), "max_ms": round(times[-1], 1)}
    return found


def main() -> int:
    results = run()
    results["forecast_model_latency"] = latency()
    print(
        f"forecast calibration: {results['workspaces']} workspaces x {results['sends']} sends,"
        f" nominal {LEVEL}"
    )
    header = (
        f"{'metric':<13}{'sends':<8}{'method':<14}{'cover':>7}{'cover(true)':>12}"
        f"{'width pp':>10}{'brier':>10}{'logloss':>9}"
    )
    print(header)
    table = results["table"]
    assert isinstance(table, dict)
    for key, row in table.items():
        metric, label, method = key.split("/")
        print(
            f"{metric:<13}{label:<8}{method:<14}{row['coverage']:>7.3f}{row['coverage_of_true_rate']:>12.3f}"
            f"{row['width_pp']:>10.2f}{row['brier']:>10.5f}{row['log_loss']:>9.4f}"
        )
    print(
        "open-rate interval width at 5,000 recipients (from the 3rd send):",
        results["open_width_at_5000_pp"],
    )
    print("forecast model time per request (replay + 3 forecasts):", results["forecast_model_latency"])
    save("analytics", results)
    return 0
