"""Public anchors a workspace's forecasts start from before it has any history of its own.

Source: Mailchimp, "Email Marketing Benchmarks and Statistics by Industry" (average over all
industries, campaigns of at least 1,000 recipients; published October 2019):
https://mailchimp.com/resources/email-marketing-benchmarks/ — open rate 21.33 %, click rate
2.62 %, unsubscribe rate 0.26 %. The figures predate Apple Mail Privacy Protection
(September 2021), so their opens are close to what we count as opens: human ones, machine
(proxy) opens excluded.

The spreads are on the logit scale and say how far a workspace, a segment and a campaign may lie
from the level above. They are wide on purpose (docs/analytics.md): an anchor is only where a
workspace's first forecast starts, its own sends move it from the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

from justmaily.shared.analytics import Metric


@dataclass(frozen=True)
class Anchor:
    rate: float  # the public average rate
    workspace_spread: float  # sd of a workspace's logit rate around logit(rate)
    segment_spread: float  # sd of a segment's logit rate around its workspace's
    campaign_spread: float  # sd of one campaign's logit rate around its segment's (the random effect)
    source: str


MAILCHIMP_2019 = "Mailchimp Email Marketing Benchmarks (all industries, 2019)"

ANCHORS: dict[Metric, Anchor] = {
    # Industries' averages span 15-28 % opens and 1.2-5 % clicks in the same table: a workspace
    # sd of 0.5 on the logit scale covers that range at about two sd.
    Metric.OPENS: Anchor(0.2133, 0.5, 0.4, 0.2, MAILCHIMP_2019),
    Metric.CLICKS: Anchor(0.0262, 0.6, 0.5, 0.3, MAILCHIMP_2019),
    Metric.UNSUBSCRIBES: Anchor(0.0026, 0.6, 0.5, 0.35, MAILCHIMP_2019),
}
