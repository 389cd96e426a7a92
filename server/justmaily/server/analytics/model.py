"""The forecast of one send's rates, with intervals recalibrated from every finished send.

Pure: plain numbers in, plain numbers out; the database and the HTTP layer sit around it, and the
benchmark (`bench/analytics.py`) runs the same code on synthetic histories. docs/analytics.md
writes the model down; in short, per metric (opens, clicks, unsubscribes):

    y_i    = logit((k_i + 0.5) / (n_i + 1))    send i: k_i of n_i recipients did it
    y_i    = mean_a(i) + u_i + e_i            u_i ~ N(0, var_c): the campaign's random effect,
                                              e_i ~ N(0, v_i): binomial noise,
                                              v_i = 1/(k_i + .5) + 1/(n_i - k_i + .5)
    mean_a ~ N(mean_w, var_s)                 each audience (list or segment) around its workspace
    mean_w ~ N(logit(industry rate), var_w)   the workspace around the public anchor (priors.py)

This is the Beta-Binomial hierarchy (per audience, shrunk to the workspace, shrunk to the
industry) in its logistic-normal form: the campaign effect plays the Beta's over-dispersion,
and three levels of shrinkage keep closed forms. The variances are estimated from the
workspace's own sends by moments (DerSimonian-Laird, within audiences for var_c, between them for
var_s) and shrunk toward the anchor's values by a few pseudo-degrees of freedom, which keeps the
intervals finite and roughly right from the first sends. Older sends weigh less in the means
(half-life in sends), so a drifting audience is followed.

The campaign effect is what a plain binomial interval leaves out: campaign-to-campaign variation
dwarfs sampling noise at a few thousand recipients, so such intervals cover far below their
nominal level (about 31 % for opens at a nominal 90 % in a simulation of segment heterogeneity
and drift; see the `naive` column of the benchmark).

Recalibration (prequential, conformal): before a send's outcome is learnt, the model's forecast
for it is kept; once it is learnt, its standardised residual |z| is a score. The interval's
half-width in sd is the `level` quantile of the scores, mixed with the model's own claim (|z| is
|N(0,1)|) weighted as `prior_weight` pseudo-sends. With no scores the interval is the model's;
with many it is split-conformal's. A model whose intervals were too narrow for this workspace
widens them after a few misses, and narrows them when it was too cautious.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from justmaily.server.analytics.priors import ANCHORS, Anchor
from justmaily.shared.analytics import Basis, Metric

_NORMAL = NormalDist()
# Pseudo-degrees of freedom of the anchor's variances: how many sends' worth of evidence they weigh.
PRIOR_DOF = 4.0
HALF_LIFE = 12.0  # sends: a send this many sends ago weighs half as much in an audience's mean
PRIOR_WEIGHT = 5.0  # pseudo-sends of the model's own |z| in the recalibration
# Scores weigh less as they age: early forecasts (wide, from the anchors) would otherwise narrow
# the later, sharper ones (weighted conformal for non-exchangeable data, Barber et al. 2023).
SCORE_HALF_LIFE = 6.0
_SCORES_KEPT = 60  # older ones weigh under 0.1 %
LEVEL = 0.9


@dataclass(frozen=True)
class Outcome:
    """A finished send: its audience, recipients, and how many recipients did each thing."""

    audience: str
    recipients: int
    counts: Mapping[Metric, int]


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float


@dataclass(frozen=True)
class Prediction:
    """The model's forecast on the logit scale of the adjusted rate (k + 0.5) / (n + 1)."""

    centre: float
    sd: float
    recipients: int
    basis: Basis

    def score(self, events: int) -> float:
        """The standardised residual of the outcome, |z|: the recalibration's score."""
        return abs(adjusted_logit(events, self.recipients) - self.centre) / self.sd

    def interval(self, half_width: float, level: float) -> Interval:
        """The rates k/n of the send that the logit interval centre ± half_width·sd holds."""
        n = self.recipients
        # Outward to whole recipients: a send's rate is k/n, and a continuous interval between two
        # of those would miss the one at its edge (small counts: unsubscribes of small sends).
        low = math.floor(_rate(self.centre - half_width * self.sd, n) * n + 1e-9) / n
        high = math.ceil(_rate(self.centre + half_width * self.sd, n) * n - 1e-9) / n
        # The mean of a logistic-normal (probit approximation), mapped like the ends.
        mean = _rate(self.centre / math.sqrt(1.0 + math.pi * self.sd * self.sd / 8.0), n)
        return Interval(estimate=min(max(mean, low), high), low=low, high=high, level=level)


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def expit(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def adjusted_logit(events: int, recipients: int) -> float:
    return math.log((events + 0.5) / (recipients - events + 0.5))


def _sampling_variance(events: float, recipients: float) -> float:
    return 1.0 / (events + 0.5) + 1.0 / (recipients - events + 0.5)


def _rate(x: float, n: int) -> float:
    # Inverse of the adjustment: the adjusted rate expit(x) = (k + 0.5) / (n + 1) solved for k / n.
    return min(1.0, max(0.0, (expit(x) * (n + 1) - 0.5) / n))


@dataclass
class _Audience:
    ys: list[float] = field(default_factory=list)
    vs: list[float] = field(default_factory=list)
    ages: list[int] = field(default_factory=list)  # the send's index in the workspace's history
    recipients: int = 0


def _between_variance(means: Sequence[float], variances: Sequence[float]) -> tuple[float, float]:
    """DerSimonian-Laird: the variance of true values behind noisy means, and its dof."""
    if len(means) < 2:
        return 0.0, 0.0
    weights = [1.0 / v for v in variances]
    s1 = sum(weights)
    centre = sum(w * y for w, y in zip(weights, means, strict=True)) / s1
    q = sum(w * (y - centre) ** 2 for w, y in zip(weights, means, strict=True))
    denominator = s1 - sum(w * w for w in weights) / s1
    dof = len(means) - 1
    return max(0.0, (q - dof) / denominator) if denominator > 0 else 0.0, float(dof)


def _shrunk(prior: float, estimate: float, dof: float) -> float:
    return (PRIOR_DOF * prior + dof * estimate) / (PRIOR_DOF + dof)


class Forecaster:
    """One workspace's history of finished sends, in order, and its forecasts for the next."""

    def __init__(
        self,
        anchors: Mapping[Metric, Anchor] = ANCHORS,
        *,
        level: float = LEVEL,
        half_life: float = HALF_LIFE,
        prior_weight: float = PRIOR_WEIGHT,
        score_half_life: float = SCORE_HALF_LIFE,
    ) -> None:
        self.anchors = anchors
        self.level = level
        self.half_life = half_life
        self.prior_weight = prior_weight
        self.score_half_life = score_half_life
        self.sends = 0
        self.recipients = 0
        self._audiences: dict[Metric, dict[str, _Audience]] = {m: {} for m in anchors}
        self._scores: dict[Metric, list[float]] = {m: [] for m in anchors}  # oldest first
        self._scored: dict[Metric, int] = dict.fromkeys(anchors, 0)

    def observe(self, outcome: Outcome, *, score: bool = True) -> None:
        """Learn a finished send: score the forecast it had, then add it to the history.

        `score=False` skips the scoring (the costly part: a forecast over the whole history) for
        sends whose score would weigh nothing by the time the next forecast is made."""
        if outcome.recipients <= 0:
            return
        for metric, audiences in self._audiences.items():
            events = min(max(outcome.counts.get(metric, 0), 0), outcome.recipients)
            if score:
                prediction = self.predict(metric, outcome.audience, outcome.recipients)
                scores = self._scores[metric]
                scores.append(prediction.score(events))
                del scores[:-_SCORES_KEPT]
                self._scored[metric] += 1
            audience = audiences.setdefault(outcome.audience, _Audience())
            audience.ys.append(adjusted_logit(events, outcome.recipients))
            audience.vs.append(_sampling_variance(events, outcome.recipients))
            audience.ages.append(self.sends)
            audience.recipients += outcome.recipients
        self.sends += 1
        self.recipients += outcome.recipients

    def observe_all(self, outcomes: Iterable[Outcome]) -> None:
        """Learn sends in order; only the last `_SCORES_KEPT` are scored, the ones that count."""
        ordered = [outcome for outcome in outcomes if outcome.recipients > 0]
        for index, outcome in enumerate(ordered):
            self.observe(outcome, score=index >= len(ordered) - _SCORES_KEPT)

    def audience_history(self, audience: str) -> tuple[int, int]:
        """How many finished sends went to this audience, and their recipients."""
        first = next(iter(self._audiences.values()), {})
        found = first.get(audience)
        return (len(found.ys), found.recipients) if found else (0, 0)

    def calibration_sends(self, metric: Metric) -> int:
        return self._scored[metric]

    def forecast(self, metric: Metric, audience: str, recipients: int) -> Interval:
        """The recalibrated interval for a send of `recipients` to `audience`."""
        prediction = self.predict(metric, audience, max(recipients, 1))
        return prediction.interval(self.half_width(metric), self.level)

    def model_interval(self, metric: Metric, audience: str, recipients: int) -> Interval:
        """The model's interval before recalibration (for the benchmark's comparison)."""
        prediction = self.predict(metric, audience, max(recipients, 1))
        return prediction.interval(_NORMAL.inv_cdf(0.5 + self.level / 2.0), self.level)

    def half_width(self, metric: Metric) -> float:
        """The smallest q with (w·P(|Z| ≤ q) + Σ aᵢ·[sᵢ ≤ q]) / (w + Σ aᵢ) ≥ level, aᵢ the scores' decays."""
        scores = self._scores[metric]
        decays = [0.5 ** ((len(scores) - 1 - i) / self.score_half_life) for i in range(len(scores))]
        ordered = sorted(zip(scores, decays, strict=True))
        cumulative = list(itertools.accumulate(decay for _, decay in ordered))
        values = [score for score, _ in ordered]
        w, level = self.prior_weight, self.level
        total = w + (cumulative[-1] if cumulative else 0.0)

        def covered(q: float) -> float:
            below = bisect.bisect_right(values, q)
            return (w * (2.0 * _NORMAL.cdf(q) - 1.0) + (cumulative[below - 1] if below else 0.0)) / total

        low, high = 0.0, max(8.0, values[-1] if values else 0.0)
        if covered(high) < level:  # only when the prior weighs nothing and the level is 1
            return high
        for _ in range(50):
            middle = (low + high) / 2.0
            low, high = (low, middle) if covered(middle) >= level else (middle, high)
        return high

    def predict(self, metric: Metric, audience: str, recipients: int) -> Prediction:
        anchor = self.anchors[metric]
        audiences = self._audiences[metric]
        campaign_var = self._campaign_variance(anchor, audiences)
        summaries = {
            name: self._summary(found, campaign_var) for name, found in audiences.items() if found.ys
        }
        segment_var = (
            _shrunk(anchor.segment_spread**2, *_between_variance(*_unzip(summaries.values())))
            if summaries
            else anchor.segment_spread**2
        )
        # The workspace's level from the other audiences, so this audience's sends count once.
        others = [s for name, s in summaries.items() if name != audience]
        workspace_mean, workspace_var = _combine(
            logit(anchor.rate), anchor.workspace_spread**2, others, segment_var
        )
        own = summaries.get(audience)
        if own is not None:
            centre, centre_var = _combine(workspace_mean, workspace_var + segment_var, [own], 0.0)
            basis: Basis = "audience"
        else:
            centre, centre_var = workspace_mean, workspace_var + segment_var
            basis = "workspace" if others else "industry"
        p = expit(centre)
        noise = 1.0 / (recipients * p * (1.0 - p) + 0.5)
        sd = math.sqrt(centre_var + campaign_var + noise)
        return Prediction(centre=centre, sd=sd, recipients=recipients, basis=basis)

    def _campaign_variance(self, anchor: Anchor, audiences: Mapping[str, _Audience]) -> float:
        """var_c: the within-audience excess variance over binomial noise, pooled over audiences."""
        q = dof = denominator = 0.0
        for found in audiences.values():
            if len(found.ys) < 2:
                continue
            weights = [1.0 / v for v in found.vs]
            s1 = sum(weights)
            centre = sum(w * y for w, y in zip(weights, found.ys, strict=True)) / s1
            q += sum(w * (y - centre) ** 2 for w, y in zip(weights, found.ys, strict=True))
            dof += len(found.ys) - 1
            denominator += s1 - sum(w * w for w in weights) / s1
        estimate = max(0.0, (q - dof) / denominator) if denominator > 0 else 0.0
        return _shrunk(anchor.campaign_spread**2, estimate, dof)

    def _summary(self, found: _Audience, campaign_var: float) -> tuple[float, float]:
        """The audience's mean logit rate, recent sends weighing more, and that mean's variance."""
        decays = [0.5 ** ((self.sends - 1 - age) / self.half_life) for age in found.ages]
        weights = [d / (campaign_var + v) for d, v in zip(decays, found.vs, strict=True)]
        total = sum(weights)
        mean = sum(w * y for w, y in zip(weights, found.ys, strict=True)) / total
        variance = sum(d * d / (campaign_var + v) for d, v in zip(decays, found.vs, strict=True)) / total**2
        return mean, variance


def _unzip(pairs: Iterable[tuple[float, float]]) -> tuple[list[float], list[float]]:
    means: list[float] = []
    variances: list[float] = []
    for mean, variance in pairs:
        means.append(mean)
        variances.append(variance)
    return means, variances


def _combine(
    prior_mean: float, prior_var: float, summaries: Sequence[tuple[float, float]], spread: float
) -> tuple[float, float]:
    """Normal prior x each summary (its variance widened by `spread`): the posterior mean and variance."""
    precision = 1.0 / prior_var
    weighted = prior_mean * precision
    for mean, variance in summaries:
        precision += 1.0 / (variance + spread)
        weighted += mean / (variance + spread)
    return weighted / precision, 1.0 / precision
